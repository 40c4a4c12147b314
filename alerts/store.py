"""Reads the alerts package needs: devices, alerts, tenant policies, tenant ancestry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from alerts.model import ALERT_COLUMNS, ALERT_FROM, Alert, Device
from phare.settings import Settings

# A tenant and every tenant above it, nearest first.
ANCESTORS = sql.SQL(
    "with recursive up(id, parent_id, depth) as ("
    " select id, parent_id, 0 from tenants where id = %(tenant_id)s"
    " union all"
    " select t.id, t.parent_id, up.depth + 1 from tenants t join up on t.id = up.parent_id)"
)


@dataclass(frozen=True, slots=True)
class Policy:
    """How a tenant's alerts escalate and reopen."""

    escalate_after: timedelta
    reopen_window: timedelta
    max_escalation: int


def load_devices(conn: psycopg.Connection, uids: Iterable[int]) -> dict[int, Device]:
    """The devices with these uids, with their tenant's slug and name."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select d.uid, d.tenant_id, t.slug as tenant, t.name as tenant_name, d.id, d.kind, "
            "       d.name, d.metadata, st_y(d.location::geometry) as lat, "
            "       st_x(d.location::geometry) as lon "
            "from devices d join tenants t on t.id = d.tenant_id where d.uid = any(%s)",
            (sorted(set(uids)),),
        ).fetchall()
    return {r["uid"]: Device(**r) for r in rows}


def load_device(conn: psycopg.Connection, uid: int) -> Device:
    device = load_devices(conn, [uid]).get(uid)
    if device is None:
        raise LookupError(f"no device with uid {uid}")
    return device


def fetch_alert(conn: psycopg.Connection, alert_id: int, *, lock: bool = False) -> Alert | None:
    """The alert `alert_id`, row-locked with `lock` (inside the caller's transaction)."""
    query = sql.SQL("select {} from {} where a.id = %s{}").format(
        ALERT_COLUMNS, ALERT_FROM, sql.SQL(" for update of a" if lock else ""))
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, (alert_id,)).fetchone()
    return None if row is None else Alert.from_row(row)


def fetch_active(conn: psycopg.Connection, device_uid: int, alert_type: str) -> Alert | None:
    """The device's active alert of this type, row-locked."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("select {} from {} where a.device_uid = %s and a.type = %s "
                    "and a.status <> 'resolved' for update of a").format(ALERT_COLUMNS, ALERT_FROM),
            (device_uid, alert_type),
        ).fetchone()
    return None if row is None else Alert.from_row(row)


def fetch_recently_resolved(conn: psycopg.Connection, device_uid: int, alert_type: str,
                            since: datetime) -> Alert | None:
    """The device's alert of this type resolved at or after `since`, the latest, row-locked."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("select {} from {} where a.device_uid = %s and a.type = %s "
                    "and a.status = 'resolved' and a.resolved_at >= %s "
                    "order by a.resolved_at desc limit 1 for update of a")
            .format(ALERT_COLUMNS, ALERT_FROM),
            (device_uid, alert_type, since),
        ).fetchone()
    return None if row is None else Alert.from_row(row)


def active_keys(conn: psycopg.Connection, uids: Iterable[int]) -> set[tuple[int, str]]:
    """(device uid, type) of the active alerts of these devices."""
    rows = conn.execute(
        "select device_uid, type from alerts where status <> 'resolved' and device_uid = any(%s)",
        (sorted(set(uids)),),
    ).fetchall()
    return {(int(uid), str(t)) for uid, t in rows}


def policy_for(conn: psycopg.Connection, tenant_id: int, settings: Settings) -> Policy:
    """The tenant's policy: each setting from the nearest tenant up the tree that sets it."""
    rows = conn.execute(
        ANCESTORS + sql.SQL(" select p.escalate_after_s, p.reopen_window_s, p.max_escalation "
                            "from up join alert_policies p on p.tenant_id = up.id "
                            "order by up.depth"),
        {"tenant_id": tenant_id},
    ).fetchall()
    values: list[Any] = [settings.alerts_escalate_after_s, settings.alerts_reopen_window_s,
                         settings.alerts_max_escalation]
    for index in range(3):
        for row in rows:
            if row[index] is not None:
                values[index] = row[index]
                break
    return Policy(escalate_after=timedelta(seconds=values[0]),
                  reopen_window=timedelta(seconds=values[1]), max_escalation=int(values[2]))


def set_policy(conn: psycopg.Connection, tenant_id: int, *, escalate_after_s: int | None,
               reopen_window_s: int | None, max_escalation: int | None, now: datetime) -> None:
    """Sets a tenant's policy; None leaves a value to the tenants above (or the settings)."""
    conn.execute(
        "insert into alert_policies (tenant_id, escalate_after_s, reopen_window_s, max_escalation,"
        " updated_at) values (%s, %s, %s, %s, %s) on conflict (tenant_id) do update set "
        "escalate_after_s = excluded.escalate_after_s, reopen_window_s = excluded.reopen_window_s,"
        " max_escalation = excluded.max_escalation, updated_at = excluded.updated_at",
        (tenant_id, escalate_after_s, reopen_window_s, max_escalation, now),
    )



def channel_name(conn: psycopg.Connection, base: str) -> str:
    """The NOTIFY channel `base` of this connection's schema (alert_channel(), migration 0006)."""
    row = conn.execute("select alert_channel(%s)", (base,)).fetchone()
    assert row is not None
    return str(row[0])


def listen(conn: psycopg.Connection, base: str) -> str:
    """LISTENs on the channel `base` of this connection's schema; returns its name."""
    name = channel_name(conn, base)
    conn.execute(sql.SQL("listen {}").format(sql.Identifier(name)))
    return name
