"""Alerts: listing and lookup within a key's scope; their transitions and notifications."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from alerts.model import ALERT_COLUMNS, ALERT_FROM, Alert


def _where(scope: frozenset[int], filters: dict[str, Any]) -> tuple[sql.Composed, list[Any]]:
    conditions: list[sql.Composable] = [sql.SQL("a.tenant_id = any(%s)")]
    params: list[Any] = [list(scope)]
    columns = {"tenant_id": sql.Identifier("a", "tenant_id"), "status": sql.Identifier("a", "status"),
               "type": sql.Identifier("a", "type"), "severity": sql.Identifier("a", "severity"),
               "device_id": sql.Identifier("d", "id")}
    for name, value in filters.items():
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(columns[name]))
            params.append(value)
    return sql.SQL(" and ").join(conditions), params


def list_alerts(
    conn: psycopg.Connection, *, scope: frozenset[int], tenant_id: int | None = None,
    status: str | None = None, type: str | None = None, severity: str | None = None,
    device_id: str | None = None, limit: int, offset: int,
) -> tuple[list[Alert], int]:
    """One page of the alerts in `scope`, newest first, and the total that match."""
    where, params = _where(scope, {"tenant_id": tenant_id, "status": status, "type": type,
                                   "severity": severity, "device_id": device_id})
    total = conn.execute(sql.SQL("select count(*) from {} where {}").format(ALERT_FROM, where),
                         params).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("select {} from {} where {} order by a.opened_at desc, a.id desc "
                    "limit %s offset %s").format(ALERT_COLUMNS, ALERT_FROM, where),
            [*params, limit, offset]).fetchall()
    return [Alert.from_row(r) for r in rows], int(total[0]) if total else 0


def get_alert(conn: psycopg.Connection, *, scope: frozenset[int], alert_id: int) -> Alert | None:
    """The alert `alert_id` if it exists within `scope`."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("select {} from {} where a.id = %s and a.tenant_id = any(%s)")
            .format(ALERT_COLUMNS, ALERT_FROM), (alert_id, list(scope))).fetchone()
    return None if row is None else Alert.from_row(row)


def list_transitions(conn: psycopg.Connection, *, alert_id: int) -> list[dict[str, Any]]:
    """The alert's audit trail, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select id, at, kind, from_status, to_status, from_severity, to_severity, actor, "
            "comment, detail from alert_transitions where alert_id = %s order by id",
            (alert_id,)).fetchall()


def list_notifications(conn: psycopg.Connection, *, alert_id: int) -> list[dict[str, Any]]:
    """The alert's notifications, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select id, event, channel, target, subject, status, attempts, error, created_at, "
            "sent_at from notification_log where alert_id = %s order by id",
            (alert_id,)).fetchall()


def list_cap_messages(conn: psycopg.Connection, *, scope: frozenset[int],
                      limit: int) -> list[dict[str, Any]]:
    """The latest CAP messages of the scope, newest first (without their XML)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select c.identifier, c.msg_type, c.sent, c.alert_id, t.slug as tenant, a.type, "
            "a.severity, a.message from cap_messages c join alerts a on a.id = c.alert_id "
            "join tenants t on t.id = c.tenant_id where c.tenant_id = any(%s) "
            "order by c.sent desc, c.id desc limit %s", (list(scope), limit)).fetchall()


def get_cap_xml(conn: psycopg.Connection, *, scope: frozenset[int], identifier: str) -> str | None:
    """The XML of a CAP message of the scope."""
    row = conn.execute("select xml from cap_messages where identifier = %s and tenant_id = any(%s)",
                       (identifier, list(scope))).fetchone()
    return None if row is None else str(row[0])
