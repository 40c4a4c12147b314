"""The dispatcher against the real broker and database: sends, resends with backoff, gives up
(`failed`, `expired`), replaces older commands, puts emergencies first. Time is injected."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import orjson
import psycopg
import pytest

from commands.delivery import MqttPublisher
from commands.errors import DeliveryError
from commands.service import (
    PRIORITY_EMERGENCY,
    Group,
    Source,
    dispatch_due,
    force_on_orders,
    prepare,
    queue_command,
    queue_group,
)
from tests.commands.conftest import ACTOR, POLICY, Listener, command_row, events, target
from tests.conftest import wait_for


def queue(conn: psycopg.Connection, device, command_type: str, params: dict, *,  # type: ignore[no-untyped-def]
          now: datetime, expires: datetime | None = None) -> uuid.UUID:
    order = prepare(command_type, params, expires=expires, now=now, policy=POLICY)
    return queue_command(conn, device, order, now=now, actor=ACTOR)


def test_an_unanswered_command_is_sent_again_with_backoff_then_expires_saying_why(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, listener: Listener,
        now: datetime) -> None:
    """Nobody listens for this cabinet: the broker takes each send, no ack ever comes."""
    offline_since = now - timedelta(hours=2)
    cabinet = target(conn, tenant, "armoire-muette", online=False, last_seen=offline_since)
    command_id = queue(conn, cabinet, "set_dimming", {"level_pct": 30}, now=now,
                       expires=now + timedelta(minutes=5))
    topic = f"phare/v1/{tenant}/armoire-muette/cmd"

    # t0: first send; the ack may take 60 s.
    assert dispatch_due(conn, publisher, now, policy=POLICY).sent == 1
    assert command_row(conn, command_id)["next_attempt_at"] == now + timedelta(seconds=60)
    assert dispatch_due(conn, publisher, now + timedelta(seconds=59), policy=POLICY).changes == 0
    # t0+60 s: sent again, then waits twice as long (120 s).
    assert dispatch_due(conn, publisher, now + timedelta(seconds=60), policy=POLICY).resent == 1
    assert command_row(conn, command_id)["next_attempt_at"] == now + timedelta(seconds=180)
    # t0+180 s: third and last send, then a 240 s wait that the deadline (t0+300 s) cuts short.
    assert dispatch_due(conn, publisher, now + timedelta(seconds=180), policy=POLICY).resent == 1
    assert dispatch_due(conn, publisher, now + timedelta(seconds=299), policy=POLICY).changes == 0
    assert dispatch_due(conn, publisher, now + timedelta(seconds=300), policy=POLICY).expired == 1

    row = command_row(conn, command_id)
    assert (row["status"], row["attempts"]) == ("expired", 3)
    assert row["detail"]["reason"] == "expired"
    message = row["detail"]["message"]
    assert message.startswith("l'équipement n'a pas répondu avant l'échéance (hors ligne depuis le ")
    assert offline_since.astimezone(_paris()).strftime("%d/%m/%Y à %H:%M") in message
    assert "envoyée 3 fois" in message
    assert "offline since" in row["detail"]["message_en"]
    assert events(conn, command_id) == [("queued", "queued", 0), ("sent", "sent", 1),
                                        ("resent", "sent", 2), ("resent", "sent", 3),
                                        ("expired", "expired", 3)]
    # Every send reached the broker, the same command each time.
    sends = wait_for(lambda: len(listener.on(topic)) == 3 and listener.on(topic))
    assert {orjson.loads(m.payload)["id"] for m in sends} == {str(command_id)}
    assert all(m.qos == 1 for m in sends)
    # Nothing more is sent once it expired.
    assert dispatch_due(conn, publisher, now + timedelta(hours=1), policy=POLICY).changes == 0


def test_a_command_never_acknowledged_fails_after_the_last_attempt(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, now: datetime) -> None:
    cabinet = target(conn, tenant, "armoire-sourde", online=True,
                     last_seen=now - timedelta(minutes=3))
    command_id = queue(conn, cabinet, "switch", {"on": True}, now=now,
                       expires=now + timedelta(hours=6))
    for offset in (0, 60, 180):
        dispatch_due(conn, publisher, now + timedelta(seconds=offset), policy=POLICY)
    assert dispatch_due(conn, publisher, now + timedelta(seconds=419), policy=POLICY).failed == 0
    assert dispatch_due(conn, publisher, now + timedelta(seconds=420), policy=POLICY).failed == 1
    row = command_row(conn, command_id)
    assert (row["status"], row["attempts"], row["detail"]["reason"]) == ("failed", 3, "no_ack")
    assert row["detail"]["message"].startswith(
        "l'équipement n'a accusé réception d'aucun des 3 envois (dernier message reçu le ")


def test_a_newer_command_cancels_the_pending_one_of_its_type_but_not_an_emergency(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, now: datetime) -> None:
    cabinet = target(conn, tenant, "armoire-1")
    first = queue(conn, cabinet, "set_dimming", {"level_pct": 30}, now=now)
    schedule = queue(conn, cabinet, "set_schedule",
                     {"steps": [{"at": (now + timedelta(hours=1)).isoformat(), "level_pct": 50}]},
                     now=now)
    second = queue(conn, cabinet, "set_dimming", {"level_pct": 80}, now=now + timedelta(seconds=1))
    assert command_row(conn, first)["status"] == "cancelled"
    assert command_row(conn, first)["detail"]["by"] == str(second)
    assert command_row(conn, schedule)["status"] == "queued"  # another type: untouched
    assert events(conn, first)[-1] == ("cancelled", "cancelled", 0)

    [switch_on, full] = queue_group(
        conn, [cabinet], force_on_orders(now + timedelta(hours=4), now=now),
        Group(cabinet.tenant_id, "force_on", {}, {"zone": "test"}, reason="test"),
        now=now, actor=ACTOR, source=Source.FORCE_ON, priority=PRIORITY_EMERGENCY).command_ids
    assert command_row(conn, second)["status"] == "cancelled"  # the emergency replaces routine
    routine = queue(conn, cabinet, "set_dimming", {"level_pct": 10}, now=now + timedelta(seconds=2))
    assert command_row(conn, full)["status"] == "queued"  # routine never cancels an emergency
    assert command_row(conn, routine)["status"] == "queued"
    assert command_row(conn, switch_on)["status"] == "queued"


def test_emergencies_are_sent_before_older_routine_commands(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, listener: Listener,
        now: datetime) -> None:
    cabinets = [target(conn, tenant, f"armoire-{i}") for i in range(3)]
    for cabinet in cabinets:
        queue(conn, cabinet, "set_schedule",
              {"steps": [{"at": (now + timedelta(hours=2)).isoformat(), "level_pct": 50}]}, now=now)
    queue_group(conn, cabinets[:1], force_on_orders(now + timedelta(hours=4), now=now),
                Group(cabinets[0].tenant_id, "force_on", {}, {"zone": "test"}, reason="test"),
                now=now + timedelta(seconds=5), actor=ACTOR, source=Source.FORCE_ON,
                priority=PRIORITY_EMERGENCY)
    sent_order: list[str] = []

    class Recording:
        def publish(self, topic: str, payload: bytes) -> None:
            sent_order.append(orjson.loads(payload)["type"])
            publisher.publish(topic, payload)

    assert dispatch_due(conn, Recording(), now + timedelta(seconds=5), policy=POLICY).sent == 5
    assert sorted(sent_order[:2]) == ["set_dimming", "switch"]  # the force-on, in either order
    assert sent_order[2:] == ["set_schedule"] * 3


def test_a_broker_that_refuses_costs_no_attempt_and_is_tried_again(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, now: datetime) -> None:
    """The broker's refusal is simulated at the publisher (the session's broker serves other
    tests); that the real publisher raises DeliveryError is tested below."""
    cabinet = target(conn, tenant, "armoire-1")
    command_id = queue(conn, cabinet, "switch", {"on": False}, now=now)

    class Refusing:
        def publish(self, topic: str, payload: bytes) -> None:
            raise DeliveryError("the MQTT broker did not acknowledge the message")

    result = dispatch_due(conn, Refusing(), now, policy=POLICY)
    assert (result.sent, result.delivery_errors) == (0, 1)
    row = command_row(conn, command_id)
    assert (row["status"], row["attempts"]) == ("queued", 0)
    assert "did not acknowledge" in row["last_error"]
    assert dispatch_due(conn, publisher, now + timedelta(seconds=60), policy=POLICY).sent == 1
    row = command_row(conn, command_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 1, None)
    assert [e for e, _, _ in events(conn, command_id)] == ["queued", "delivery_error", "sent"]


def test_the_publisher_says_when_it_cannot_reach_the_broker(settings) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import free_port

    unreachable = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"})
    with pytest.raises(DeliveryError, match="cannot reach the MQTT broker"):
        MqttPublisher(unreachable, timeout=2).connect()


def test_two_dispatchers_never_send_the_same_command_twice(
        conn: psycopg.Connection, settings, tenant: str, publisher: MqttPublisher,  # type: ignore[no-untyped-def]
        listener: Listener, now: datetime) -> None:
    from phare import db

    cabinet = target(conn, tenant, "armoire-1")
    command_id = queue(conn, cabinet, "switch", {"on": True}, now=now)
    with db.connect(settings) as other:
        # The other dispatcher holds the row (it is publishing): this one skips it.
        other.execute("select 1 from commands where id = %s for update", (command_id,))
        assert dispatch_due(conn, publisher, now, policy=POLICY).sent == 0
        other.rollback()
    assert dispatch_due(conn, publisher, now, policy=POLICY).sent == 1
    topic = f"phare/v1/{tenant}/armoire-1/cmd"
    wait_for(lambda: listener.on(topic))
    assert len(listener.on(topic)) == 1


def _paris():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Paris")
