"""Commands: listing and reading, always within a key's scope (queueing is commands/service.py)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from api.models import CommandEventPublic, CommandPublic

_COLUMNS = sql.SQL(
    "c.id, t.slug as tenant, d.id as device_id, c.type, c.params, c.status, c.priority, "
    "c.source, c.group_id, c.created_at, c.sent_at, c.attempts, c.next_attempt_at, "
    "c.expires_at, c.acked_at, c.last_error, c.detail"
)
_FROM = sql.SQL("commands c join devices d on d.uid = c.device_uid "
                "join tenants t on t.id = c.tenant_id")


def list_commands(
    conn: psycopg.Connection, *, scope: frozenset[int], tenant_id: int | None = None,
    status: str | None = None, device_id: str | None = None, group_id: uuid.UUID | None = None,
    limit: int, offset: int = 0,
) -> tuple[list[CommandPublic], int]:
    """One page of the commands in `scope`, newest first, and the total that match."""
    conditions: list[sql.Composable] = [sql.SQL("c.tenant_id = any(%s)")]
    params: list[Any] = [list(scope)]
    for column, value in (("c.tenant_id", tenant_id), ("c.status", status), ("d.id", device_id),
                          ("c.group_id", group_id)):
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(sql.SQL(column)))
            params.append(value)
    where = sql.SQL(" and ").join(conditions)
    total = conn.execute(sql.SQL("select count(*) from {} where {}").format(_FROM, where),
                         params).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("select {} from {} where {} order by c.created_at desc, c.id "
                    "limit %s offset %s").format(_COLUMNS, _FROM, where),
            [*params, limit, offset],
        ).fetchall()
    return [CommandPublic(**r) for r in rows], int(total[0]) if total else 0


def get_command(conn: psycopg.Connection, *, scope: frozenset[int],
                command_id: uuid.UUID) -> CommandPublic | None:
    """One command with its history, if it exists within `scope`."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("select {} from {} where c.id = %s and c.tenant_id = any(%s)")
            .format(_COLUMNS, _FROM),
            (command_id, list(scope)),
        ).fetchone()
        if row is None:
            return None
        events = cur.execute(
            "select at, event, status, attempt, detail from command_events "
            "where command_id = %s order by at, id",
            (command_id,),
        ).fetchall()
    return CommandPublic(**row, events=[CommandEventPublic(**e) for e in events])
