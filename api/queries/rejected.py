"""Messages ingest set aside, as a key may see them.

A key sees the rejections of the tenants in its scope. Rejections whose topic named no
known tenant (`tenant_id` null) belong to nobody but the platform operator: they are shown
only to keys of a root tenant (one without a parent, e.g. the syndicate).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from api.models import ReasonCount, RejectedPublic

EXCERPT_BYTES = 512


def _where(scope: frozenset[int], *, operator: bool, tenant_id: int | None,
           reason: str | None) -> tuple[sql.Composed, list[Any]]:
    visible = "(r.tenant_id = any(%s) or r.tenant_id is null)" if operator else \
        "r.tenant_id = any(%s)"
    conditions: list[sql.Composable] = [sql.SQL(visible)]
    params: list[Any] = [list(scope)]
    for column, value in (("tenant_id", tenant_id), ("reason", reason)):
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier("r", column)))
            params.append(value)
    return sql.SQL(" and ").join(conditions), params


def list_rejected(
    conn: psycopg.Connection, *, scope: frozenset[int], operator: bool,
    tenant_id: int | None = None, reason: str | None = None, limit: int, offset: int,
) -> tuple[list[RejectedPublic], int]:
    """One page of visible rejections, newest first, and the total that match."""
    where, params = _where(scope, operator=operator, tenant_id=tenant_id, reason=reason)
    total = conn.execute(
        sql.SQL("select count(*) from rejected_messages r where {}").format(where), params
    ).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL(
                "select r.id, r.received_at, t.slug as tenant, r.device_id, r.topic, r.reason, "
                "       r.detail, substring(r.payload from 1 for %s) as excerpt, r.payload_size "
                "from rejected_messages r left join tenants t on t.id = r.tenant_id "
                "where {} order by r.received_at desc, r.id desc limit %s offset %s"
            ).format(where),
            [EXCERPT_BYTES, *params, limit, offset],
        ).fetchall()
    items = [
        RejectedPublic(payload_excerpt=bytes(r.pop("excerpt")).decode("utf-8", "replace"), **r)
        for r in rows
    ]
    return items, int(total[0]) if total else 0


def count_by_reason(
    conn: psycopg.Connection, *, scope: frozenset[int], operator: bool,
    tenant_id: int | None = None,
) -> list[ReasonCount]:
    """How many visible rejections there are of each reason, most frequent first."""
    where, params = _where(scope, operator=operator, tenant_id=tenant_id, reason=None)
    rows = conn.execute(
        sql.SQL(
            "select r.reason, count(*) as n from rejected_messages r where {} "
            "group by r.reason order by n desc, r.reason"
        ).format(where),
        params,
    ).fetchall()
    return [ReasonCount(reason=reason, count=n) for reason, n in rows]
