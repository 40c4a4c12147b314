"""Devices' acknowledgements applied to commands: pending, late, repeated, unknown; audited."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import psycopg
import pytest

from commands.acks import apply_ack
from commands.service import dispatch_due, prepare, queue_command
from devices.messages import CommandAck
from tests.commands.conftest import ACTOR, POLICY, command_row, events, target


class NoBroker:
    """The dispatcher's publisher, for tests about acks only (delivery is tested elsewhere)."""

    def publish(self, topic: str, payload: bytes) -> None:
        pass


def sent_command(conn: psycopg.Connection, tenant: str, now: datetime,
                 device_id: str = "armoire-1") -> tuple[int, uuid.UUID]:
    cabinet = target(conn, tenant, device_id)
    order = prepare("switch", {"on": True}, expires=now + timedelta(minutes=10), now=now,
                    policy=POLICY)
    command_id = queue_command(conn, cabinet, order, now=now, actor=ACTOR)
    dispatch_due(conn, NoBroker(), now, policy=POLICY)
    return cabinet.uid, command_id


def ack(command_id: uuid.UUID | str, status: str, at: datetime, **detail: object) -> CommandAck:
    return CommandAck(id=str(command_id), status=status, ts=at, detail=dict(detail))


@pytest.mark.parametrize("status", ["applied", "rejected", "failed"])
def test_a_pending_command_takes_the_acks_status_and_detail(
        conn: psycopg.Connection, tenant: str, now: datetime, status: str) -> None:
    uid, command_id = sent_command(conn, tenant, now)
    at = now + timedelta(seconds=2)
    assert apply_ack(conn, device_uid=uid, ack=ack(command_id, status, at, reason="x"),
                     now=at) is None
    row = command_row(conn, command_id)
    assert (row["status"], row["acked_at"], row["detail"]) == (status, at, {"reason": "x"})
    assert row["next_attempt_at"] is None  # nothing more to send
    assert events(conn, command_id)[-1] == (status, status, 1)
    audit = conn.execute("select actor, action, target, detail->>'status' from audit_log "
                         "where action = 'command.ack'").fetchall()
    assert audit == [(f"device:{tenant}/armoire-1", "command.ack", f"{tenant}/armoire-1", status)]


def test_an_applied_ack_after_expiry_still_wins(conn: psycopg.Connection, tenant: str,
                                                now: datetime) -> None:
    uid, command_id = sent_command(conn, tenant, now)
    dispatch_due(conn, NoBroker(), now + timedelta(minutes=10), policy=POLICY)
    assert command_row(conn, command_id)["status"] == "expired"
    late = now + timedelta(minutes=11)
    assert apply_ack(conn, device_uid=uid, ack=ack(command_id, "applied", late), now=late) is None
    row = command_row(conn, command_id)
    assert row["status"] == "applied"
    assert row["detail"] == {"late": True, "given_up_as": "expired"}


def test_a_repeated_or_late_refusal_changes_nothing_and_is_kept_in_the_history(
        conn: psycopg.Connection, tenant: str, now: datetime) -> None:
    uid, command_id = sent_command(conn, tenant, now)
    apply_ack(conn, device_uid=uid, ack=ack(command_id, "applied", now), now=now)
    # The device got the command twice (it was sent again) and answers twice.
    assert apply_ack(conn, device_uid=uid, ack=ack(command_id, "rejected", now,
                                                   reason="expired"), now=now) is None
    assert command_row(conn, command_id)["status"] == "applied"
    assert events(conn, command_id)[-2:] == [("applied", "applied", 1),
                                             ("ack_ignored", "applied", 1)]


def test_an_ack_naming_no_command_of_the_device_is_refused_with_a_reason(
        conn: psycopg.Connection, tenant: str, now: datetime) -> None:
    uid, command_id = sent_command(conn, tenant, now)
    other_uid, _ = sent_command(conn, tenant, now, device_id="armoire-2")
    assert "not a command id" in (apply_ack(conn, device_uid=uid, ack=ack("c-1", "applied", now),
                                            now=now) or "")
    stranger = uuid.uuid4()
    assert apply_ack(conn, device_uid=uid, ack=ack(stranger, "applied", now), now=now) == \
        f"no command {stranger} for this device"
    # Another device's command: not this device's to acknowledge.
    assert apply_ack(conn, device_uid=other_uid, ack=ack(command_id, "applied", now),
                     now=now) == f"no command {command_id} for this device"
    assert command_row(conn, command_id)["status"] == "sent"
