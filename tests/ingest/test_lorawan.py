"""From a LoRaWAN uplink of a known device to stored values (contract §1.5, §5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ingest.lorawan import uplink_values
from ingest.model import Decoded, Reason, Uplink
from ingest.writer import Writer
from tests.conftest import register_device

TS = datetime(2023, 5, 19, 5, 33, 35, 848446, tzinfo=UTC)


def fields(values: dict, model: str | None = None):
    return uplink_values(Uplink(ts=TS, f_port=85, fields=values, frm_payload=None), model)


def raw(data: str, model: str | None, f_port: int | None = 85):
    return uplink_values(Uplink(ts=TS, f_port=f_port, fields=None,
                                frm_payload=bytes.fromhex(data)), model)


def test_model_mapping_names_values_as_the_catalogue():
    values, rejections, ignored = fields(
        {"battery": 92, "temperature": 30.8, "humidity": 50.5, "leakage_status": "leak"},
        "milesight-em300-sld")
    assert values == [(TS, "battery_pct", 92.0), (TS, "temperature_c", 30.8),
                      (TS, "humidity_pct", 50.5), (TS, "water_detected", 1.0)]
    assert (rejections, ignored) == ([], 0)


def test_without_a_model_values_keep_their_names_nested_are_flattened_texts_ignored():
    values, rejections, ignored = fields({
        "temperature": 21.5, "door": True, "gps": {"lat": 45.03, "fix": "3d"},
        "label": "salle", "samples": [1, 2], "missing": None,
    })
    assert values == [(TS, "temperature", 21.5), (TS, "door", 1.0), (TS, "gps.lat", 45.03)]
    assert rejections == []
    assert ignored == 4  # gps.fix, label, samples, missing


def test_unknown_state_text_is_ignored_and_counted():
    values, _, ignored = fields({"leakage_status": "unknown"}, "milesight-em300-sld")
    assert (values, ignored) == ([], 1)


def test_invalid_metric_name_is_rejected_and_neighbours_kept():
    values, rejections, _ = fields({"1st": 1, "ok": 2})
    assert values == [(TS, "ok", 2.0)]
    assert [(r.reason, r.detail) for r in rejections] == [
        (Reason.INVALID_METRIC_NAME, "metric name '1st' is not valid")]


def test_raw_frame_is_decoded_by_the_model_codec():
    values, rejections, ignored = raw("01756403770200", "milesight-em500-swl")
    assert values == [(TS, "battery_pct", 100.0), (TS, "water_level_cm", 2.0)]
    assert (rejections, ignored) == ([], 0)


def test_history_records_are_stored_at_their_own_time():
    values, rejections, _ = raw("20ce9e74466310015d01", "Milesight-EM300-SLD")
    at = datetime.fromtimestamp(1665561758, UTC)
    assert values == [(at, "temperature_c", 27.2), (at, "humidity_pct", 46.5),
                      (at, "water_detected", 1.0)]
    assert rejections == []


@pytest.mark.parametrize(
    ("model", "words"),
    [
        pytest.param(None, "the device has no model, so it has no codec in Phare", id="no-model"),
        pytest.param("the-things-uno", "its model 'the-things-uno' has no codec in Phare",
                     id="model-without-codec"),
    ],
)
def test_raw_frame_without_codec_is_not_decoded(model, words):
    values, rejections, _ = raw("aa", model, f_port=1)
    assert values == []
    assert [r.reason for r in rejections] == [Reason.NOT_DECODED]
    assert "uplink on FPort 1 came without decoded values" in rejections[0].detail
    assert words in rejections[0].detail
    assert "milesight-em300-sld" in rejections[0].detail  # says which models Phare decodes


def test_codec_error_keeps_the_values_before_it():
    values, rejections, _ = raw("01755c03673401" "0999", "milesight-em300-sld")
    assert values == [(TS, "battery_pct", 92.0), (TS, "temperature_c", 30.8)]
    assert [(r.reason, r.detail) for r in rejections] == [(
        Reason.NOT_DECODED,
        "EM300-SLD payload: unknown channel 0x09 type 0x99 at byte 7 (frame 01755c036734010999)",
    )]


def test_mac_only_uplink_has_nothing_to_decode():
    assert raw("0203", None, f_port=0) == ([], [], 0)
    assert uplink_values(Uplink(TS, None, None, None), None) == ([], [], 0)


@pytest.mark.parametrize(
    ("record", "reason", "words"),
    [
        pytest.param({"timestamp": 1999999999, "battery": 1}, Reason.FUTURE_TS,
                     "later than the uplink", id="future"),
        pytest.param({"timestamp": "yesterday"}, Reason.INVALID_TS, "epoch seconds", id="text"),
        pytest.param(7, Reason.INVALID_READING, "expected an object", id="not-object"),
    ],
)
def test_bad_history_record_is_rejected_alone(record, reason, words):
    values, rejections, _ = fields({"history": [record, {"timestamp": 1665561758, "battery": 90}]},
                                   "milesight-em300-sld")
    assert values == [(datetime.fromtimestamp(1665561758, UTC), "battery_pct", 90.0)]
    assert [r.reason for r in rejections] == [reason]
    assert rejections[0].detail.startswith("history record 0: ") and words in rejections[0].detail


# --- through the writer, against the real database ----------------------------------------
def test_writer_resolves_by_dev_eui_stores_and_counts_ignored_values(conn, tenant):
    eui = uuid.uuid4().hex[:16].upper()
    uid = register_device(conn, tenant, "fuite-9", kind="hazard_detector", dev_eui=eui,
                          model="milesight-em300-sld")
    uplink = Uplink(TS, 85, {"battery": 90, "leakage_status": "leak", "firmware": "v1.2"}, None)
    d = Decoded(topic="v3/app/devices/x/up", payload=b"{}", dev_eui=eui.lower(),
                ns_device_id="x", uplinks=[uplink])
    result = Writer(conn).write([d])
    assert (result.values_stored, result.values_ignored, dict(result.rejected)) == (2, 1, {})
    assert sorted(conn.execute("select metric, value from readings where device_uid = %s",
                               (uid,)).fetchall()) == [("battery_pct", 90.0),
                                                       ("water_detected", 1.0)]


def test_writer_rejects_an_unknown_uplink_device_with_both_identifiers(conn):
    eui = uuid.uuid4().hex[:16].upper()
    d = Decoded(topic="v3/app/devices/x/up", payload=b"{}", dev_eui=eui, ns_device_id="x",
                uplinks=[Uplink(TS, 85, {"battery": 90}, None)])
    result = Writer(conn).write([d])
    assert dict(result.rejected) == {"unknown_device": 1}
    row = conn.execute("select reason, detail, tenant_id, device_id from rejected_messages "
                       "order by id desc limit 1").fetchone()
    assert row == ("unknown_device", f"no device is registered with DevEUI {eui} or "
                   "network-server device id 'x'", None, "x")


def test_rejection_of_an_unreadable_uplink_is_kept_under_its_device_tenant(conn, tenant):
    """The topic names the device: its operators can see (and replay) what it sent."""
    ns_id = f"capteur-{uuid.uuid4().hex[:8]}"
    register_device(conn, tenant, "capteur-2", kind="building_meter", lorawan_id=ns_id)
    d = Decoded(topic=f"v3/app/devices/{ns_id}/up", payload=b"{oops", ns_device_id=ns_id)
    d.reject(Reason.INVALID_JSON, "not valid JSON")
    assert dict(Writer(conn).write([d]).rejected) == {"invalid_json": 1}
    row = conn.execute("select t.slug, r.device_id from rejected_messages r "
                       "join tenants t on t.id = r.tenant_id where r.topic = %s", (d.topic,))
    assert row.fetchall() == [(tenant, "capteur-2")]
