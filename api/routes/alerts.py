"""Alerts: list, read one, its history and notifications; acknowledge, resolve."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from alerts import lifecycle
from alerts.errors import AlertNotFound, InvalidTransition
from alerts.model import Alert, public
from alerts.texts import render
from api.deps import Conn, Reader, TenantFilter, get_settings, require
from api.errors import invalid
from api.models import (
    AlertAction,
    AlertPublic,
    AlertSeverity,
    AlertsPublic,
    AlertStatus,
    AlertTransitionsPublic,
    NotificationsPublic,
)
from api.queries.alerts import get_alert, list_alerts, list_notifications, list_transitions
from phare.settings import Settings
from phare.tenancy import Permission, Principal, audit

router = APIRouter(prefix="/alerts", tags=["alerts"])

DEFAULT_PAGE = 100
MAX_PAGE = 1000
TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

AlertManager = Annotated[Principal, Depends(require(Permission.ACKNOWLEDGE_ALERTS))]
Lang = Annotated[Literal["fr", "en"], Query(description="language of `message`")]


def get_clock(request: Request) -> Callable[[], datetime]:
    """The app's clock (`app.state.clock`, tests set it), else the wall clock."""
    clock: Callable[[], datetime] | None = getattr(request.app.state, "clock", None)
    return clock or (lambda: datetime.now(UTC))


Clock = Annotated[Callable[[], datetime], Depends(get_clock)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]


def to_public(alert: Alert, lang: str = "fr") -> AlertPublic:
    message = None if lang == "fr" else render(alert.text_key, alert.params, "en",
                                               alert_type=alert.type)
    return AlertPublic(**public(alert, message))


def not_found(alert_id: int) -> HTTPException:
    # Same answer for "absent" and "out of scope": a key learns nothing about other tenants.
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")


@router.get("")
def read_alerts(
    conn: Conn,
    principal: Reader,
    tenant_id: TenantFilter,
    status_: Annotated[AlertStatus | None, Query(alias="status")] = None,
    type_: Annotated[str | None, Query(alias="type", description="e.g. flood, fire")] = None,
    severity: AlertSeverity | None = None,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    lang: Lang = "fr",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # PostgreSQL bigint
) -> AlertsPublic:
    """The alerts the key may see, newest first; `count` is the total that match."""
    if type_ is not None and not TYPE_RE.match(type_):
        raise invalid("query", "type", "must be an alert type such as flood, fire, water_leak",
                      type_)
    alerts, total = list_alerts(conn, scope=principal.scope, tenant_id=tenant_id, status=status_,
                                type=type_, severity=severity, device_id=device_id, limit=limit,
                                offset=offset)
    return AlertsPublic(data=[to_public(a, lang) for a in alerts], count=total)


@router.get("/{alert_id}")
def read_alert(conn: Conn, principal: Reader, alert_id: int, lang: Lang = "fr") -> AlertPublic:
    """One alert; 404 if it does not exist or is outside the key's scope."""
    alert = get_alert(conn, scope=principal.scope, alert_id=alert_id)
    if alert is None:
        raise not_found(alert_id)
    return to_public(alert, lang)


@router.get("/{alert_id}/transitions")
def read_transitions(conn: Conn, principal: Reader, alert_id: int) -> AlertTransitionsPublic:
    """The alert's audit trail: every change of status, severity or escalation, oldest first."""
    if get_alert(conn, scope=principal.scope, alert_id=alert_id) is None:
        raise not_found(alert_id)
    rows = list_transitions(conn, alert_id=alert_id)
    return AlertTransitionsPublic.model_validate({"data": rows, "count": len(rows)})


@router.get("/{alert_id}/notifications")
def read_notifications(conn: Conn, principal: Reader, alert_id: int) -> NotificationsPublic:
    """What was sent about the alert, to whom, when, and how it went."""
    if get_alert(conn, scope=principal.scope, alert_id=alert_id) is None:
        raise not_found(alert_id)
    rows = list_notifications(conn, alert_id=alert_id)
    return NotificationsPublic.model_validate({"data": rows, "count": len(rows)})


def _writable(conn: Conn, principal: Principal, alert_id: int) -> Alert:
    alert = get_alert(conn, scope=principal.scope, alert_id=alert_id)
    if alert is None:
        raise not_found(alert_id)
    if alert.tenant_id not in principal.own:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"this key cannot act on the alerts of tenant '{alert.tenant}'")
    return alert


def _who(principal: Principal, body: AlertAction | None) -> str:
    if body is not None and body.by:
        return f"{body.by} ({principal.actor.label})"
    return principal.user_email or principal.actor.label


_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "role not allowed, or tenant outside the key's own tenants"},
    404: {"description": "no such alert in the key's scope"},
}


@router.post("/{alert_id}/ack",
             responses={**_RESPONSES, 409: {"description": "the alert is resolved"}})
def acknowledge_alert(conn: Conn, principal: AlertManager, settings: CurrentSettings,
                      clock: Clock, alert_id: int, body: AlertAction | None = None,
                      lang: Lang = "fr") -> AlertPublic:
    """open -> acknowledged: stops its escalation. Acknowledging it again changes nothing."""
    return _transition(conn, principal, settings, clock, alert_id, body, lang,
                       lifecycle.acknowledge, "alert.acknowledge",
                       changed=lambda before, after: after.acknowledged_at != before.acknowledged_at)


@router.post("/{alert_id}/resolve",
             responses={**_RESPONSES, 409: {"description": "the alert is already resolved"}})
def resolve_alert(conn: Conn, principal: AlertManager, settings: CurrentSettings, clock: Clock,
                  alert_id: int, body: AlertAction | None = None,
                  lang: Lang = "fr") -> AlertPublic:
    """open | acknowledged -> resolved, by hand (the all-clear is notified)."""
    return _transition(conn, principal, settings, clock, alert_id, body, lang,
                       lifecycle.resolve, "alert.resolve", changed=lambda before, after: True)


def _transition(conn: psycopg.Connection, principal: Principal, settings: Settings,
                clock: Callable[[], datetime], alert_id: int, body: AlertAction | None,
                lang: str, apply: Callable[..., Alert], action: str,
                changed: Callable[[Alert, Alert], bool]) -> AlertPublic:
    """Applies a hand-made transition, audits it when it changed the alert, answers it."""
    alert = _writable(conn, principal, alert_id)
    comment = body.comment if body else None
    try:
        updated = apply(conn, alert_id, by=_who(principal, body), now=clock(), settings=settings,
                        comment=comment, actor_key_id=principal.key_id)
    except AlertNotFound:
        raise not_found(alert_id) from None
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if changed(alert, updated):
        audit(conn, principal.actor, tenant_id=alert.tenant_id, action=action,
              target=f"{alert.tenant}/{alert.device_id}/alert-{alert.id}",
              detail={"comment": comment} if comment else None)
    return to_public(updated, lang)
