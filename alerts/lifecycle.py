"""The life of an alert: raised, updated by its occurrences, acknowledged, escalated, resolved.

The small API everything else calls (the rules engine, device health, analytics detectors,
the HTTP API):

    raise_alert(conn, device=…, alert_type=…, severity=…, now=…, settings=…, source=…)
    clear_alert(conn, device_uid=…, alert_type=…, now=…, settings=…, source=…)
    acknowledge(conn, alert_id, by=…, now=…, settings=…)
    resolve(conn, alert_id, by=…, now=…, settings=…)
    escalate_due(conn, now=…, settings=…)

Each runs in a transaction of its own (a savepoint inside the caller's) and row-locks the alert
it changes, so the engine, the timers and the API may act on the same alert at once.

Rules:
- One active alert per (device, type): a new occurrence of an active alert adds one to its
  `occurrences` (only when the observation is newer than the last one seen: a redelivered
  message is not a new occurrence), moves `last_seen_at`, and adds its condition (an alert
  held by `smoke` and `heat` resolves when both have cleared). Its severity only goes up
  while it is active: a worse observation raises it (`severity_raised`, notified); a milder
  one leaves it (the peak is what operators must know about).
- Reopening: an occurrence within the tenant's reopen window (PHARE_ALERTS_REOPEN_WINDOW_S,
  15 min by default) after the alert resolved reopens the same alert, status `open` again
  (a new acknowledgement is needed), escalation back to level 0: a condition that flaps
  around a threshold is one incident, not a series. Later, it opens a new alert.
- Escalation: an alert still `open` (not acknowledged) after the tenant's delay is escalated
  one level: severity + 1 (at most critical), routes of that level notified; again after
  the same delay, up to the tenant's maximum level. Acknowledging stops it.
- Every change of status, severity or level is a row of `alert_transitions` (who, when, why),
  is notified to the routes it concerns (`notification_log`, sent by the dispatcher), issues
  a CAP message for fire and flood alerts, and is published on `NOTIFY phare_alerts` for the
  live stream — all in the transaction that made the change.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from alerts import cap, store
from alerts.errors import AlertNotFound, AlertsError, InvalidTransition
from alerts.model import Alert, Device, Severity, Status, TransitionKind, iso, public
from alerts.notify import routing
from alerts.texts import place_name, render
from phare.settings import Settings

ALERTS_CHANNEL = "phare_alerts"
_NOTIFY_TEXT_MAX = 500  # NOTIFY payloads are limited to 8,000 bytes


@dataclass(frozen=True, slots=True)
class Change:
    """What a call did: the alert as it now is, and the transition if there was one."""

    alert: Alert
    kind: TransitionKind | None = None   # None: an occurrence, or a condition added or cleared
    transition_id: int | None = None


def raise_alert(
    conn: psycopg.Connection, *, device: Device | int, alert_type: str,
    severity: Severity | str, now: datetime, settings: Settings, source: str,
    text_key: str | None = None, params: Mapping[str, Any] | None = None,
    observed_at: datetime | None = None, condition: str | None = None,
) -> Change:
    """Records an occurrence of `alert_type` on a device: opens, updates or reopens its alert.

    `text_key` and `params` make the message (alerts/texts.py; the device's name and place
    are added); `condition` (default: the type) is what `clear_alert` later clears.
    """
    dev = device if isinstance(device, Device) else store.load_device(conn, device)
    occurrence = _Occurrence(
        severity=Severity(severity), observed_at=observed_at or now,
        condition=condition or alert_type, text_key=text_key or alert_type,
        params={"device": dev.name, "place": place_name(dev.tenant_name), **(params or {})},
    )
    with conn.transaction():
        for _ in range(3):
            current = store.fetch_active(conn, dev.uid, alert_type)
            if current is not None:
                return _occur(conn, current, occurrence, now, settings, source, dev)
            policy = store.policy_for(conn, dev.tenant_id, settings)
            if policy.reopen_window.total_seconds() > 0:
                recent = store.fetch_recently_resolved(conn, dev.uid, alert_type,
                                                       now - policy.reopen_window)
                if recent is not None:
                    if occurrence.observed_at <= recent.last_seen_at:
                        return Change(recent)  # an old observation, redelivered
                    return _reopen(conn, recent, occurrence, now, settings, source, dev)
            row = conn.execute(
                "insert into alerts (tenant_id, device_uid, type, severity, source, conditions, "
                " message, text_key, params, opened_at, last_seen_at, updated_at) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "on conflict (device_uid, type) where status <> 'resolved' do nothing returning id",
                (dev.tenant_id, dev.uid, alert_type, occurrence.severity.value, source,
                 [occurrence.condition], occurrence.message(alert_type), occurrence.text_key,
                 Jsonb(occurrence.params), now, occurrence.observed_at, now),
            ).fetchone()
            if row is not None:
                alert = _fetch(conn, int(row[0]))
                return _transition(conn, None, alert, TransitionKind.OPENED, now, settings,
                                   actor=source, device=dev,
                                   detail={"observed_at": iso(occurrence.observed_at)})
            # Another process opened it meanwhile: go round and update it.
        raise AlertsError(f"could not open a {alert_type} alert for device {dev.id}")


def clear_alert(
    conn: psycopg.Connection, *, device_uid: int, alert_type: str, now: datetime,
    settings: Settings, source: str, observed_at: datetime | None = None,
    condition: str | None = None,
) -> Change | None:
    """The condition (default: the type) has cleared: the active alert resolves when no other
    condition holds it. None when the device has no active alert of that type, or when the
    observation is older than the alert's latest one (a late message must not clear it)."""
    with conn.transaction():
        current = store.fetch_active(conn, device_uid, alert_type)
        if current is None:
            return None
        if observed_at is not None and observed_at < current.last_seen_at:
            return None
        cleared = condition or alert_type
        remaining = [c for c in current.conditions if c != cleared]
        if remaining:
            if len(remaining) != len(current.conditions):
                conn.execute("update alerts set conditions = %s, updated_at = %s where id = %s",
                             (remaining, now, current.id))
            return Change(_fetch(conn, current.id))
        return _resolve(conn, current, now, settings, by=source, resolution="cleared",
                        comment=None, actor_key_id=None)


def acknowledge(conn: psycopg.Connection, alert_id: int, *, by: str, now: datetime,
                settings: Settings, comment: str | None = None,
                actor_key_id: int | None = None) -> Alert:
    """open -> acknowledged; an acknowledged alert is returned as it is.

    Raises AlertNotFound, or InvalidTransition for a resolved alert."""
    with conn.transaction():
        current = store.fetch_alert(conn, alert_id, lock=True)
        if current is None:
            raise AlertNotFound(f"no alert {alert_id}")
        if current.status is Status.RESOLVED:
            raise InvalidTransition(f"alert {alert_id} is resolved: it cannot be acknowledged")
        if current.status is Status.ACKNOWLEDGED:
            return current
        conn.execute(
            "update alerts set status = 'acknowledged', acknowledged_at = %s, "
            "acknowledged_by = %s, ack_comment = %s, updated_at = %s where id = %s",
            (now, by, comment, now, alert_id),
        )
        alert = _fetch(conn, alert_id)
        _transition(conn, current, alert, TransitionKind.ACKNOWLEDGED, now, settings, actor=by,
                    comment=comment, actor_key_id=actor_key_id)
        return alert


def resolve(conn: psycopg.Connection, alert_id: int, *, by: str, now: datetime,
            settings: Settings, comment: str | None = None,
            actor_key_id: int | None = None) -> Alert:
    """open | acknowledged -> resolved, by hand. Raises AlertNotFound, or InvalidTransition
    if it is already resolved."""
    with conn.transaction():
        current = store.fetch_alert(conn, alert_id, lock=True)
        if current is None:
            raise AlertNotFound(f"no alert {alert_id}")
        if current.status is Status.RESOLVED:
            raise InvalidTransition(f"alert {alert_id} is already resolved")
        return _resolve(conn, current, now, settings, by=by, resolution="manual",
                        comment=comment, actor_key_id=actor_key_id).alert


def escalate_due(conn: psycopg.Connection, *, now: datetime, settings: Settings,
                 tenant_ids: Collection[int] | None = None) -> int:
    """Escalates every alert (of `tenant_ids`, default all) left unacknowledged past its
    tenant's delay; returns how many.

    Safe to run in several processes at once (rows are locked and skipped when locked)."""
    escalated = 0
    policies: dict[int, store.Policy] = {}
    with conn.transaction():
        rows = conn.execute(
            "select id, tenant_id, escalation_level, "
            "coalesce(escalated_at, reopened_at, opened_at) from alerts "
            "where status = 'open' and (%s::int[] is null or tenant_id = any(%s::int[])) "
            "order by opened_at for update skip locked",
            (None if tenant_ids is None else list(tenant_ids),) * 2,
        ).fetchall()
        for alert_id, tenant_id, level, since in rows:
            policy = policies.get(tenant_id)
            if policy is None:
                policy = policies[tenant_id] = store.policy_for(conn, tenant_id, settings)
            if level >= policy.max_escalation or now - since < policy.escalate_after:
                continue
            current = _fetch(conn, alert_id)
            conn.execute(
                "update alerts set escalation_level = escalation_level + 1, severity = %s, "
                "escalated_at = %s, updated_at = %s where id = %s",
                (current.severity.raised().value, now, now, alert_id),
            )
            alert = _fetch(conn, alert_id)
            _transition(conn, current, alert, TransitionKind.ESCALATED, now, settings,
                        actor="escalation", detail={"level": alert.escalation_level,
                                                    "unacknowledged_s": int((now - since)
                                                                            .total_seconds())})
            escalated += 1
    return escalated


# --- internals ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Occurrence:
    severity: Severity
    observed_at: datetime
    condition: str
    text_key: str
    params: dict[str, Any]

    def message(self, alert_type: str) -> str:
        return render(self.text_key, self.params, "fr", alert_type=alert_type)


def _fetch(conn: psycopg.Connection, alert_id: int) -> Alert:
    alert = store.fetch_alert(conn, alert_id)
    assert alert is not None, f"alert {alert_id} vanished inside its transaction"
    return alert


def _occur(conn: psycopg.Connection, current: Alert, occ: _Occurrence, now: datetime,
           settings: Settings, source: str, device: Device) -> Change:
    newer = occ.observed_at > current.last_seen_at
    conditions = list(current.conditions)
    if occ.condition not in conditions:
        conditions.append(occ.condition)
    worse = occ.severity.rank > current.severity.rank
    # The message follows the latest observation unless it is milder than the alert's peak.
    follow = occ.severity.rank >= current.severity.rank and occ.observed_at >= current.last_seen_at
    conn.execute(
        "update alerts set conditions = %s, occurrences = occurrences + %s, "
        "last_seen_at = greatest(last_seen_at, %s), severity = %s, message = %s, text_key = %s, "
        "params = %s, updated_at = %s where id = %s",
        (conditions, 1 if newer else 0, occ.observed_at,
         (occ.severity if worse else current.severity).value,
         occ.message(current.type) if follow else current.message,
         occ.text_key if follow else current.text_key,
         Jsonb(occ.params if follow else current.params), now, current.id),
    )
    alert = _fetch(conn, current.id)
    if worse:
        return _transition(conn, current, alert, TransitionKind.SEVERITY_RAISED, now, settings,
                           actor=source, device=device)
    return Change(alert)


def _reopen(conn: psycopg.Connection, recent: Alert, occ: _Occurrence, now: datetime,
            settings: Settings, source: str, device: Device) -> Change:
    conn.execute(
        "update alerts set status = 'open', severity = %s, conditions = %s, "
        "occurrences = occurrences + 1, reopened_at = %s, last_seen_at = %s, message = %s, "
        "text_key = %s, params = %s, acknowledged_at = null, acknowledged_by = null, "
        "ack_comment = null, resolved_at = null, resolved_by = null, resolution = null, "
        "escalation_level = 0, escalated_at = null, updated_at = %s where id = %s",
        (occ.severity.value, [occ.condition], now, occ.observed_at, occ.message(recent.type),
         occ.text_key, Jsonb(occ.params), now, recent.id),
    )
    alert = _fetch(conn, recent.id)
    return _transition(conn, recent, alert, TransitionKind.REOPENED, now, settings, actor=source,
                       device=device, detail={"observed_at": iso(occ.observed_at)})


def _resolve(conn: psycopg.Connection, current: Alert, now: datetime, settings: Settings, *,
             by: str, resolution: str, comment: str | None, actor_key_id: int | None) -> Change:
    conn.execute(
        "update alerts set status = 'resolved', conditions = '{}', resolved_at = %s, "
        "resolved_by = %s, resolution = %s, updated_at = %s where id = %s",
        (now, by, resolution, now, current.id),
    )
    alert = _fetch(conn, current.id)
    return _transition(conn, current, alert, TransitionKind.RESOLVED, now, settings, actor=by,
                       comment=comment, actor_key_id=actor_key_id,
                       detail={"resolution": resolution})


def _transition(conn: psycopg.Connection, before: Alert | None, after: Alert,
                kind: TransitionKind, now: datetime, settings: Settings, *, actor: str,
                comment: str | None = None, actor_key_id: int | None = None,
                detail: dict[str, Any] | None = None, device: Device | None = None) -> Change:
    """Records a transition and its effects: notifications, CAP message, live stream."""
    row = conn.execute(
        "insert into alert_transitions (alert_id, tenant_id, at, kind, from_status, to_status, "
        "from_severity, to_severity, actor, actor_key_id, comment, detail) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
        (after.id, after.tenant_id, now, kind.value,
         before.status.value if before else None, after.status.value,
         before.severity.value if before else None, after.severity.value,
         actor[:200], actor_key_id, comment, Jsonb(detail or {})),
    ).fetchone()
    assert row is not None
    transition_id = int(row[0])
    if kind is not TransitionKind.ACKNOWLEDGED:
        routing.enqueue(conn, after, kind, now, settings)
    if after.type in cap.CAP_TYPES and kind in cap.CAP_EVENTS:
        cap.issue(conn, after, kind, now, settings,
                  device=device or store.load_device(conn, after.device_uid))
    payload = public(after)
    if payload["ack_comment"]:
        payload["ack_comment"] = payload["ack_comment"][:_NOTIFY_TEXT_MAX]
    conn.execute("select pg_notify(alert_channel(%s), %s)", (ALERTS_CHANNEL, orjson.dumps({
        "event": kind.value, "transition_id": transition_id, "tenant_id": after.tenant_id,
        "alert": payload}).decode()))
    return Change(after, kind, transition_id)
