"""Who is told about a transition: a tenant's routes by alert type, severity and escalation
level; one `notification_log` row per delivery, queued in the transition's transaction.

A route of a tenant covers the alerts of that tenant and of every tenant below it (an EPCI's
on-call engineer hears about its communes). Which routes a transition reaches:

    opened, reopened   routes of level 0
    severity_raised    routes of every level up to the alert's current level
    escalated          routes of the new level; if none matches, those of the highest lower
                       level that does (a reminder rather than silence)
    resolved           routes of every level up to the alert's level that asked for the
                       all-clear (notify_resolved)
    acknowledged       nobody (the person who acknowledged knows)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg

from alerts import texts
from alerts.model import Alert, TransitionKind, iso, public
from alerts.notify.mqtt import alerts_topic
from phare.settings import Settings

LOCAL_TZ = ZoneInfo("Europe/Paris")

# alert_routes() (migration 0006) walks up the tenant tree as the tables' owner, so that the
# API, bound by row-level security, reaches the routes of the tenants above its scope.
_ROUTES = "select * from alert_routes(%s, %s, %s)"


@dataclass(frozen=True, slots=True)
class Route:
    id: int
    channel: str
    target: str
    escalation_level: int
    lang: texts.Lang
    notify_resolved: bool


def routes_for(conn: psycopg.Connection, alert: Alert, kind: TransitionKind) -> list[Route]:
    """The routes a transition of `alert` reaches (see the module's docstring)."""
    rows = conn.execute(_ROUTES, (alert.tenant_id, alert.type, alert.severity.value)).fetchall()
    routes = [Route(*row) for row in rows]
    level = alert.escalation_level
    if kind in (TransitionKind.OPENED, TransitionKind.REOPENED):
        return [r for r in routes if r.escalation_level == 0]
    if kind is TransitionKind.SEVERITY_RAISED:
        return [r for r in routes if r.escalation_level <= level]
    if kind is TransitionKind.ESCALATED:
        lower = [r.escalation_level for r in routes if r.escalation_level <= level]
        if not lower:
            return []
        return [r for r in routes if r.escalation_level == max(lower)]
    if kind is TransitionKind.RESOLVED:
        return [r for r in routes if r.escalation_level <= level and r.notify_resolved]
    return []


def enqueue(conn: psycopg.Connection, alert: Alert, kind: TransitionKind, now: datetime,
            settings: Settings) -> int:
    """Queues the deliveries of a transition (the dispatcher sends them); returns how many."""
    rows = []
    for route in routes_for(conn, alert, kind):
        message = alert.message if route.lang == "fr" else texts.render(
            alert.text_key, alert.params, route.lang, alert_type=alert.type)
        subject = texts.subject(kind.value, message, route.lang, level=alert.escalation_level)
        target = route.target
        if route.channel == "email":
            body = email_body(alert, kind, subject, now, route.lang)
        else:
            body = orjson.dumps({"event": kind.value, "subject": subject, "at": iso(now),
                                 "alert": public(alert, message)}).decode()
            if route.channel == "mqtt" and not target:
                target = alerts_topic(alert.tenant)
        rows.append((alert.tenant_id, alert.id, route.id, kind.value, route.channel, target,
                     subject, body, now, now))
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "insert into notification_log (tenant_id, alert_id, route_id, event, channel, "
                "target, subject, body, created_at, next_attempt_at) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
    return len(rows)


_EMAIL_LABELS: dict[texts.Lang, dict[str, str]] = {
    "fr": {"type": "Type", "severity": "Gravité", "device": "Capteur", "status": "Statut",
           "opened": "Ouverte le", "seen": "Dernière observation", "occurrences": "Occurrences",
           "level": "Niveau de relance", "ref": "Référence", "alert": "alerte n°",
           "footer": "Message envoyé par Phare. Acquittez l'alerte pour arrêter les relances.",
           "open": "ouverte", "acknowledged": "acquittée", "resolved": "résolue"},
    "en": {"type": "Type", "severity": "Severity", "device": "Sensor", "status": "Status",
           "opened": "Opened", "seen": "Last seen", "occurrences": "Occurrences",
           "level": "Escalation level", "ref": "Reference", "alert": "alert #",
           "footer": "Sent by Phare. Acknowledge the alert to stop the reminders.",
           "open": "open", "acknowledged": "acknowledged", "resolved": "resolved"},
}


def _local(instant: datetime, lang: texts.Lang) -> str:
    local = instant.astimezone(LOCAL_TZ)
    return local.strftime("%d/%m/%Y à %H:%M (heure de Paris)" if lang == "fr"
                          else "%Y-%m-%d %H:%M (Paris time)")


def email_body(alert: Alert, kind: TransitionKind, subject: str, now: datetime,
               lang: texts.Lang) -> str:
    """The plain-text e-mail of a transition, in the route's language."""
    labels = _EMAIL_LABELS[lang]
    lines: list[tuple[str, Any]] = [
        (labels["type"], texts.type_label(alert.type, lang)),
        (labels["severity"], texts.severity_label(alert.severity.value, lang)),
        (labels["device"], f"{alert.params.get('device', alert.device_id)} ({alert.device_id}), "
                           f"{alert.params.get('place', alert.tenant)}"),
        (labels["status"], labels[alert.status.value]),
        (labels["opened"], _local(alert.opened_at, lang)),
        (labels["seen"], _local(alert.last_seen_at, lang)),
        (labels["occurrences"], alert.occurrences),
        (labels["level"], alert.escalation_level),
        (labels["ref"], f"{labels['alert']} {alert.id} ({alert.tenant})"),
    ]
    sep = " :" if lang == "fr" else ":"  # French puts a space before the colon
    table = "\n".join(f"{label}{sep} {value}" for label, value in lines)
    return f"{subject}\n\n{table}\n\n-- \n{labels['footer']}\n"
