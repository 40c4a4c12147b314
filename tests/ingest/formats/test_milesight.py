"""Milesight codecs, byte for byte against the real uplinks of tests/fixtures/realcases/."""

from __future__ import annotations

import base64

import orjson
import pytest

from devices import models
from devices.catalogue import KINDS
from devices.codecs import CODECS, CodecError
from tests.ingest.formats import realcase

EM300 = CODECS["milesight-em300-sld"]
EM500 = CODECS["milesight-em500-swl"]


def frame_of(sample: str) -> bytes:
    doc = orjson.loads(realcase(sample))
    raw = doc["uplink_message"]["frm_payload"] if "uplink_message" in doc else doc["data"]
    return base64.b64decode(raw)


def thingsboard(sample: str) -> list[dict]:
    return orjson.loads(realcase(sample.replace(".json", ".expected_thingsboard.json")))["telemetry"]


def test_em300_sld_periodic_report():
    data = frame_of("tts_v3_uplink_milesight_em300sld_leak.json")
    assert data.hex() == "01755c03673401046865050000"
    values = EM300.decode(85, data)
    assert values == {"battery": 92, "temperature": 30.8, "humidity": 50.5,
                      "leakage_status": "normal"}
    assert values == thingsboard("tts_v3_uplink_milesight_em300sld_leak.json")[0]["values"]
    assert EM300.encode(values) == data


def test_em300_sld_history_record_and_the_upstream_humidity_bug():
    data = frame_of("chirpstack_v4_up_milesight_em300sld_leak.json")
    assert data.hex() == "20ce9e74466310015d01"
    values = EM300.decode(85, data)
    assert values == {"history": [{"timestamp": 1665561758, "temperature": 27.2,
                                   "humidity": 46.5, "leakage_status": "leak"}]}
    assert EM300.encode(values) == data
    # ThingsBoard's converter reads the humidity at the record's first byte (0x9e / 2 = 79.0)
    # instead of offset +6 (0x5d / 2 = 46.5): its expected file must not be copied there.
    expected = thingsboard("chirpstack_v4_up_milesight_em300sld_leak.json")[1]
    assert expected["values"]["humidity"] == 79.0 == data[2] / 2
    assert expected["ts"] == 1665561758 * 1000
    assert expected["values"]["temperature"] == 27.2
    assert expected["values"]["leakage_status"] == "leak"


@pytest.mark.parametrize("sample", ["tts_v3_uplink_milesight_em500swl_waterlevel.json",
                                    "chirpstack_v4_up_milesight_em500swl_waterlevel.json"])
def test_em500_swl_water_level(sample):
    data = frame_of(sample)
    assert data.hex() == "01756403770200"
    values = EM500.decode(85, data)
    assert values == {"battery": 100, "water_level": 2}
    assert values == thingsboard(sample)[-1]["values"]
    assert EM500.encode(values) == data


def test_em500_swl_history_and_sensor_faults():
    data = bytes.fromhex("20ce9e7446632c01" "0377ffff")
    assert EM500.decode(None, data) == {
        "history": [{"timestamp": 1665561758, "water_level": 300}],
        "water_level_error": "collection failed",
    }
    assert EM500.decode(85, bytes.fromhex("0377fdff")) == {"water_level_error": "out of range"}
    history = {"history": [{"timestamp": 1665561758, "water_level": 300}]}
    assert EM500.encode(history) == bytes.fromhex("20ce9e7446632c01")


def test_device_information_frame_decodes_to_texts():
    data = bytes.fromhex("ff0bff" "ff0101" "ff166136c19146280000" "ff090100" "ff0a0114" "ff0f00")
    assert EM300.decode(85, data) == {
        "device_status": "on", "ipso_version": "v0.1", "sn": "6136c19146280000",
        "hardware_version": "v1.0", "firmware_version": "v1.20", "lorawan_class": "Class A",
    }


@pytest.mark.parametrize(
    ("data", "message", "partial"),
    [
        pytest.param("01755c03673401" "0999", "EM300-SLD payload: unknown channel 0x09 type 0x99 "
                     "at byte 7", {"battery": 92, "temperature": 30.8}, id="unknown-channel"),
        pytest.param("01755c0367", "EM300-SLD payload: channel 0x03 type 0x67 at byte 3 needs 2 "
                     "bytes, 0 left", {"battery": 92}, id="truncated"),
        pytest.param("01755c05", "EM300-SLD payload: a lone byte 0x05 at byte 3", {"battery": 92},
                     id="lone-byte"),
    ],
)
def test_unreadable_frames_say_where_and_keep_what_came_before(data, message, partial):
    with pytest.raises(CodecError) as caught:
        EM300.decode(85, bytes.fromhex(data))
    assert str(caught.value).startswith(message)
    assert caught.value.partial == partial


def test_other_fport_is_refused():
    with pytest.raises(CodecError, match="EM300-SLD sends its data on FPort 85, not FPort 1"):
        EM300.decode(1, bytes.fromhex("aa"))


@pytest.mark.parametrize(
    ("values", "words"),
    [
        pytest.param({"battery": 300}, "battery 300 does not fit", id="out-of-range"),
        pytest.param({"leakage_status": "wet"}, "'wet' is not 'normal', 'leak'", id="bad-state"),
        pytest.param({"pressure": 1}, "cannot encode 'pressure'", id="unknown-field"),
        pytest.param({"history": [{"timestamp": 1}]}, "history record lacks temperature",
                     id="short-history"),
    ],
)
def test_encode_refuses_what_a_device_cannot_send(values, words):
    with pytest.raises(CodecError, match=words):
        EM300.encode(values)


def test_encode_accepts_numbers_and_booleans_for_states():
    assert EM300.encode({"leakage_status": True}) == bytes.fromhex("050001")
    assert EM300.encode({"leakage_status": 0}) == bytes.fromhex("050000")


@pytest.mark.parametrize("model", sorted(models.MODELS), ids=str)
def test_models_name_existing_kinds_codecs_and_catalogue_metrics(model):
    spec = models.MODELS[model]
    assert spec.kind in KINDS
    assert spec.codec is None or spec.codec in CODECS
    every_metric = {m for kind in KINDS.values() for m in kind.metric_names}
    assert set(spec.metrics.values()) <= every_metric
    assert set(spec.states) <= set(spec.metrics)
    assert models.get(model.upper()) is spec
