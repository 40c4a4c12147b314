"""The audit log, as an admin may read it: the changes in the key's own tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from api.models import AuditEntryPublic
from phare.tenancy import Principal


def list_audit(
    conn: psycopg.Connection, *, principal: Principal, tenant_id: int | None = None,
    action: str | None = None, start: datetime | None = None, end: datetime | None = None,
    limit: int, offset: int,
) -> tuple[list[AuditEntryPublic], int]:
    """One page of entries, newest first, and the total that match."""
    conditions: list[sql.Composable] = [sql.SQL("a.tenant_id = any(%s)")]
    params: list[Any] = [list(principal.scope)]
    filters: list[tuple[sql.SQL, Any]] = [
        (sql.SQL("a.tenant_id = %s"), tenant_id), (sql.SQL("a.action = %s"), action),
        (sql.SQL("a.at >= %s"), start), (sql.SQL("a.at < %s"), end),
    ]
    for clause, value in filters:
        if value is not None:
            conditions.append(clause)
            params.append(value)
    where = sql.SQL(" and ").join(conditions)
    total = conn.execute(sql.SQL("select count(*) from audit_log a where {}").format(where),
                         params).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("select a.id, a.at, t.slug as tenant, a.actor, a.action, a.target, a.detail "
                    "from audit_log a join tenants t on t.id = a.tenant_id where {} "
                    "order by a.at desc, a.id desc limit %s offset %s").format(where),
            [*params, limit, offset],
        ).fetchall()
    return [AuditEntryPublic(**r) for r in rows], int(total[0]) if total else 0
