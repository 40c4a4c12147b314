"""LoRaWAN commands acknowledged by the network servers: the dispatcher's connection receives
TTS `down/ack|nack|failed` and ChirpStack `event/ack` from the real broker and applies them."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest

from commands import network_acks
from commands.delivery import MqttPublisher
from commands.service import dispatch_due, prepare, queue_command
from phare.settings import Settings
from tests.commands.conftest import ACTOR, POLICY, command_row, events, target
from tests.conftest import wait_for

TTS = {"network_server": "tts", "application_id": "eclairage-cantal", "tenant": "sdec15"}
CHIRPSTACK = {"network_server": "chirpstack",
              "application_id": "4f3d5d92-af2a-4466-9f1e-d2e56b764ea8"}


@pytest.fixture
def inbox(settings: Settings):  # type: ignore[no-untyped-def]
    """A dispatcher's connection subscribed to the network servers' acks, as `phare worker`'s."""
    box = network_acks.Inbox()
    # A group of this test alone: a dispatcher that another test left connected in this
    # process (the worker's cached link) would otherwise take its turn of the shared acks.
    group = f"test-{uuid.uuid4().hex[:8]}"
    subscriptions = [t.replace(f"$share/{network_acks.SHARE_GROUP}/", f"$share/{group}/")
                     for t in network_acks.SUBSCRIPTIONS]
    with MqttPublisher(settings, client_id=f"cmd-acks-{uuid.uuid4().hex[:8]}",
                       subscriptions=subscriptions, on_message=box.put) as link:
        yield box, link


def network_server_says(broker, topic: str, doc: dict) -> None:  # type: ignore[no-untyped-def]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish(topic, orjson.dumps(doc), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def sent_to(conn: psycopg.Connection, tenant: str, metadata: dict, link: MqttPublisher,
            now: datetime):  # type: ignore[no-untyped-def]
    cabinet = target(conn, tenant, "armoire-lora-1", metadata={"lorawan": metadata},
                     dev_eui=uuid.uuid4().hex[:16].upper(), lorawan_id="armoire-lora-1",
                     model="phare-lora-cabinet")
    order = prepare("switch", {"on": True}, expires=None, now=now, policy=POLICY)
    command_id = queue_command(conn, cabinet, order, now=now, actor=ACTOR)
    assert dispatch_due(conn, link, now, policy=POLICY).sent == 1
    return cabinet, command_id


def test_a_tts_down_ack_applies_the_command(conn: psycopg.Connection, tenant: str, broker,  # type: ignore[no-untyped-def]
                                            inbox, now: datetime) -> None:
    box, link = inbox
    cabinet, command_id = sent_to(conn, tenant, TTS, link, now)
    network_server_says(broker, "v3/eclairage-cantal@sdec15/devices/armoire-lora-1/down/ack", {
        "end_device_ids": {"device_id": "armoire-lora-1", "dev_eui": cabinet.dev_eui},
        "correlation_ids": ["as:downlink:01H", f"phare:command:{command_id}"],
        "received_at": (now + timedelta(seconds=40)).isoformat(),
        "downlink_ack": {"f_port": 10, "frm_payload": "AQEAAAAA", "confirmed": True,
                         "correlation_ids": [f"phare:command:{command_id}"]},
    })
    acks = wait_for(lambda: box.drain())
    assert network_acks.apply(conn, acks, now + timedelta(seconds=41)) == 1
    row = command_row(conn, command_id)
    assert (row["status"], row["acked_at"]) == ("applied", now + timedelta(seconds=40))
    assert row["detail"] == {"network_server": "tts", "event": "down/ack"}


def test_a_tts_down_failed_fails_the_command_with_the_servers_reason(
        conn: psycopg.Connection, tenant: str, inbox, now: datetime) -> None:  # type: ignore[no-untyped-def]
    _, link = inbox
    _, command_id = sent_to(conn, tenant, TTS, link, now)
    ack = network_acks.parse(
        "v3/eclairage-cantal@sdec15/devices/armoire-lora-1/down/failed",
        orjson.dumps({"downlink_failed": {
            "downlink": {"correlation_ids": [f"phare:command:{command_id}"]},
            "error": {"namespace": "pkg/networkserver", "name": "application_downlink_too_long",
                      "message_format": "application downlink payload too long"}}}), now)
    assert ack is not None
    assert network_acks.apply(conn, [ack], now) == 1
    row = command_row(conn, command_id)
    assert row["status"] == "failed"
    assert row["detail"]["error"] == "application downlink payload too long"


@pytest.mark.parametrize("acknowledged", [True, False], ids=["acknowledged", "not-acknowledged"])
def test_a_chirpstack_ack_event_applies_the_command_or_leaves_it_to_be_sent_again(
        conn: psycopg.Connection, tenant: str, broker, inbox, now: datetime,  # type: ignore[no-untyped-def]
        acknowledged: bool) -> None:
    box, link = inbox
    cabinet, command_id = sent_to(conn, tenant, CHIRPSTACK, link, now)
    eui = cabinet.dev_eui.lower()
    network_server_says(broker, f"application/{CHIRPSTACK['application_id']}/device/{eui}/event/ack", {
        "deduplicationId": str(uuid.uuid4()), "time": now.isoformat(),
        "deviceInfo": {"devEui": eui, "deviceName": "armoire-lora-1"},
        "queueItemId": str(command_id), "acknowledged": acknowledged, "fCntDown": 7,
    })
    assert network_acks.apply(conn, wait_for(lambda: box.drain()), now) == 1
    row = command_row(conn, command_id)
    if acknowledged:
        assert row["status"] == "applied"
        assert row["detail"] == {"network_server": "chirpstack", "acknowledged": True,
                                 "f_cnt_down": 7}
    else:
        assert (row["status"], row["last_error"]) == \
            ("sent", "the device did not acknowledge the downlink")
        assert events(conn, command_id)[-1] == ("delivery_error", "sent", 1)


def test_acks_that_name_no_command_of_that_device_change_nothing(
        conn: psycopg.Connection, tenant: str, inbox, now: datetime) -> None:  # type: ignore[no-untyped-def]
    _, link = inbox
    _, command_id = sent_to(conn, tenant, TTS, link, now)
    other_device = network_acks.parse(
        "v3/eclairage-cantal/devices/une-autre/down/ack",
        orjson.dumps({"downlink_ack": {"correlation_ids": [f"phare:command:{command_id}"]}}), now)
    assert other_device is not None
    assert network_acks.apply(conn, [other_device], now) == 0
    assert command_row(conn, command_id)["status"] == "sent"
    # Downlinks Phare did not send, and garbage, are none of its business.
    assert network_acks.parse("v3/app/devices/d/down/ack",
                              orjson.dumps({"downlink_ack": {"correlation_ids": ["x"]}}), now) is None
    assert network_acks.parse("v3/app/devices/d/down/ack", b"not json", now) is None
    assert network_acks.parse("application/a/device/0011223344556677/event/ack",
                              orjson.dumps({"queueItemId": "pas-un-uuid"}), now) is None
