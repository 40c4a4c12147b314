"""Devices' acknowledgements: what they do to a command.

A native device answers on `cmd/ack` (contract §1.4), which ingest decodes and applies here in
its batch's transaction. A pending command (`queued`, `sent`) takes the ack's status. An
`applied` that comes after the command was given up (`failed`, `expired`) still wins: the
device did change its output, and operators must know. Any other late or repeated ack (a resent
command is acknowledged twice) changes nothing and is kept in the command's history.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from commands import history
from devices.messages import CommandAck, format_ts
from phare.tenancy import Actor, audit

PENDING = ("queued", "sent")
GIVEN_UP = ("failed", "expired")


def apply_ack(conn: psycopg.Connection, *, device_uid: int, ack: CommandAck,
              now: datetime) -> str | None:
    """Applies a device's ack (in the caller's transaction); a sentence when it names no
    command of this device, None otherwise."""
    try:
        command_id = uuid.UUID(ack.id)
    except ValueError:
        return f"'id' {ack.id!r} is not a command id (UUID)"
    row = conn.execute(
        "select c.status, c.tenant_id, c.attempts, t.slug, d.id from commands c "
        "join devices d on d.uid = c.device_uid join tenants t on t.id = d.tenant_id "
        "where c.id = %s and c.device_uid = %s for update of c",
        (command_id, device_uid),
    ).fetchone()
    if row is None:
        return f"no command {command_id} for this device"
    status, tenant_id, attempts, tenant, device_id = row
    late = status in GIVEN_UP and ack.status == "applied"
    if status not in PENDING and not late:
        history.record(conn, [history.Event(
            command_id, tenant_id, now, "ack_ignored", status, attempts,
            {"ack": ack.status, "ack_ts": format_ts(ack.ts), "ack_detail": ack.detail})])
        return None
    detail = {**ack.detail, "late": True, "given_up_as": status} if late else ack.detail
    conn.execute(
        "update commands set status = %s, acked_at = %s, detail = %s, next_attempt_at = null, "
        "updated_at = %s where id = %s",
        (ack.status, ack.ts, Jsonb(detail), now, command_id),
    )
    history.record(conn, [history.Event(command_id, tenant_id, now, ack.status, ack.status,
                                        attempts, detail)])
    audit(conn, Actor(f"device:{tenant}/{device_id}"), tenant_id=tenant_id, action="command.ack",
          target=f"{tenant}/{device_id}",
          detail={"command": str(command_id), "status": ack.status, "ack_ts": format_ts(ack.ts),
                  "late": late})
    return None
