"""ChirpStack v4 events: up and status decoded, the other events ignored (contract §1.5, §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest.decode import decode_message
from ingest.lorawan import uplink_values
from ingest.model import Reason, Uplink
from tests.ingest.formats import realcase

NOW = datetime(2026, 11, 23, 21, 20, tzinfo=UTC)
DOCS_APP = "17c82e96-be03-4f38-aef3-f83d48582d97"
MILESIGHT_APP = "ca739e26-7b67-4f14-b69e-d568c22a5a75"


def topic(event: str, dev_eui: str = "0101010101010101", app: str = DOCS_APP) -> str:
    return f"application/{app}/device/{dev_eui}/event/{event}"


def decode(payload: bytes, event: str = "up", **kw):
    return decode_message(topic(event, **kw), payload, max_payload_bytes=65536,
                          max_future=timedelta(minutes=10), now=NOW)


def one(payload: bytes, event: str = "up", **kw):
    decoded = decode(payload, event, **kw)
    assert len(decoded) == 1
    return decoded[0]


def values_of(decoded, model: str | None = None):
    return [v for u in decoded.uplinks for v in uplink_values(u, model)[0]]


def test_docs_up_event_raw_frame():
    d = one(realcase("chirpstack_v4_event_up_docs_example.json"))
    ts = datetime(2022, 7, 18, 9, 34, 15, 775023, tzinfo=UTC)
    assert (d.dev_eui, d.ns_device_id, d.rejections) == ("0101010101010101", "Test device", [])
    assert d.uplinks == [Uplink(ts, 1, None, b"\xaa"),
                         Uplink(ts, None, {"rssi_dbm": -36, "snr_db": 10.5}, None)]
    assert [r.reason for r in uplink_values(d.uplinks[0], None)[1]] == [Reason.NOT_DECODED]
    assert values_of(d) == [(ts, "rssi_dbm", -36.0), (ts, "snr_db", 10.5)]


def test_docs_status_event_battery():
    d = one(realcase("chirpstack_v4_event_status_docs_example.json"), "status")
    ts = datetime(2022, 7, 18, 9, 35, 6, 927172, tzinfo=UTC)
    assert (d.dev_eui, d.ns_device_id) == ("0101010101010101", "Test device")
    assert values_of(d) == [(ts, "battery_pct", 88.3)]  # margin is not stored


@pytest.mark.parametrize("flag", ["batteryLevelUnavailable", "externalPowerSource"])
def test_status_without_a_battery_level_holds_nothing(flag):
    doc = orjson.loads(realcase("chirpstack_v4_event_status_docs_example.json"))
    assert decode(orjson.dumps({**doc, flag: True}), "status") == []


@pytest.mark.parametrize("event", ["join", "ack", "txack", "log", "location", "integration"])
def test_other_events_are_ignored(event):
    assert decode(realcase("chirpstack_v4_event_up_docs_example.json"), event) == []


def test_milesight_em300_sld_history_record():
    d = one(realcase("chirpstack_v4_up_milesight_em300sld_leak.json"),
            dev_eui="1000000000000001", app=MILESIGHT_APP)
    assert (d.dev_eui, d.ns_device_id) == ("1000000000000001", "Device name")
    at = datetime.fromtimestamp(1665561758, UTC)
    received = datetime(2023, 5, 22, 7, 47, 5, 404859, tzinfo=UTC)
    assert values_of(d, "milesight-em300-sld") == [
        (at, "temperature_c", 27.2), (at, "humidity_pct", 46.5), (at, "water_detected", 1.0),
        (received, "rssi_dbm", -35.0), (received, "snr_db", 11.5),
    ]


def test_milesight_em500_swl():
    d = one(realcase("chirpstack_v4_up_milesight_em500swl_waterlevel.json"),
            dev_eui="1000000000000001", app=MILESIGHT_APP)
    ts = datetime(2023, 5, 22, 7, 47, 5, 404859, tzinfo=UTC)
    assert values_of(d, "milesight-em500-swl") == [
        (ts, "battery_pct", 100.0), (ts, "water_level_cm", 2.0),
        (ts, "rssi_dbm", -35.0), (ts, "snr_db", 11.5),
    ]


def test_object_from_the_device_profile_codec_is_used():
    doc = orjson.loads(realcase("chirpstack_v4_event_up_docs_example.json"))
    doc["object"] = {"temperature": 19.5, "leak": False}
    d = one(orjson.dumps(doc))
    assert d.uplinks[0].fields == {"temperature": 19.5, "leak": False}
    assert [(m, v) for _, m, v in values_of(d)][:2] == [("temperature", 19.5), ("leak", 0.0)]


def test_topic_dev_eui_when_device_info_is_absent():
    d = one(b'{"time": "2026-11-23T21:00:00Z", "fPort": 85, "data": "AXVk"}',
            dev_eui="a84041000181c2f1")
    assert (d.dev_eui, d.ns_device_id) == ("A84041000181C2F1", None)
    assert d.uplinks == [Uplink(datetime(2026, 11, 23, 21, tzinfo=UTC), 85, None,
                                bytes.fromhex("017564"))]


def test_protobuf_payload_is_rejected_with_a_hint():
    d = one(b"\x0a\x24\x33\x61\x63\x37\x65\x33\x63\x34")
    assert [r.reason for r in d.rejections] == [Reason.INVALID_JSON]
    assert "is ChirpStack's MQTT integration set to JSON?" in d.rejections[0].detail


@pytest.mark.parametrize(
    ("payload", "event", "reason", "words"),
    [
        pytest.param(b'{"time": "2030-01-01T00:00:00+00:00", "data": "qg=="}', "up",
                     Reason.FUTURE_TS, "'time'", id="future"),
        pytest.param(b'{"deviceInfo": {"devEui": "01"}, "data": "qg=="}', "up",
                     Reason.INVALID_READING, "'deviceInfo.devEui' '01' is not a DevEUI",
                     id="bad-dev-eui"),
        pytest.param(b'{"batteryLevel": "full"}', "status", Reason.INVALID_VALUE,
                     "'batteryLevel' must be a number", id="bad-battery"),
    ],
)
def test_malformed_event_is_rejected_with_reason(payload, event, reason, words):
    d = one(payload, event)
    assert d.uplinks == []
    assert [r.reason for r in d.rejections] == [reason]
    assert words in d.rejections[0].detail


def test_topic_with_a_bad_dev_eui_is_rejected():
    d = one(b"{}", dev_eui="not-an-eui")
    assert [r.reason for r in d.rejections] == [Reason.INVALID_READING]
    assert "the topic's DevEUI 'not-an-eui'" in d.rejections[0].detail
