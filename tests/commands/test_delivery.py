"""Routes to devices: LoRaWAN downlinks on the network servers' topics, with their JSON and the
model's frame in base64, checked on the real broker; devices no route reaches."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta

import orjson
import psycopg
import pytest

from commands.delivery import MqttPublisher
from commands.errors import InvalidCommand
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
from devices.messages import format_ts
from tests.commands.conftest import ACTOR, POLICY, Listener, command_row, target
from tests.conftest import wait_for

TTS = {"network_server": "tts", "application_id": "eclairage-cantal", "tenant": "sdec15"}
CHIRPSTACK = {"network_server": "chirpstack",
              "application_id": "4f3d5d92-af2a-4466-9f1e-d2e56b764ea8"}


def dimming_40(conn: psycopg.Connection, device, now: datetime) -> uuid.UUID:  # type: ignore[no-untyped-def]
    order = prepare("set_dimming", {"level_pct": 40, "until": now + timedelta(hours=8)},
                    expires=None, now=now, policy=POLICY)
    return queue_command(conn, device, order, now=now, actor=ACTOR)


def frame_40_until(until: datetime) -> bytes:
    return bytes((0x02, 40)) + int(until.timestamp()).to_bytes(4, "little")


def lora_cabinet(conn: psycopg.Connection, tenant: str, metadata: dict):  # type: ignore[no-untyped-def]
    eui = uuid.uuid4().hex[:16].upper()
    return target(conn, tenant, "armoire-lora-1", metadata={"lorawan": metadata},
                  dev_eui=eui, lorawan_id="armoire-lora-1", model="phare-lora-cabinet")


@pytest.mark.parametrize(("ns_tenant", "app_ref"), [
    pytest.param("sdec15", "eclairage-cantal@sdec15", id="tts-cloud-tenant"),
    pytest.param(None, "eclairage-cantal", id="tts-single-tenant"),
])
def test_a_tts_device_gets_a_down_push_with_the_base64_frame(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, listener: Listener,
        now: datetime, ns_tenant: str | None, app_ref: str) -> None:
    metadata = {k: v for k, v in TTS.items() if k != "tenant" or ns_tenant}
    cabinet = lora_cabinet(conn, tenant, metadata)
    command_id = dimming_40(conn, cabinet, now)
    assert dispatch_due(conn, publisher, now, policy=POLICY).sent == 1

    topic = f"v3/{app_ref}/devices/armoire-lora-1/down/push"
    [message] = wait_for(lambda: listener.on(topic))
    assert message.qos == 1
    assert orjson.loads(message.payload) == {"downlinks": [{
        "f_port": 10,
        "frm_payload": base64.b64encode(frame_40_until(now + timedelta(hours=8))).decode(),
        "priority": "NORMAL",
        "confirmed": True,
        "correlation_ids": [f"phare:command:{command_id}"],
    }]}
    # A LoRaWAN device hears downlinks after its next uplink: the ack may take longer.
    assert command_row(conn, command_id)["next_attempt_at"] == now + timedelta(minutes=10)


def test_a_chirpstack_device_gets_a_command_down_with_the_base64_frame(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, listener: Listener,
        now: datetime) -> None:
    cabinet = lora_cabinet(conn, tenant, CHIRPSTACK)
    command_id = dimming_40(conn, cabinet, now)
    assert dispatch_due(conn, publisher, now, policy=POLICY).sent == 1

    eui = cabinet.dev_eui.lower()
    topic = f"application/{CHIRPSTACK['application_id']}/device/{eui}/command/down"
    [message] = wait_for(lambda: listener.on(topic))
    doc = orjson.loads(message.payload)
    assert doc == {"id": str(command_id), "devEui": eui, "confirmed": True, "fPort": 10,
                   "data": base64.b64encode(frame_40_until(now + timedelta(hours=8))).decode()}


def test_an_emergency_downlink_has_the_highest_priority(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, listener: Listener,
        now: datetime) -> None:
    cabinet = lora_cabinet(conn, tenant, TTS)
    until = now + timedelta(hours=3)
    queue_group(conn, [cabinet], force_on_orders(until, now=now),
                Group(cabinet.tenant_id, "force_on", {}, {"zone": "test"}, reason="test"),
                now=now, actor=ACTOR, source=Source.FORCE_ON, priority=PRIORITY_EMERGENCY)
    assert dispatch_due(conn, publisher, now, policy=POLICY).sent == 2
    topic = "v3/eclairage-cantal@sdec15/devices/armoire-lora-1/down/push"
    pushes = wait_for(lambda: len(listener.on(topic)) == 2 and listener.on(topic))
    downlinks = [orjson.loads(m.payload)["downlinks"][0] for m in pushes]
    assert {d["priority"] for d in downlinks} == {"HIGHEST"}
    stamp = int(until.timestamp()).to_bytes(4, "little")
    assert sorted(base64.b64decode(d["frm_payload"]) for d in downlinks) == [
        bytes((0x01, 1)) + stamp, bytes((0x02, 100)) + stamp]


def test_a_native_device_gets_the_contract_command_object(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, listener: Listener,
        now: datetime) -> None:
    cabinet = target(conn, tenant, "armoire-1")
    command_id = dimming_40(conn, cabinet, now)
    dispatch_due(conn, publisher, now, policy=POLICY)
    [message] = wait_for(lambda: listener.on(f"phare/v1/{tenant}/armoire-1/cmd"))
    assert orjson.loads(message.payload) == {
        "id": str(command_id), "type": "set_dimming",
        "params": {"level_pct": 40, "until": format_ts(now + timedelta(hours=8))},
        "ts": format_ts(now), "expires": format_ts(now + timedelta(hours=1))}


@pytest.mark.parametrize(("metadata", "extra", "words"), [
    pytest.param(None, {"model": "phare-lora-cabinet"}, "metadata lacks 'lorawan'",
                 id="no-lorawan-metadata"),
    pytest.param({"network_server": "loriot", "application_id": "a"}, {}, "'tts' or 'chirpstack'",
                 id="unknown-network-server"),
    pytest.param({"network_server": "tts"}, {"model": "phare-lora-cabinet"},
                 "lorawan.application_id", id="no-application"),
    pytest.param(TTS, {"model": "milesight-em300-sld"}, "no downlink encoding",
                 id="model-without-downlinks"),
])
def test_a_lorawan_device_that_says_too_little_cannot_take_commands(
        conn: psycopg.Connection, tenant: str, now: datetime, metadata: dict | None,
        extra: dict, words: str) -> None:
    cabinet = target(conn, tenant, "armoire-lora-2", dev_eui=uuid.uuid4().hex[:16].upper(),
                     lorawan_id="armoire-lora-2",
                     metadata={"lorawan": metadata} if metadata else {}, **extra)
    order = prepare("switch", {"on": True}, expires=None, now=now, policy=POLICY)
    with pytest.raises(InvalidCommand, match=words) as caught:
        queue_command(conn, cabinet, order, now=now, actor=ACTOR)
    assert caught.value.field == "device"
    assert conn.execute("select count(*) from commands").fetchone() == (0,)


def test_in_a_group_an_unreachable_device_fails_alone_saying_why(
        conn: psycopg.Connection, tenant: str, publisher: MqttPublisher, now: datetime) -> None:
    good = target(conn, tenant, "armoire-1")
    bad = target(conn, tenant, "armoire-lora-3", dev_eui=uuid.uuid4().hex[:16].upper(),
                 model="phare-lora-cabinet")
    order = prepare("switch", {"on": True}, expires=None, now=now, policy=POLICY)
    queued = queue_group(conn, [good, bad], [order],
                         Group(good.tenant_id, "switch", order.params, {"tenant": tenant}),
                         now=now, actor=ACTOR)
    assert queued.undeliverable == 1
    rows = dict(conn.execute(
        "select d.id, c.status from commands c join devices d on d.uid = c.device_uid"))
    assert rows == {"armoire-1": "queued", "armoire-lora-3": "failed"}
    [detail] = conn.execute(
        "select detail from commands where status = 'failed'").fetchone()  # type: ignore[misc]
    assert detail["reason"] == "undeliverable" and "metadata lacks 'lorawan'" in detail["cause"]
    assert dispatch_due(conn, publisher, now, policy=POLICY).sent == 1
