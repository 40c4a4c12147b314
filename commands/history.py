"""A command's history (`command_events`): every change of its status, and every send.

Operators read it with the command (`GET /api/v1/commands/{id}`). Requests (who asked what, of
which devices) and devices' acknowledgements also go to the platform's audit log
(`phare.tenancy.audit`), one row per request, not per device.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


@dataclass(frozen=True, slots=True)
class Event:
    command_id: uuid.UUID
    tenant_id: int
    at: datetime
    event: str    # queued, sent, resent, delivery_error, applied, rejected, failed, expired,
                  # cancelled, ack_ignored
    status: str   # the command's status after it
    attempt: int = 0
    detail: Mapping[str, Any] = field(default_factory=dict)


def record(conn: psycopg.Connection, events: Iterable[Event]) -> None:
    """Appends events to their commands' histories (in the caller's transaction)."""
    rows = [(e.command_id, e.tenant_id, e.at, e.event, e.status, e.attempt, Jsonb(dict(e.detail)))
            for e in events]
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "insert into command_events (command_id, tenant_id, at, event, status, attempt, detail) "
            "values (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
