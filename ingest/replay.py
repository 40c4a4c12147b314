"""Replays rejected messages through ingest again, once their cause is fixed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg

from ingest.decode import decode_message
from ingest.writer import Writer
from phare.settings import Settings


@dataclass(slots=True)
class ReplayResult:
    messages: int = 0             # distinct messages replayed
    values_stored: int = 0
    rejected_again: Counter[str] = field(default_factory=Counter)
    not_replayable: int = 0       # payload kept truncated: cannot be replayed


def replay(conn: psycopg.Connection, settings: Settings, *, tenant_ids: list[int] | None,
           reason: str | None = None, ids: list[int] | None = None,
           limit: int = 10_000) -> ReplayResult:
    """Replays pending rejected messages (optionally filtered) and marks them replayed.

    A message rejected for several reasons has several rows: it is replayed once. What is
    still wrong is rejected again, as a new row with today's reason.
    """
    result = ReplayResult()
    rows = conn.execute(
        "select array_agg(id), topic, payload, min(received_at), bool_or(payload_truncated) "
        "from rejected_messages "
        "where replayed_at is null "
        "  and (%(tenants)s::int[] is null or tenant_id = any(%(tenants)s)) "
        "  and (%(reason)s::text is null or reason = %(reason)s) "
        "  and (%(ids)s::bigint[] is null or id = any(%(ids)s)) "
        "group by topic, payload, received_at order by min(received_at) limit %(limit)s",
        {"tenants": tenant_ids, "reason": reason, "ids": ids, "limit": limit},
    ).fetchall()
    conn.commit()
    writer = Writer(conn)
    for row_ids, topic, payload, received_at, truncated in rows:
        if truncated:
            result.not_replayable += len(row_ids)
            continue
        decoded = decode_message(topic, bytes(payload),
                                 max_payload_bytes=settings.ingest_max_payload_bytes,
                                 max_future=timedelta(seconds=settings.ingest_max_future_seconds),
                                 now=received_at)
        written = writer.write(decoded)  # commits; replaying twice stores values once
        conn.execute("update rejected_messages set replayed_at = now() where id = any(%s)",
                     (row_ids,))
        conn.commit()
        result.messages += 1
        result.values_stored += written.values_stored
        result.rejected_again.update(written.rejected)
    return result
