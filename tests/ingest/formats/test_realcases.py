"""Every real-world MQTT sample of tests/fixtures/realcases/, decoded and then end to end.

Each TTS, ChirpStack and SenML sample has one row in `CASES`: its real topic, the device it
needs registered, and exactly what must be stored and rejected. The same row is checked at
the decoder and through a real Mosquitto (published by `mosquitto_pub`) and TimescaleDB.
The samples' times are old (2010-2023): the contract accepts any past time.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from ingest.decode import decode_message
from ingest.lorawan import uplink_values
from tests.conftest import register_device, wait_for
from tests.ingest.formats import REALCASES, realcase

NOW = datetime(2026, 11, 23, 21, 20, tzinfo=UTC)
ARRIVAL = None  # a value stored at the time the message arrived (the sample has no time)

Value = tuple[datetime | None, str, float]


@dataclass(frozen=True)
class Case:
    topic: str                  # {tenant} and {device} are filled in for native topics
    values: list[Value]
    rejected: list[str] = field(default_factory=list)
    kind: str = "hazard_detector"
    dev_eui: str | None = None
    lorawan_id: str | None = None
    model: str | None = None
    registered: bool = True     # False: the message names no device (invalid JSON)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


TTS_MILESIGHT = "v3/application-tts-name@ttn/devices/eui-1000000000000001/up"
TTS_DOCS = "v3/app1@tenant1/devices/dev1/up"
CS_DOCS = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/0101010101010101/event/"
CS_MILESIGHT = "application/ca739e26-7b67-4f14-b69e-d568c22a5a75/device/1000000000000001/event/up"
SENML = "phare/v1/{tenant}/{device}/senml"
T_TTS = ts("2023-05-19T05:33:35.848446+00:00")
T_CS = ts("2023-05-22T07:47:05.404859+00:00")
T_513 = 1320067464
BT_512 = 1.276020076001e09


def _senml_513() -> list[Value]:
    out: list[Value] = []
    for dt, humidity, lon, lat in ((0, 20, 24.30621, 60.07965), (60, 20.3, 24.30622, 60.07965),
                                   (120, 20.7, 24.30623, 60.07966),
                                   (180, 21.2, 24.30628, 60.07967)):
        out += [(at(T_513 + dt), "humidity_pct", humidity), (at(T_513 + dt), "longitude_deg", lon),
                (at(T_513 + dt), "latitude_deg", lat)]
    return out + [(at(T_513 + 150), "battery_pct", 98)]


CASES: dict[str, Case] = {
    "tts_v3_uplink_milesight_em300sld_leak.json": Case(
        TTS_MILESIGHT, dev_eui="1000000000000001", model="milesight-em300-sld",
        values=[(T_TTS, "battery_pct", 92), (T_TTS, "temperature_c", 30.8),
                (T_TTS, "humidity_pct", 50.5), (T_TTS, "water_detected", 0),
                (T_TTS, "rssi_dbm", -35), (T_TTS, "snr_db", 13.2)]),
    "tts_v3_uplink_milesight_em500swl_waterlevel.json": Case(
        TTS_MILESIGHT, dev_eui="1000000000000001", model="milesight-em500-swl",
        values=[(T_TTS, "battery_pct", 100), (T_TTS, "water_level_cm", 2),
                (T_TTS, "rssi_dbm", -35), (T_TTS, "snr_db", 13.2)]),
    # Its DevEUI is registered nowhere: matched by the network server's device id.
    "tts_v3_uplink_data_formats_example.json": Case(
        TTS_DOCS, kind="building_meter", lorawan_id="dev1",
        values=[(ts("2020-02-12T15:15:46.014773+00:00"), m, v) for m, v in
                (("temperature", 1.0), ("luminosity", 0.64), ("rssi_dbm", -35), ("snr_db", 5))]),
    # No decoded_payload, and a model Phare has no codec for: the frame is not decoded.
    "tts_v3_mqtt_uplink_topic_example.json": Case(
        TTS_DOCS, kind="building_meter", dev_eui="4200000000000000", model="the-things-uno",
        values=[(ARRIVAL, "rssi_dbm", -35), (ARRIVAL, "snr_db", 5)], rejected=["not_decoded"]),
    "tts_v3_uplink_data_formats_example_a790856d_INVALID_JSON.json": Case(
        TTS_DOCS, values=[], rejected=["invalid_json"], registered=False),
    "chirpstack_v4_event_up_docs_example.json": Case(
        CS_DOCS + "up", dev_eui="0101010101010101",
        values=[(ts("2022-07-18T09:34:15.775023+00:00"), "rssi_dbm", -36),
                (ts("2022-07-18T09:34:15.775023+00:00"), "snr_db", 10.5)],
        rejected=["not_decoded"]),
    "chirpstack_v4_event_status_docs_example.json": Case(
        CS_DOCS + "status", dev_eui="0101010101010101",
        values=[(ts("2022-07-18T09:35:06.927172+00:00"), "battery_pct", 88.3)]),
    "chirpstack_v4_up_milesight_em300sld_leak.json": Case(
        CS_MILESIGHT, dev_eui="1000000000000001", model="milesight-em300-sld",
        values=[(at(1665561758), "temperature_c", 27.2), (at(1665561758), "humidity_pct", 46.5),
                (at(1665561758), "water_detected", 1),
                (T_CS, "rssi_dbm", -35), (T_CS, "snr_db", 11.5)]),
    "chirpstack_v4_up_milesight_em500swl_waterlevel.json": Case(
        CS_MILESIGHT, dev_eui="1000000000000001", model="milesight-em500-swl",
        values=[(T_CS, "battery_pct", 100), (T_CS, "water_level_cm", 2),
                (T_CS, "rssi_dbm", -35), (T_CS, "snr_db", 11.5)]),
    "senml_rfc8428_s5.1.2_multiple_datapoints_basetime.json": Case(
        SENML, kind="lighting_cabinet",
        values=[(at(BT_512 + dt), "current_a", v)
                for dt, v in ((-5, 1.2), (-4, 1.3), (-3, 1.4), (-2, 1.5), (-1, 1.6))]
        + [(at(BT_512), "voltage_v", 120.1), (at(BT_512), "current_a", 1.7)]),
    "senml_rfc8428_s5.1.3_multiple_measurements.json": Case(SENML, values=_senml_513()),
    "senml_rfc8428_s5.1.4_resolved_of_5.1.3.json": Case(SENML, values=_senml_513()),
    "senml_rfc8428_s5.1.5_multiple_data_types.json": Case(
        SENML, values=[(ARRIVAL, "temperature_c", 23.1), (ARRIVAL, "open", 0)],
        rejected=["invalid_value", "invalid_value"]),
}


def test_every_mqtt_sample_has_a_case():
    samples = {p.name for p in REALCASES.iterdir()
               if p.name.startswith(("tts_", "chirpstack_", "senml_"))
               and ".expected_" not in p.name}
    assert samples == set(CASES)


def sorted_values(values):
    return sorted((t, m, round(float(v), 9)) for t, m, v in values)


@pytest.mark.parametrize("sample", sorted(CASES))
def test_sample_decodes_to_exactly_its_values_and_rejections(sample):
    case = CASES[sample]
    topic = case.topic.format(tenant="saint-flour", device="capteur-1")
    decoded = decode_message(topic, realcase(sample), max_payload_bytes=65536,
                             max_future=timedelta(minutes=10), now=NOW)
    values, rejected = [], []
    for d in decoded:
        rejected += [r.reason.value for r in d.rejections]
        values += d.values
        for uplink in d.uplinks:
            found, problems, _ = uplink_values(uplink, case.model)
            values += found
            rejected += [r.reason.value for r in problems]
    expected = [(t or NOW, m, v) for t, m, v in case.values]
    assert sorted_values(values) == sorted_values(expected)
    assert sorted(rejected) == sorted(case.rejected)


# --- end to end: mosquitto_pub -> Mosquitto -> ingest -> TimescaleDB -----------------------
@pytest.fixture
def devices(conn):
    """Registers devices for one test and removes them after: DevEUIs are platform-unique."""
    uids: list[int] = []

    def register(tenant: str, device_id: str, **kw) -> int:
        uids.append(register_device(conn, tenant, device_id, **kw))
        return uids[-1]

    yield register
    conn.execute("delete from devices where uid = any(%s)", (uids,))


def mosquitto_pub(broker, topic: str, sample: str) -> None:
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                    "-t", topic, "-f", str(REALCASES / sample)], check=True)


def readings(conn, uid: int):
    return conn.execute("select ts, metric, value from readings where device_uid = %s",
                        (uid,)).fetchall()


def rejections_since(conn, marker: int, topic: str):
    return conn.execute(
        "select r.reason, r.detail, t.slug, r.device_id from rejected_messages r "
        "left join tenants t on t.id = r.tenant_id where r.id > %s and r.topic = %s "
        "order by r.id", (marker, topic)).fetchall()


def last_rejection_id(conn) -> int:
    return conn.execute("select coalesce(max(id), 0) from rejected_messages").fetchone()[0]


@pytest.mark.parametrize("sample", sorted(CASES))
def test_sample_published_on_its_real_topic_is_stored(sample, broker, consumer, conn, tenant,
                                                      devices):
    case = CASES[sample]
    topic = case.topic.format(tenant=tenant, device="capteur-1")
    uid = None
    if case.registered:
        extra = {k: v for k, v in (("dev_eui", case.dev_eui), ("lorawan_id", case.lorawan_id),
                                   ("model", case.model)) if v}
        uid = devices(tenant, "capteur-1", kind=case.kind, **extra)
    marker = last_rejection_id(conn)
    started = datetime.now(UTC)
    mosquitto_pub(broker, topic, sample)

    wait_for(lambda: len(rejections_since(conn, marker, topic)) >= len(case.rejected)
             and (uid is None or len(readings(conn, uid)) >= len(case.values)))
    time.sleep(0.2)  # nothing more arrives
    rejected = rejections_since(conn, marker, topic)
    assert sorted(r[0] for r in rejected) == sorted(case.rejected)
    if uid is None:
        assert [r[2] for r in rejected] == [None]  # no device named: kept for the platform
        return
    # Rejections of a registered device are kept under its tenant and id.
    assert all((r[2], r[3]) == (tenant, "capteur-1") for r in rejected)
    stored = readings(conn, uid)
    recent = started - timedelta(seconds=1)  # every sample's own time is years ago
    assert sorted_values(r for r in stored if r[0] < recent) == sorted_values(
        v for v in case.values if v[0] is not ARRIVAL)
    assert sorted((m, v) for t, m, v in stored if t >= recent) == sorted(
        (m, v) for t, m, v in case.values if t is ARRIVAL)
    assert conn.execute("select last_seen is not null from devices where uid = %s",
                        (uid,)).fetchone()[0]


def test_unregistered_dev_eui_is_an_unknown_device(broker, consumer, conn):
    marker = last_rejection_id(conn)
    mosquitto_pub(broker, TTS_MILESIGHT, "tts_v3_uplink_milesight_em500swl_waterlevel.json")
    wait_for(lambda: rejections_since(conn, marker, TTS_MILESIGHT))
    time.sleep(0.2)
    assert rejections_since(conn, marker, TTS_MILESIGHT) == [(
        "unknown_device",
        "no device is registered with DevEUI 1000000000000001 or network-server device id "
        "'eui-1000000000000001'",
        None, "eui-1000000000000001",
    )]


def test_dev_eui_wins_over_device_id_and_registration_is_seen_within_two_seconds(
        broker, consumer, conn, tenant, devices):
    """A device id shared with another device does not steal an uplink its DevEUI names."""
    other = devices(tenant, "autre", dev_eui="ABCDEF0123456789", lorawan_id="eui-1000000000000001")
    marker = last_rejection_id(conn)
    mosquitto_pub(broker, TTS_MILESIGHT, "tts_v3_uplink_milesight_em500swl_waterlevel.json")
    wait_for(lambda: rejections_since(conn, marker, TTS_MILESIGHT))
    assert "another DevEUI: it is another device" in rejections_since(
        conn, marker, TTS_MILESIGHT)[0][1]
    uid = devices(tenant, "niveau-1", dev_eui="1000000000000001", model="milesight-em500-swl")
    time.sleep(2.0)
    mosquitto_pub(broker, CS_MILESIGHT, "chirpstack_v4_up_milesight_em500swl_waterlevel.json")
    wait_for(lambda: len(readings(conn, uid)) == 4)
    assert readings(conn, other) == []
