"""SenML packs (RFC 8428) on the native `senml` channel: resolution, naming, partial acceptance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest.decode import decode_message
from ingest.formats import senml
from ingest.model import Reason
from tests.ingest.formats import realcase

NOW = datetime(2026, 11, 23, 21, 20, tzinfo=UTC)
TOPIC = "phare/v1/saint-flour/station-3/senml"


def decode(payload: bytes | list):
    if not isinstance(payload, bytes):
        payload = orjson.dumps(payload)
    (d,) = decode_message(TOPIC, payload, max_payload_bytes=65536,
                          max_future=timedelta(minutes=10), now=NOW)
    assert (d.tenant, d.device_id) == ("saint-flour", "station-3")
    return d


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_resolving_5_1_3_gives_the_rfc_resolved_form_5_1_4():
    pack = orjson.loads(realcase("senml_rfc8428_s5.1.3_multiple_measurements.json"))
    golden = orjson.loads(realcase("senml_rfc8428_s5.1.4_resolved_of_5.1.3.json"))
    records, problems = senml.resolve(pack, NOW.timestamp())
    assert problems == []
    assert [r.to_json() for r in records] == golden


def test_a_resolved_pack_resolves_to_itself():
    golden = orjson.loads(realcase("senml_rfc8428_s5.1.4_resolved_of_5.1.3.json"))
    records, _ = senml.resolve(golden, NOW.timestamp())
    assert [r.to_json() for r in records] == golden


@pytest.mark.parametrize("sample", ["senml_rfc8428_s5.1.3_multiple_measurements.json",
                                    "senml_rfc8428_s5.1.4_resolved_of_5.1.3.json"])
def test_multiple_measurements_named_by_their_units(sample):
    d = decode(realcase(sample))
    t0 = 1320067464
    assert d.rejections == []
    assert d.values == [
        (at(t0), "humidity_pct", 20.0), (at(t0), "longitude_deg", 24.30621),
        (at(t0), "latitude_deg", 60.07965),
        (at(t0 + 60), "humidity_pct", 20.3), (at(t0 + 60), "longitude_deg", 24.30622),
        (at(t0 + 60), "latitude_deg", 60.07965),
        (at(t0 + 120), "humidity_pct", 20.7), (at(t0 + 120), "longitude_deg", 24.30623),
        (at(t0 + 120), "latitude_deg", 60.07966),
        (at(t0 + 150), "battery_pct", 98.0),
        (at(t0 + 180), "humidity_pct", 21.2), (at(t0 + 180), "longitude_deg", 24.30628),
        (at(t0 + 180), "latitude_deg", 60.07967),
    ]


def test_multiple_datapoints_with_base_time_and_base_unit():
    d = decode(realcase("senml_rfc8428_s5.1.2_multiple_datapoints_basetime.json"))
    bt = 1.276020076001e09
    assert d.rejections == []
    assert d.values == [
        (at(bt - 5), "current_a", 1.2), (at(bt - 4), "current_a", 1.3),
        (at(bt - 3), "current_a", 1.4), (at(bt - 2), "current_a", 1.5),
        (at(bt - 1), "current_a", 1.6), (at(bt), "voltage_v", 120.1), (at(bt), "current_a", 1.7),
    ]


def test_multiple_data_types_texts_and_data_are_rejected_per_record():
    d = decode(realcase("senml_rfc8428_s5.1.5_multiple_data_types.json"))
    assert d.values == [(NOW, "temperature_c", 23.1), (NOW, "open", 0.0)]  # no time: "now"
    assert [(r.reason, r.detail) for r in d.rejections] == [
        (Reason.INVALID_VALUE, "record 1: metric 'label': text ('vs') 'Machine Room' is not "
                               "stored: Phare stores numbers and booleans"),
        (Reason.INVALID_VALUE, "record 3: metric 'nfv-reader': binary data ('vd') 'aGkgCg' is "
                               "not stored: Phare stores numbers and booleans"),
    ]


def test_relative_times_base_value_and_sum():
    d = decode([{"bn": "urn:dev:mac:0024befffe804ff1/", "bt": -120, "bv": 100, "bu": "kWh"},
                {"n": "energy", "v": 2.5},
                {"n": "energy", "t": 60, "v": 3, "s": 40, "ut": 300},
                {"n": "flow", "u": "m3/s", "t": 120, "v": 0.01, "bv": 0}])  # bv reset
    assert d.rejections == []
    assert d.values == [
        (NOW - timedelta(seconds=120), "energy_kwh", 102.5),
        (NOW - timedelta(seconds=60), "energy_kwh", 103.0),
        (NOW - timedelta(seconds=60), "energy_kwh_sum", 40.0),
        (NOW, "flow_m3_s", 0.01),
    ]


@pytest.mark.parametrize(
    ("record", "metric"),
    [
        ({"n": "temp", "u": "Cel"}, "temperature_c"),
        ({"n": "Temperature", "u": "Cel"}, "temperature_c"),
        ({"n": "water", "u": "Cel"}, "water_c"),
        ({"n": "co2", "u": "ppm"}, "co2_ppm"),
        ({"n": "noise_level", "u": "dB"}, "noise_level_db"),
        ({"n": "water_level", "u": "cm"}, "water_level_cm"),
        ({"n": "ambient", "u": "lx"}, "ambient_lux"),
        ({"n": "power_w", "u": "W"}, "power_w"),
        ({"n": "voltage_l1", "u": "V"}, "voltage_l1_v"),
        ({"n": "dimming", "u": "%"}, "dimming_pct"),
        ({"n": "room/1/temp", "u": "K"}, "room_1_temp_k"),
        ({"n": "occupancy", "u": "count"}, "occupancy"),
        ({"n": "output_on"}, "output_on"),
        ({"u": "W"}, "power_w"),
        ({"u": "%EL"}, "battery_pct"),
        ({"u": "dBm"}, "rssi_dbm"),
    ],
    ids=lambda x: x if isinstance(x, str) else "-".join(map(str, x.values())),
)
def test_metric_names_follow_the_unit_table(record, metric):
    d = decode([{"bn": "urn:dev:ow:10e2073a01080063:", "v": 1, **record}])
    assert [m for _, m, _ in d.values] == [metric]


@pytest.mark.parametrize(
    ("pack", "reason", "words"),
    [
        pytest.param({"n": "temp", "v": 1}, Reason.INVALID_READING,
                     "a SenML pack is a JSON array of records", id="not-array"),
        pytest.param([{"n": "temp", "v": 1, "unit_": "x"}], Reason.UNSUPPORTED_FORMAT,
                     "record 0: field 'unit_' must be understood", id="must-understand"),
        pytest.param([{"bver": 11, "n": "temp", "v": 1}], Reason.UNSUPPORTED_FORMAT,
                     "SenML version 11 is newer than version 10", id="version"),
        pytest.param([{"bver": 5, "n": "a", "v": 1}, {"bver": 10, "n": "b", "v": 1}],
                     Reason.INVALID_READING, "share one version", id="mixed-versions"),
    ],
)
def test_whole_pack_refusals(pack, reason, words):
    d = decode(pack)
    assert d.values == []
    assert [r.reason for r in d.rejections] == [reason]
    assert words in d.rejections[0].detail


def test_bad_record_is_rejected_alone():
    d = decode([{"bn": "dev:", "n": "a", "v": 1},
                {"n": "b", "v": 1, "vb": True},
                {"n": "c", "v": "12"},
                {"n": "d e", "v": 1},
                {"n": "e", "vb": "yes"},
                {"n": "f", "t": 2e9, "v": 1},
                {"v": 1},
                7,
                {"n": "g", "v": 2}])
    assert [(m, v) for _, m, v in d.values] == [("a", 1.0), ("g", 2.0)]
    assert [(r.reason, r.detail.split(":")[0]) for r in d.rejections] == [
        (Reason.INVALID_READING, "record 1"),
        (Reason.INVALID_VALUE, "record 2"),
        (Reason.INVALID_METRIC_NAME, "record 3"),
        (Reason.INVALID_VALUE, "record 4"),
        (Reason.INVALID_READING, "record 7"),
        (Reason.INVALID_METRIC_NAME, "record 6"),  # resolved records come in time order
        (Reason.FUTURE_TS, "record 5"),
    ]
    assert "'dev:' names the device, not a measurement, and has no unit" in d.rejections[5].detail


def test_bad_base_field_stops_the_rest_of_the_pack():
    d = decode([{"n": "a", "v": 1}, {"bt": "hier", "n": "b", "v": 2}, {"n": "c", "v": 3}])
    assert [m for _, m, _ in d.values] == ["a"]
    assert [(r.reason, r.detail) for r in d.rejections] == [(
        Reason.INVALID_TS,
        "record 1: 'bt' must be a finite number, got 'hier'; records 1 to 2 are not stored")]


def test_invalid_json_is_rejected():
    d = decode(b"[{")
    assert [r.reason for r in d.rejections] == [Reason.INVALID_JSON]
