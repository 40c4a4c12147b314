"""Exports: devices, readings, alerts and latest values within a key's scope, for bulk formats."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

DEVICE_HEADER = ("tenant", "id", "kind", "name", "model", "lat", "lon", "dev_eui", "firmware",
                 "online", "last_seen", "created_at")
READING_HEADER = ("tenant", "device_id", "metric", "ts", "value")
# How far back "latest value" looks: a device silent for longer has none (keeps the scan small).
LATEST_WINDOW = timedelta(days=7)

_DEVICES = (
    "select t.slug as tenant, d.id, d.kind, d.name, d.model, "
    "st_y(d.location::geometry) as lat, st_x(d.location::geometry) as lon, d.dev_eui, "
    "d.firmware, d.online, d.last_seen, d.created_at, d.uid, d.metadata "
    "from devices d join tenants t on t.id = d.tenant_id "
    "where d.tenant_id = any(%(scope)s) and (%(kind)s::text is null or d.kind = %(kind)s) "
    "order by t.slug, d.id"
)


def list_devices(conn: psycopg.Connection, *, scope: frozenset[int],
                 kind: str | None = None) -> list[dict[str, Any]]:
    """Every device of `scope` (of `kind`), by tenant then id, with its position."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_DEVICES, {"scope": list(scope), "kind": kind}).fetchall()


def latest_readings(conn: psycopg.Connection, *, uids: list[int],
                    now: datetime) -> dict[int, dict[str, tuple[datetime, float]]]:
    """Each device's latest value of each metric, within `LATEST_WINDOW` before `now`."""
    rows = conn.execute(
        "select distinct on (device_uid, metric) device_uid, metric, ts, value from readings "
        "where device_uid = any(%s) and ts > %s and ts <= %s "
        "order by device_uid, metric, ts desc", (uids, now - LATEST_WINDOW, now)).fetchall()
    latest: dict[int, dict[str, tuple[datetime, float]]] = {}
    for uid, metric, ts, value in rows:
        latest.setdefault(uid, {})[metric] = (ts, value)
    return latest


def list_alerts(conn: psycopg.Connection, *, scope: frozenset[int], status: str | None,
                type: str | None) -> list[dict[str, Any]]:
    """The alerts of `scope`, newest first, with their device's kind and position."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select a.id, t.slug as tenant, d.id as device_id, d.kind, a.type, a.severity, "
            "a.status, a.message, a.opened_at, a.acknowledged_at, a.resolved_at, "
            "st_y(d.location::geometry) as lat, st_x(d.location::geometry) as lon "
            "from alerts a join tenants t on t.id = a.tenant_id "
            "join devices d on d.uid = a.device_uid "
            "where a.tenant_id = any(%(scope)s) "
            "and (%(status)s::text is null or a.status = %(status)s) "
            "and (%(type)s::text is null or a.type = %(type)s) "
            "order by a.opened_at desc, a.id desc",
            {"scope": list(scope), "status": status, "type": type}).fetchall()


def stream_readings(conn: psycopg.Connection, *, scope: frozenset[int], start: datetime,
                    end: datetime, tenant_id: int | None, device_id: str | None,
                    metric: str | None, batch: int = 5000) -> Iterator[tuple[Any, ...]]:
    """Readings of `scope` in [start, end), by device, metric and time, from a server-side
    cursor (the caller holds the transaction and its scope)."""
    with conn.cursor(name="phare_export_readings") as cur:
        cur.itersize = batch
        cur.execute(
            "select t.slug, d.id, r.metric, r.ts, r.value from readings r "
            "join devices d on d.uid = r.device_uid join tenants t on t.id = d.tenant_id "
            "where r.tenant_id = any(%(scope)s) and r.ts >= %(start)s and r.ts < %(end)s "
            "and (%(tenant)s::int is null or d.tenant_id = %(tenant)s) "
            "and (%(device)s::text is null or d.id = %(device)s) "
            "and (%(metric)s::text is null or r.metric = %(metric)s) "
            "order by t.slug, d.id, r.metric, r.ts",
            {"scope": list(scope), "start": start, "end": end, "tenant": tenant_id,
             "device": device_id, "metric": metric})
        yield from cur
