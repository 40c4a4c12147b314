"""The end of commands nobody answered: `expired` past their deadline, `failed` once every
attempt went unacknowledged, each with a sentence that says what the device was doing.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from commands import history, texts

_PENDING = sql.SQL(
    "select c.id, c.tenant_id, c.attempts, c.expires_at, d.online, d.last_seen "
    "from commands c join devices d on d.uid = c.device_uid "
    "where c.status in ('queued', 'sent') and {condition} "
    "for update of c skip locked"
)


def expire_due(conn: psycopg.Connection, now: datetime) -> int:
    """Marks `expired` the pending commands whose deadline has passed at `now`; commits."""
    with conn.transaction():
        rows = conn.execute(_PENDING.format(condition=sql.SQL("c.expires_at <= %(now)s")),
                            {"now": now}).fetchall()
        updates, events = [], []
        for command_id, tenant_id, attempts, expires_at, online, last_seen in rows:
            detail = texts.expired(expires_at=expires_at, attempts=attempts, online=online,
                                   last_seen=last_seen)
            updates.append((Jsonb(detail), now, command_id))
            events.append(history.Event(command_id, tenant_id, now, "expired", "expired",
                                        attempts, detail))
        _finish(conn, "expired", updates)
        history.record(conn, events)
    conn.commit()
    return len(rows)


def fail_unanswered(conn: psycopg.Connection, now: datetime, *, max_attempts: int) -> int:
    """Marks `failed` the commands sent `max_attempts` times whose last wait is over; commits."""
    with conn.transaction():
        rows = conn.execute(
            _PENDING.format(condition=sql.SQL("c.status = 'sent' and c.attempts >= %(max)s "
                                              "and c.next_attempt_at <= %(now)s")),
            {"now": now, "max": max_attempts},
        ).fetchall()
        updates, events = [], []
        for command_id, tenant_id, attempts, _, online, last_seen in rows:
            detail = texts.no_ack(attempts=attempts, online=online, last_seen=last_seen)
            updates.append((Jsonb(detail), now, command_id))
            events.append(history.Event(command_id, tenant_id, now, "failed", "failed",
                                        attempts, detail))
        _finish(conn, "failed", updates)
        history.record(conn, events)
    conn.commit()
    return len(rows)


def _finish(conn: psycopg.Connection, status: str,
            updates: list[tuple[Jsonb, datetime, object]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "update commands set status = %s, detail = %s, next_attempt_at = null, "
            "updated_at = %s where id = %s",
            [(status, *u) for u in updates],
        )
