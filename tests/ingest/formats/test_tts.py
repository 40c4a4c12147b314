"""The Things Stack v3 uplinks: identifiers, time, values and raw frames (contract §1.5, §5)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest.decode import decode_message
from ingest.lorawan import uplink_values
from ingest.model import Reason, Uplink
from tests.ingest.formats import realcase

NOW = datetime(2026, 11, 23, 21, 20, tzinfo=UTC)
TOPIC = "v3/app1@tenant1/devices/dev1/up"


def decode(payload: bytes, topic: str = TOPIC):
    return decode_message(topic, payload, max_payload_bytes=65536,
                          max_future=timedelta(minutes=10), now=NOW)


def one(payload: bytes, topic: str = TOPIC):
    decoded = decode(payload, topic)
    assert len(decoded) == 1
    return decoded[0]


def test_data_formats_example_with_decoded_payload():
    d = one(realcase("tts_v3_uplink_data_formats_example.json"))
    ts = datetime(2020, 2, 12, 15, 15, 46, 14773, tzinfo=UTC)  # received_at, ns cut to µs
    assert (d.dev_eui, d.ns_device_id, d.tenant, d.rejections) == ("0004A30B001C0530", "dev1",
                                                                    None, [])
    assert d.uplinks == [
        Uplink(ts, None, {"temperature": 1.0, "luminosity": 0.64}, base64.b64decode("gkHe")),
        Uplink(ts, None, {"rssi_dbm": -35, "snr_db": 5}, None),
    ]
    values = [v for u in d.uplinks for v in uplink_values(u, None)[0]]
    assert values == [(ts, "temperature", 1.0), (ts, "luminosity", 0.64),
                      (ts, "rssi_dbm", -35.0), (ts, "snr_db", 5.0)]


def test_mqtt_topic_example_without_received_at_or_decoded_payload():
    d = one(realcase("tts_v3_mqtt_uplink_topic_example.json"))
    assert (d.dev_eui, d.ns_device_id) == ("4200000000000000", "dev1")
    main, signal = d.uplinks
    assert main == Uplink(NOW, 15, None, b"Temperature = 0.0")  # arrival time, raw frame
    assert signal.fields == {"rssi_dbm": -35, "snr_db": 5}
    _, rejections, _ = uplink_values(main, None)
    assert [r.reason for r in rejections] == [Reason.NOT_DECODED]


@pytest.mark.parametrize("topic", ["v3/application-tts-name@ttn/devices/eui-1000000000000001/up",
                                   "v3/application-tts-name/devices/eui-1000000000000001/up"])
def test_milesight_em300_sld_raw_uplink(topic):
    d = one(realcase("tts_v3_uplink_milesight_em300sld_leak.json"), topic)
    ts = datetime(2023, 5, 19, 5, 33, 35, 848446, tzinfo=UTC)
    assert (d.dev_eui, d.ns_device_id) == ("1000000000000001", "eui-1000000000000001")
    assert d.uplinks[0] == Uplink(ts, 85, None, bytes.fromhex("01755c03673401046865050000"))
    values = [v for u in d.uplinks for v in uplink_values(u, "milesight-em300-sld")[0]]
    assert values == [(ts, "battery_pct", 92.0), (ts, "temperature_c", 30.8),
                      (ts, "humidity_pct", 50.5), (ts, "water_detected", 0.0),
                      (ts, "rssi_dbm", -35.0), (ts, "snr_db", 13.2)]


def test_milesight_em500_swl_raw_uplink():
    d = one(realcase("tts_v3_uplink_milesight_em500swl_waterlevel.json"),
            "v3/application-tts-name@ttn/devices/eui-1000000000000001/up")
    values = [(m, v) for u in d.uplinks for _, m, v in uplink_values(u, "milesight-em500-swl")[0]]
    assert values == [("battery_pct", 100.0), ("water_level_cm", 2.0), ("rssi_dbm", -35.0),
                      ("snr_db", 13.2)]


def test_invalid_json_sample_is_rejected_with_its_position():
    d = one(realcase("tts_v3_uplink_data_formats_example_a790856d_INVALID_JSON.json"))
    assert d.uplinks == [] and d.ns_device_id == "dev1"
    assert [r.reason for r in d.rejections] == [Reason.INVALID_JSON]
    assert d.rejections[0].detail == ("not valid JSON: unexpected character, expected ',' or '}': "
                                      "line 79 column 5 (char 2017)")


def uplink(dev_eui: str | None, device_id: str, **message) -> dict:
    ids = {"device_id": device_id, **({"dev_eui": dev_eui} if dev_eui else {})}
    return {"end_device_ids": ids, "received_at": "2026-11-23T21:00:00.123456789Z",
            "uplink_message": {"f_port": 2, **message}}


def test_backlog_array_gives_one_decoded_per_device_and_names_bad_items():
    doc = [uplink("a000000000000001", "a", decoded_payload={"t": 1}),
           uplink("a000000000000002", "b", decoded_payload={"t": 2}),
           uplink("a000000000000001", "a", decoded_payload={"t": 3}),
           {"end_device_ids": {"device_id": "c"}}]
    decoded = decode(orjson.dumps(doc), "v3/app/devices/a/up")
    assert [(d.dev_eui, d.ns_device_id, [u.fields for u in d.uplinks]) for d in decoded] == [
        ("A000000000000001", "a", [{"t": 1}, {"t": 3}]),
        ("A000000000000002", "b", [{"t": 2}]),
        (None, "a", []),
    ]
    assert [(r.reason, r.detail) for r in decoded[2].rejections] == [(
        Reason.INVALID_READING,
        "item 3: 'uplink_message' is missing: not an uplink of The Things Stack v3")]


def test_bad_item_of_a_single_device_backlog_stays_with_that_device():
    doc = [uplink(None, "dev1", decoded_payload={"t": 1}), "garbage"]
    (d,) = decode(orjson.dumps(doc))
    assert d.ns_device_id == "dev1" and d.dev_eui is None
    assert [r.detail for r in d.rejections] == ["item 1: expected a JSON object, got 'garbage'"]


def test_empty_decoded_payload_counts_as_none():
    d = one(orjson.dumps(uplink(None, "dev1", decoded_payload={}, frm_payload="qg==")))
    assert d.uplinks[0].fields is None and d.uplinks[0].frm_payload == b"\xaa"


@pytest.mark.parametrize(
    ("doc", "reason", "words"),
    [
        pytest.param(uplink("XYZ", "dev1"), Reason.INVALID_READING,
                     "'end_device_ids.dev_eui' 'XYZ' is not a DevEUI", id="bad-dev-eui"),
        pytest.param({**uplink(None, "dev1"), "received_at": "2026-11-23T22:00:00Z"},
                     Reason.FUTURE_TS, "'received_at' '2026-11-23T22:00:00Z' is more than 10 "
                     "minutes in the future", id="future"),
        pytest.param({**uplink(None, "dev1"), "received_at": "hier"}, Reason.INVALID_TS,
                     "'received_at' 'hier' is not an RFC 3339 time", id="bad-time"),
        pytest.param(uplink(None, "dev1", frm_payload="!!"), Reason.INVALID_READING,
                     "'uplink_message.frm_payload' '!!' is not base64", id="bad-base64"),
        pytest.param(uplink(None, "dev1", f_port=300), Reason.INVALID_READING,
                     "'uplink_message.f_port' must be 0-255", id="bad-fport"),
        pytest.param({"uplink_message": {}}, Reason.INVALID_READING,
                     "'end_device_ids' is missing", id="no-ids"),
    ],
)
def test_malformed_uplink_is_rejected_with_reason(doc, reason, words):
    d = one(orjson.dumps(doc))
    assert d.uplinks == []
    assert [r.reason for r in d.rejections] == [reason]
    assert words in d.rejections[0].detail


def test_uplink_message_received_at_is_the_fallback_time():
    doc = uplink(None, "dev1", decoded_payload={"t": 1},
                 received_at="2026-11-23T20:00:00.5Z")
    del doc["received_at"]
    assert one(orjson.dumps(doc)).uplinks[0].ts == datetime(2026, 11, 23, 20, 0, 0, 500000,
                                                            tzinfo=UTC)


@pytest.mark.parametrize("topic", ["v3/app1/devices/dev1/join", "v3/app1/devices/dev1/down/sent",
                                   "v3/app1@t/devices/dev1/up/extra"])
def test_other_tts_topics_are_not_uplinks(topic):
    d = one(b"{}", topic)
    assert [r.reason for r in d.rejections] == [Reason.UNKNOWN_TOPIC]
