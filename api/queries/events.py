"""Device events: listing within a key's scope, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from api.models import EventPublic

_COLUMNS = sql.SQL("t.slug as tenant, d.id as device_id, d.kind, e.ts, e.type, e.active, "
                   "e.detail, e.received_at")
_FROM = sql.SQL("events e join devices d on d.uid = e.device_uid "
                "join tenants t on t.id = e.tenant_id")


def list_events(
    conn: psycopg.Connection, *, scope: frozenset[int], start: datetime, end: datetime,
    tenant_id: int | None = None, device_id: str | None = None, type: str | None = None,
    limit: int, offset: int,
) -> tuple[list[EventPublic], int]:
    """One page of the events in `scope` within [start, end), newest first, and the total."""
    conditions: list[sql.Composable] = [sql.SQL("e.tenant_id = any(%s) and e.ts >= %s "
                                                "and e.ts < %s")]
    params: list[Any] = [list(scope), start, end]
    for column, value in ((sql.Identifier("e", "tenant_id"), tenant_id),
                          (sql.Identifier("d", "id"), device_id),
                          (sql.Identifier("e", "type"), type)):
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(column))
            params.append(value)
    where = sql.SQL(" and ").join(conditions)
    total = conn.execute(sql.SQL("select count(*) from {} where {}").format(_FROM, where),
                         params).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("select {} from {} where {} order by e.ts desc, t.slug, d.id, e.type "
                    "limit %s offset %s").format(_COLUMNS, _FROM, where),
            [*params, limit, offset]).fetchall()
    return [EventPublic(**r) for r in rows], int(total[0]) if total else 0
