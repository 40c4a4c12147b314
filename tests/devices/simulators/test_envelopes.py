"""Envelopes of simulated devices (TTS v3, ChirpStack v4, SenML), read back by Phare's ingest."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest

from api.models import DeviceCreate
from devices import models
from devices.catalogue import KINDS, Channel
from devices.codecs import CODECS
from devices.messages import Event, MetricValue, Reading, Status
from devices.simulators.base import Fault, SimDevice
from devices.simulators.envelopes import (
    EVENT_METRICS,
    airtime_us,
    chirpstack_v4,
    dev_eui_for,
    lorawan_id_for,
    lorawan_spec,
    senml,
    senml_unit,
    tts_v3,
)
from devices.simulators.lighting import LightingCabinet
from devices.simulators.runner import Encoder, run
from devices.simulators.water import AcousticLeakSensor, WaterFlowMeter
from ingest.decode import decode_message, subscriptions
from ingest.formats import chirpstack, tts
from ingest.lorawan import uplink_values
from tests.conftest import register_device, wait_for

REALCASES = Path(__file__).resolve().parents[2] / "fixtures" / "realcases"
LAT, LON = 45.0336, 3.0928
STEP = timedelta(minutes=10)
PERIOD = timedelta(hours=26)  # acoustic sensors report once a day
# How far the Milesight codecs round each field: what a raw uplink keeps of a value.
RESOLUTION = {"temperature": 0.05, "humidity": 0.25, "battery": 0.5, "water_level": 0.5,
              "leakage_status": 0.0}
RADIO = {"rssi_dbm", "snr_db"}
# Units of RFC 8428 §12.1 and RFC 8798's secondary units that the SenML encoder may use.
SENML_REGISTERED = {"W", "kWh", "V", "A", "lx", "dB", "dBm", "Cel", "m3", "cm", "ppm", "%",
                    "%RH", "%EL", "/", "count"}


# --- devices of models with a codec (Milesight), which no fleet simulator uses yet -------------
class LeakDetector(SimDevice):
    """A Milesight EM300-SLD under a sink: leaks from `leak[0]` to `leak[1]`, tampered with once."""

    kind = "hazard_detector"
    model = "milesight-em300-sld"
    interval = timedelta(minutes=20)

    def __init__(self, tenant: str, device_id: str, *, leak: tuple[datetime, datetime],
                 tamper: datetime, seed: int = 7) -> None:
        super().__init__(tenant, device_id, f"Détecteur de fuite {device_id}", lat=LAT, lon=LON,
                         seed=seed)
        self.battery_pct = 92.34
        self.battery_drain_pct_per_day = 0.5
        self.rssi_dbm = -97.0
        self.leak = leak
        self.pending = [Event(ts=leak[0], type="water", active=True),
                        Event(ts=tamper, type="tamper", active=True, detail={"lid": "open"}),
                        Event(ts=leak[1], type="water", active=False)]

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        return {"temperature_c": round(19 + 3 * math.sin(t.timestamp() / 7200)
                                       + self.rng.gauss(0, 0.2), 1),
                "water_detected": self.leak[0] <= t < self.leak[1], **self.common_metrics()}

    def events(self, t: datetime) -> list[Event]:
        due = [e for e in self.pending if e.ts <= t]
        self.pending = [e for e in self.pending if e.ts > t]
        return due


class LevelSensor(SimDevice):
    """A Milesight EM500-SWL in a stream: a level, and a temperature its codec does not carry."""

    kind = "hazard_detector"
    model = "milesight-em500-swl"
    interval = timedelta(minutes=30)

    def __init__(self, tenant: str, device_id: str, seed: int = 7) -> None:
        super().__init__(tenant, device_id, f"Sonde de niveau {device_id}", lat=LAT, lon=LON,
                         seed=seed)
        self.battery_pct = 61.8
        self.rssi_dbm = -113.0

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        return {"water_level_cm": round(40 + 12 * math.sin(t.timestamp() / 20000)
                                        + self.rng.gauss(0, 0.3), 1),
                "temperature_c": 8.5, **self.common_metrics()}


def end_of_period() -> datetime:
    """A period that ends a little before now: ingest refuses the future."""
    now = datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0) - STEP


def fleet(tenant: str, end: datetime, *, outage: bool = True) -> list[SimDevice]:
    cabinet = LightingCabinet(tenant, "armoire-01", "Armoire AE01", lat=LAT, lon=LON, seed=3)
    if outage:  # off the network for an hour: an offline status, a backlog when back
        cabinet.add_fault(Fault("offline", end - timedelta(hours=5), end - timedelta(hours=4)))
    return [
        cabinet,
        AcousticLeakSensor(tenant, "acoustique-01", "Capteur acoustique", lat=LAT, lon=LON, seed=3),
        WaterFlowMeter(tenant, "debitmetre-01", "Débitmètre", lat=LAT, lon=LON, seed=3),
        LeakDetector(tenant, "fuite-01", leak=(end - timedelta(hours=3, minutes=5),
                                               end - timedelta(hours=1, minutes=57)),
                     tamper=end - timedelta(hours=3, minutes=1)),
        LevelSensor(tenant, "niveau-01"),
    ]


def simulate(devices: list[SimDevice], start: datetime, end: datetime,
             step: timedelta = STEP) -> list[tuple[SimDevice, Channel, Any]]:
    out = []
    t = start
    while t <= end:
        for device in devices:
            out.extend((device, channel, item) for channel, item in device.step(t))
        t += step
    return out


# --- what the device emitted, and what ingest reads back -------------------------------------
Key = tuple[str, str, datetime]  # device id, metric, time


@dataclass
class Expected:
    values: dict[Key, tuple[float, float]] = field(default_factory=dict)  # -> value, tolerance
    events: set[tuple[str, str, datetime, bool]] = field(default_factory=set)
    statuses: list[tuple[str, bool, datetime]] = field(default_factory=list)
    # Values a network server's envelope adds: (device id, time) -> metrics.
    extra: dict[tuple[str, datetime], set[str]] = field(default_factory=dict)
    # ChirpStack status events: their battery level comes seconds before (device id, time).
    dev_status: set[tuple[str, datetime]] = field(default_factory=set)

    def allow(self, device_id: str, ts: datetime, *metrics: str) -> None:
        self.extra.setdefault((device_id, ts), set()).update(metrics)

    def allowed(self, device_id: str, metric: str, ts: datetime) -> bool:
        if metric in self.extra.get((device_id, ts), set()):
            return True
        return metric == "battery_pct" and any(
            device == device_id and timedelta(0) < status - ts < timedelta(seconds=10)
            for device, status in self.dev_status)


def expected(emitted: list[tuple[SimDevice, Channel, Any]], envelope: str) -> Expected:
    """What ingest must read back: every value the envelope carries, at the device's time."""
    out = Expected()
    for device, _channel, item in emitted:
        spec = models.get(device.model)
        codec = spec is not None and spec.codec is not None and envelope != "senml"
        items = item if isinstance(item, list) else [item]
        for one in items:
            if isinstance(one, Reading):
                if envelope != "senml":  # a wired device is given radio levels
                    out.allow(device.device_id, one.ts, *RADIO)
                for metric, value in one.metrics.items():
                    tolerance = 0.0
                    if codec and metric not in RADIO:
                        assert spec is not None
                        names = {m: f for f, m in spec.metrics.items()}
                        if metric not in names:
                            continue  # the real device does not measure it
                        tolerance = RESOLUTION[names[metric]]
                    out.values[(device.device_id, metric, one.ts)] = (float(value), tolerance)
            elif isinstance(one, Event):
                out.allow(device.device_id, one.ts, *RADIO, *(["battery_pct"] if codec else []))
                if envelope == "senml":
                    out.events.add((device.device_id, one.type, one.ts, one.active))
                    continue
                metric = EVENT_METRICS.get(one.type, one.type)
                if codec and metric not in (spec.metrics.values() if spec else ()):
                    continue
                out.values[(device.device_id, metric, one.ts)] = (float(one.active), 0.0)
            elif isinstance(one, Status):
                if envelope == "chirpstack":  # DevStatusAns
                    out.dev_status.add((device.device_id, one.ts))
                if envelope == "senml":
                    out.statuses.append((device.device_id, one.online, one.ts))
    return out


@dataclass
class ReadBack:
    values: dict[Key, float] = field(default_factory=dict)
    events: set[tuple[str, str, datetime, bool]] = field(default_factory=set)
    statuses: list[tuple[str, bool, datetime]] = field(default_factory=list)
    not_subscribed: list[str] = field(default_factory=list)
    empty: int = 0


def subscribed(topic: str) -> bool:
    return any(mqtt.topic_matches_sub(f, topic) for f in subscriptions())


def read_back(messages: list[tuple[str, bytes]], devices: list[SimDevice]) -> ReadBack:
    """Decodes messages as the consumer and writer do, failing on any rejection."""
    by_eui = {dev_eui_for(d): d for d in devices}
    by_native = {(d.tenant, d.device_id): d for d in devices}
    out = ReadBack()
    for topic, payload in messages:
        if not subscribed(topic):
            out.not_subscribed.append(topic)
            continue
        decoded = decode_message(topic, payload, max_payload_bytes=1_000_000,
                                 max_future=timedelta(minutes=10))
        if not decoded:
            out.empty += 1
        for d in decoded:
            assert d.rejections == [], (topic, d.rejections)
            if d.tenant is not None:
                device = by_native[(d.tenant, d.device_id)]
                for ts, metric, value in d.values:
                    out.values[(device.device_id, metric, ts)] = value
                out.events.update((device.device_id, e.type, e.ts, e.active) for e in d.events)
                if d.status is not None:
                    out.statuses.append((device.device_id, d.status.online, d.status.ts))
                continue
            device = by_eui[d.dev_eui]
            assert d.ns_device_id == lorawan_id_for(device)
            for uplink in d.uplinks:
                values, problems, ignored = uplink_values(uplink, device.model)
                assert (problems, ignored) == ([], 0), (topic, problems)
                for ts, metric, value in values:
                    out.values[(device.device_id, metric, ts)] = value
    return out


def check_round_trip(want: Expected, got: ReadBack, envelope: str) -> None:
    missing = [k for k in want.values if k not in got.values]
    assert not missing, f"{len(missing)} values not read back, e.g. {missing[:3]}"
    wrong = [(k, v, got.values[k]) for k, (v, tol) in want.values.items()
             if abs(got.values[k] - v) > tol + 1e-9]
    assert not wrong, f"{len(wrong)} values differ, e.g. {wrong[:3]}"
    for key, value in got.values.items():
        if key in want.values:
            continue
        device_id, metric, ts = key
        # Only radio levels of uplinks, and the battery levels that a codec or a ChirpStack
        # status event adds, come on top of what the device measured.
        assert want.allowed(device_id, metric, ts), key
        if metric == "battery_pct":
            assert 0 <= value <= 100
    assert got.events == want.events
    assert got.statuses == want.statuses


ENCODERS: dict[str, Callable[[], Encoder]] = {
    "tts": tts_v3,
    "tts-cloud-decoded": lambda: tts_v3("phare-test", ns_tenant="syndicat", raw_models=()),
    "chirpstack": chirpstack_v4,
    "chirpstack-decoded": lambda: chirpstack_v4("0b3e2c4a-7a71-4c1e-9f41-3c8a5ab9e0d1",
                                                raw_models=()),
    "senml": senml,
}


def envelope_of(name: str) -> str:
    return name.split("-")[0]


# --- round trip through ingest -----------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_value_reads_back_through_ingest(name):
    end = end_of_period()
    devices = fleet("saint-flour", end)
    emitted = simulate(devices, end - PERIOD, end)
    encode = ENCODERS[name]()
    messages = [encode(d, channel, item) for d, channel, item in emitted]
    got = read_back(messages, devices)
    want = expected(emitted, envelope_of(name))
    assert len(want.values) > 300
    check_round_trip(want, got, envelope_of(name))
    channels = {channel for _, channel, _ in emitted}
    assert {Channel.TELEMETRY, Channel.EVENT, Channel.STATUS} <= channels
    backlogs = [item for _, channel, item in emitted
                if channel is Channel.TELEMETRY and isinstance(item, list)]
    assert backlogs, "the outage gave no backlog: the test lost its point"
    if envelope_of(name) == "tts":  # joins and the end of a session: not for ingest
        assert got.not_subscribed and all(t.endswith("/join") for t in got.not_subscribed)
    else:
        assert got.not_subscribed == []


def test_codec_devices_send_raw_frames_their_codec_reads():
    end = end_of_period()
    devices = fleet("t", end, outage=False)
    emitted = simulate(devices, end - timedelta(hours=4), end)
    raw_tts, raw_cs = tts_v3(), chirpstack_v4()
    for device, channel, item in emitted:
        if channel is not Channel.TELEMETRY or device.model not in models.MODELS:
            continue
        up = orjson.loads(raw_tts(device, channel, item)[1])["uplink_message"]
        cs = orjson.loads(raw_cs(device, channel, item)[1])
        codec = CODECS[models.MODELS[device.model].codec or ""]
        assert "decoded_payload" not in up and "object" not in cs
        assert up["f_port"] == cs["fPort"] == 85
        frame = base64.b64decode(up["frm_payload"])
        assert frame == base64.b64decode(cs["data"])
        fields = codec.decode(85, frame)
        if device.model == "milesight-em300-sld":
            assert set(fields) == {"battery", "temperature", "leakage_status"}
            assert fields["leakage_status"] == ("leak" if item.metrics["water_detected"]
                                                else "normal")
        else:
            assert set(fields) == {"battery", "water_level"}  # no channel for temperature


def test_decoded_uplinks_carry_the_formatters_values():
    end = end_of_period()
    devices = fleet("t", end, outage=False)
    emitted = simulate(devices, end - PERIOD, end)
    encode = tts_v3(raw_models=())
    seen = set()
    for device, channel, item in emitted:
        if channel is not Channel.TELEMETRY:
            continue
        up = orjson.loads(encode(device, channel, item)[1])["uplink_message"]
        spec = models.get(device.model)
        if spec is not None and spec.codec:  # the vendor's formatter: the codec's own fields
            codec = CODECS[spec.codec]
            assert up["decoded_payload"] == codec.decode(85, base64.b64decode(up["frm_payload"]))
        else:  # catalogue names; the radio levels are in the gateway's metadata
            assert up["decoded_payload"] == {k: v for k, v in item.metrics.items()
                                             if k not in RADIO}
        if "rssi_dbm" in item.metrics:
            rx = up["rx_metadata"][0]
            assert (rx["rssi"], rx["snr"]) == (item.metrics["rssi_dbm"], item.metrics["snr_db"])
        seen.add(device.model)
    assert len(seen) == 5


# --- shapes of the real samples ---------------------------------------------------------------
USER_DATA = ("decoded_payload", "object", "tags")  # the application's, not the server's


def shape(doc: Any, path: str = "") -> dict[str, str]:
    """Every key path of a document (lists as `[]`) and the JSON type of its value."""
    kind = ("bool" if isinstance(doc, bool) else "number" if isinstance(doc, int | float)
            else type(doc).__name__)
    out = {path: kind} if path else {}
    if isinstance(doc, dict) and not path.endswith(USER_DATA):
        for key, value in doc.items():
            out.update(shape(value, f"{path}.{key}" if path else key))
    elif isinstance(doc, list):
        for value in doc:
            out.update(shape(value, f"{path}[]"))
    return out


def sample(name: str) -> dict[str, str]:
    return shape(json.loads((REALCASES / name).read_text()))


def second_uplink(encode: Encoder, device_type: type[SimDevice], **kwargs: Any) -> Any:
    """An uplink of a device after its first (whose zero frame counter TTS leaves out)."""
    end = end_of_period()
    device = [d for d in fleet("t", end, outage=False) if isinstance(d, device_type)][0]
    ups = [orjson.loads(encode(device, channel, item)[1])
           for _, channel, item in simulate([device], end - timedelta(hours=2), end)
           if channel is Channel.TELEMETRY]
    return ups[1]


def test_tts_raw_uplink_has_the_shape_of_a_real_milesight_uplink():
    ours = shape(second_uplink(tts_v3(), LeakDetector))
    theirs = sample("tts_v3_uplink_milesight_em300sld_leak.json")
    assert theirs.keys() - ours.keys() == set()
    assert {k for k in ours.keys() - theirs.keys()} == {
        "uplink_message.locations", "uplink_message.locations.user",
        "uplink_message.locations.user.latitude", "uplink_message.locations.user.longitude",
        "uplink_message.locations.user.source"}
    assert {k: ours[k] for k in theirs} == theirs


def test_tts_decoded_uplink_has_the_shape_of_the_documented_uplink():
    ours = shape(second_uplink(tts_v3(), LightingCabinet))
    docs = sample("tts_v3_uplink_data_formats_example.json")
    milesight = sample("tts_v3_uplink_milesight_em300sld_leak.json")
    # The docs' example predates `coding_rate` moving into `data_rate.lora` (as in the 2023
    # Milesight uplink); device repository ids and altitude are only sent when known.
    assert docs.keys() - ours.keys() == {
        "uplink_message.settings.coding_rate", "uplink_message.version_ids",
        "uplink_message.version_ids.brand_id", "uplink_message.version_ids.model_id",
        "uplink_message.version_ids.hardware_version",
        "uplink_message.version_ids.firmware_version", "uplink_message.version_ids.band_id",
        "uplink_message.locations.user.altitude"}
    assert ours.keys() - docs.keys() <= milesight.keys()
    assert "uplink_message.decoded_payload" in ours
    common = ours.keys() & docs.keys()
    assert {k: ours[k] for k in common} == {k: docs[k] for k in common}


def test_chirpstack_raw_uplink_has_the_shape_of_a_real_milesight_uplink():
    ours = shape(second_uplink(chirpstack_v4(), LeakDetector))
    theirs = sample("chirpstack_v4_up_milesight_em300sld_leak.json")
    assert ours == theirs


def test_chirpstack_decoded_uplink_has_the_shape_of_the_documented_one():
    ours = shape(second_uplink(chirpstack_v4(), LightingCabinet))
    docs = sample("chirpstack_v4_event_up_docs_example.json")
    milesight = sample("chirpstack_v4_up_milesight_em300sld_leak.json")
    # The docs' example predates `region_name` becoming `region_config_id` (2023 uplink).
    assert docs.keys() - ours.keys() == {"rxInfo[].metadata.region_name"}
    assert ours.keys() - docs.keys() <= milesight.keys() | {"object"}
    common = ours.keys() & docs.keys()
    assert {k: ours[k] for k in common} == {k: docs[k] for k in common}


def test_chirpstack_status_event_has_the_documented_shape_and_the_battery_level():
    end = end_of_period()
    detector = fleet("t", end)[3]
    battery = detector.battery_pct
    topic, payload = chirpstack_v4()(detector, Channel.STATUS, Status(online=True, ts=end))
    ours = shape(orjson.loads(payload))
    docs = sample("chirpstack_v4_event_status_docs_example.json")
    assert ours.keys() - docs.keys() == {"deviceInfo.tags"}
    assert {k: ours[k] for k in docs} == docs
    assert topic.endswith(f"/device/{dev_eui_for(detector).lower()}/event/status")
    [decoded] = decode_message(topic, payload, max_payload_bytes=10_000,
                               max_future=timedelta(minutes=10))
    [(ts, metric, value)], _, _ = uplink_values(decoded.uplinks[0], detector.model)
    assert metric == "battery_pct"
    assert end - timedelta(seconds=10) < ts < end  # never at the time of a reading
    assert value == pytest.approx(battery, abs=0.4)  # DevStatusAns: 254 steps


def test_mains_powered_device_status_says_so_and_stores_nothing():
    cabinet = fleet("t", end_of_period())[0]
    topic, payload = chirpstack_v4()(cabinet, Channel.STATUS,
                                     Status(online=True, ts=end_of_period()))
    assert orjson.loads(payload)["externalPowerSource"] is True
    assert decode_message(topic, payload, max_payload_bytes=10_000,
                          max_future=timedelta(minutes=10)) == []


def test_tts_join_starts_a_session_and_offline_is_an_empty_message():
    end = end_of_period()
    cabinet = fleet("t", end)[0]
    encode = tts_v3()
    reading = Reading(ts=end - timedelta(minutes=20), metrics={"power_w": 10.0}, seq=1)
    first = orjson.loads(encode(cabinet, Channel.TELEMETRY, reading)[1])
    second = orjson.loads(encode(cabinet, Channel.TELEMETRY, reading)[1])
    assert "f_cnt" not in first["uplink_message"] and second["uplink_message"]["f_cnt"] == 1
    topic, payload = encode(cabinet, Channel.STATUS, Status(online=True, ts=end - STEP))
    assert topic == f"v3/phare-sim/devices/{lorawan_id_for(cabinet)}/join"
    join = orjson.loads(payload)
    assert join["join_accept"]["session_key_id"] != first["uplink_message"]["session_key_id"]
    assert join["end_device_ids"]["dev_addr"] != first["end_device_ids"]["dev_addr"]
    after = orjson.loads(encode(cabinet, Channel.TELEMETRY, reading)[1])
    assert "f_cnt" not in after["uplink_message"]  # frame counters restart at 0
    assert after["end_device_ids"]["dev_addr"] == join["end_device_ids"]["dev_addr"]
    assert encode(cabinet, Channel.STATUS, Status(online=False, ts=end)) == (topic, b"")
    assert not subscribed(topic)


def test_chirpstack_offline_status_is_an_empty_message_ingest_ignores():
    cabinet = fleet("t", end_of_period())[0]
    topic, payload = chirpstack_v4()(cabinet, Channel.STATUS,
                                     Status(online=False, ts=end_of_period()))
    assert payload == b"" and topic.endswith("/event/join")
    assert decode_message(topic, payload, max_payload_bytes=10_000,
                          max_future=timedelta(minutes=10)) == []


def test_topics_are_those_ingest_reads():
    cabinet = fleet("saint-flour", end_of_period())[0]
    reading = Reading(ts=end_of_period(), metrics={"power_w": 10.0}, seq=1)
    eui = dev_eui_for(cabinet)
    assert tts_v3()(cabinet, Channel.TELEMETRY, reading)[0] == \
        f"v3/phare-sim/devices/eui-{eui.lower()}/up"
    topic = tts_v3("eclairage", ns_tenant="sdee")(cabinet, Channel.TELEMETRY, reading)[0]
    assert topic == f"v3/eclairage@sdee/devices/eui-{eui.lower()}/up"
    assert tts.TOPIC_RE.match(topic)["ns_tenant"] == "sdee"
    app = "0b3e2c4a-7a71-4c1e-9f41-3c8a5ab9e0d1"
    topic = chirpstack_v4(app)(cabinet, Channel.TELEMETRY, reading)[0]
    assert topic == f"application/{app}/device/{eui.lower()}/event/up"
    assert chirpstack.TOPIC_RE.match(topic)
    # Without an application id, each tenant has its own, the same in every run.
    other = LightingCabinet("roffiac", "armoire-01", "A", lat=LAT, lon=LON, seed=3)
    apps = {chirpstack_v4()(d, Channel.TELEMETRY, reading)[0].split("/")[1]
            for d in (cabinet, other)}
    assert len(apps) == 2
    assert senml()(cabinet, Channel.TELEMETRY, reading)[0] == "phare/v1/saint-flour/armoire-01/senml"


def test_times_have_nanoseconds_and_the_device_time_is_the_servers():
    end = end_of_period()
    up = second_uplink(tts_v3(), LightingCabinet)
    cs = second_uplink(chirpstack_v4(), LightingCabinet)
    nano = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|\+00:00)$")
    for text in (up["received_at"], up["uplink_message"]["received_at"],
                 up["uplink_message"]["rx_metadata"][0]["received_at"], cs["time"]):
        assert nano.match(text), text
    received = datetime.fromisoformat(up["received_at"])
    assert received == datetime.fromisoformat(cs["time"]) <= end
    gateway = datetime.fromisoformat(up["uplink_message"]["rx_metadata"][0]["time"])
    network = datetime.fromisoformat(up["uplink_message"]["received_at"])
    assert received - timedelta(seconds=1) < gateway < network < received


def test_airtime_and_data_rate_follow_lora():
    assert airtime_us(0, 7) == 46_336       # Semtech's calculator: 46.3 ms
    assert airtime_us(51, 12) == 2_793_472  # 51 bytes at SF12: 2.79 s
    up = second_uplink(tts_v3(), LightingCabinet)["uplink_message"]
    sf = up["settings"]["data_rate"]["lora"]["spreading_factor"]
    frame = base64.b64decode(up["frm_payload"])
    assert re.fullmatch(r"0\.\d{3}(\d{3})?s", up["consumed_airtime"])
    assert float(up["consumed_airtime"][:-1]) == airtime_us(len(frame), sf) / 1e6
    assert len(frame) <= {7: 222, 8: 222, 9: 115}.get(sf, 51)
    cs = second_uplink(chirpstack_v4(), LeakDetector)
    assert cs["dr"] == 12 - cs["txInfo"]["modulation"]["lora"]["spreadingFactor"]


def test_the_same_fleet_gives_the_same_bytes():
    end = end_of_period()
    runs = []
    for _ in range(2):
        devices = fleet("t", end)
        encoders = [make() for make in ENCODERS.values()]
        runs.append([encode(d, channel, item) for d, channel, item
                     in simulate(devices, end - timedelta(hours=2), end) for encode in encoders])
    assert runs[0] == runs[1]


def test_raw_models_must_have_a_codec():
    with pytest.raises(ValueError, match="phare-sim-armoire-1"):
        tts_v3(raw_models=["phare-sim-armoire-1"])
    with pytest.raises(ValueError, match="no codec"):
        chirpstack_v4(raw_models=["unknown-model"])


# --- SenML ----------------------------------------------------------------------------------
def test_senml_units_name_every_catalogue_metric_back():
    ts = end_of_period()
    for kind, catalogue in KINDS.items():
        device = type("Device", (SimDevice,), {"kind": kind, "model": "m"})(
            "t", f"d-{kind}", "D", lat=LAT, lon=LON, seed=1)
        metrics: dict[str, MetricValue] = {
            m.name: (True if m.unit == "bool" else 1.5) for m in catalogue.metrics}
        topic, payload = senml()(device, Channel.TELEMETRY, Reading(ts=ts, metrics=metrics))
        pack = orjson.loads(payload)
        assert {r["u"] for r in pack if "u" in r} <= SENML_REGISTERED
        [decoded] = decode_message(topic, payload, max_payload_bytes=100_000,
                                   max_future=timedelta(minutes=10))
        assert decoded.rejections == []
        assert {metric for _, metric, _ in decoded.values} == set(metrics), kind
        assert {t for t, _, _ in decoded.values} == {ts}
    assert senml_unit("building_meter", "humidity_pct") == "%RH"
    assert senml_unit("water_flow_meter", "battery_pct") == "%EL"
    assert senml_unit("acoustic_leak_sensor", "temperature_c") == "Cel"


def test_senml_backlog_is_one_pack_with_relative_times():
    end = end_of_period()
    device = fleet("t", end)[2]
    readings = [Reading(ts=end - timedelta(minutes=15 * i), metrics={"flow_m3h": 10.0 + i,
                                                                     "volume_m3": 100.5 - i})
                for i in range(4)]
    pack = orjson.loads(senml()(device, Channel.TELEMETRY, readings)[1])
    assert pack[0]["bn"] == f"urn:dev:mac:{dev_eui_for(device).lower()}:"
    assert pack[0]["bt"] == end.timestamp()
    assert sorted({r.get("t", 0) for r in pack}) == [-2700, -1800, -900, 0]
    [decoded] = decode_message(device.topic(Channel.SENML), orjson.dumps(pack),
                               max_payload_bytes=100_000, max_future=timedelta(minutes=10))
    assert sorted(decoded.values) == sorted(
        (r.ts, name, value) for r in readings for name, value in r.metrics.items())


# --- identities -----------------------------------------------------------------------------
def test_dev_euis_are_unique_stable_and_locally_administered():
    ids = [(f"commune-{t:02d}", f"{prefix}-{n:02d}") for t in range(40)
           for prefix in ("armoire", "acoustique", "debitmetre", "detecteur", "batiment")
           for n in range(1, 21)]
    euis = [dev_eui_for(LevelSensor(t, d)) for t, d in ids]
    assert len(set(euis)) == len(ids) == 4000
    assert all(re.fullmatch(r"[0-9A-F]{16}", e) for e in euis)
    assert all(int(e[:2], 16) & 0b11 == 0b10 for e in euis)  # local, unicast
    # Whatever the seed, the kind or the process: only the tenant and the id count.
    assert dev_eui_for(LevelSensor("commune-00", "armoire-01", seed=99)) == euis[0]
    cabinet = LightingCabinet("commune-00", "armoire-01", "Armoire", lat=0, lon=0, seed=5)
    assert dev_eui_for(cabinet) == euis[0]
    assert dev_eui_for(LevelSensor("commune-01", "armoire-01")) != euis[0]


def test_lorawan_spec_registers_through_the_api_model():
    detector = fleet("saint-flour", end_of_period())[3]
    spec = lorawan_spec(detector)
    assert spec == {**detector.spec, "dev_eui": dev_eui_for(detector),
                    "lorawan_id": lorawan_id_for(detector)}
    assert spec["model"] == "milesight-em300-sld"
    created = DeviceCreate.model_validate(spec)
    assert created.dev_eui == spec["dev_eui"]
    # A valid device id of The Things Stack: lower-case letters, digits, dashes, at most 36.
    assert re.fullmatch(r"[a-z0-9](?:-?[a-z0-9]){2,35}", spec["lorawan_id"])


# --- end to end: the runner, the broker, ingest, the database -----------------------------------
class Recorder:
    """An encoder that keeps what the devices emitted, for the comparison."""

    def __init__(self, encode: Encoder) -> None:
        self.encode = encode
        self.emitted: list[tuple[SimDevice, Channel, Any]] = []

    def __call__(self, device: SimDevice, channel: Channel, item: Any) -> tuple[str, bytes]:
        self.emitted.append((device, channel, item))
        return self.encode(device, channel, item)


def stored(conn, tenant: str) -> dict[Key, float]:
    rows = conn.execute(
        "select d.id, r.metric, r.ts, r.value from readings r join devices d on d.uid = r.device_uid "
        "join tenants t on t.id = d.tenant_id where t.slug = %s", (tenant,)).fetchall()
    return {(device_id, metric, ts): value for device_id, metric, ts, value in rows}


@pytest.mark.parametrize("name", ["tts", "chirpstack", "senml"])
def test_run_with_an_envelope_stores_the_readings(name, broker, consumer, conn, tenant):
    end = end_of_period()
    devices = fleet(tenant, end, outage=False)
    for d in devices:
        extra = ({"dev_eui": dev_eui_for(d), "lorawan_id": lorawan_id_for(d)}
                 if name != "senml" else {})
        register_device(conn, tenant, d.device_id, d.kind, model=d.model, **extra)
    recorder = Recorder(ENCODERS[name]())
    run(devices, mqtt_url=broker.url, start=end - PERIOD, end=end, step=STEP,
        speed=None, encode=recorder)
    want = expected(recorder.emitted, name)

    def all_stored() -> dict[Key, float] | None:
        values = stored(conn, tenant)
        return values if want.values.keys() <= values.keys() else None

    got = ReadBack(values=wait_for(all_stored, timeout=20))
    rejected = conn.execute("select reason, detail from rejected_messages r join tenants t "
                            "on t.id = r.tenant_id where t.slug = %s", (tenant,)).fetchall()
    assert rejected == []
    got.events, got.statuses = want.events, want.statuses  # values are what this test is about
    check_round_trip(want, got, name)
