"""The vectorised engine against the object simulator and the physics: the same territory,
faults and labels; payloads that ingest's native decoder takes whole; indexes that never
go back; the lighting, leak and heating laws; the same run for the same seed."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from statistics import mean
from typing import Any

import numpy as np
import orjson
import pytest

from devices.catalogue import KINDS
from devices.simulators.lighting import STANDBY_W, LightingCabinet
from devices.simulators.runner import native
from devices.simulators.simulate import Simulation
from devices.simulators.vector.engine import batches
from devices.simulators.weather import HEATING_BASE_C
from ingest.decode import decode_message

from ..helpers import simulate
from .territory import START, STEP, prepared

DAYS = 2.0
END = START + timedelta(days=DAYS)

Message = tuple[str, bytes]


def vector_run(sim: Simulation, end: datetime = END, start: datetime = START) -> list[Message]:
    return [(t, p) for b in batches(sim, start, end, STEP) for t, p in zip(b.topics, b.payloads,
                                                                           strict=True)]


def object_run(sim: Simulation, end: datetime = END, start: datetime = START) -> list[Message]:
    return [native(d, channel, item) for d, (channel, item) in simulate(sim.devices, start, end, STEP)]


class Parsed:
    """What a run published, by device: readings (ts, seq, metrics), events, statuses."""

    def __init__(self, messages: list[Message]) -> None:
        self.readings: dict[str, list[tuple[str, int, dict[str, Any]]]] = defaultdict(list)
        self.events: dict[str, list[tuple[str, str, bool]]] = defaultdict(list)
        self.statuses: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        for topic, payload in messages:
            device, channel = topic.split("/")[3], topic.split("/", 4)[4]
            doc = orjson.loads(payload)
            items = doc if isinstance(doc, list) else [doc]
            for x in items:
                if channel == "telemetry":
                    self.readings[device].append((x["ts"], x["seq"], x["metrics"]))
                elif channel == "event":
                    self.events[device].append((x["ts"], x["type"], x["active"]))
                else:
                    self.statuses[device].append((x["ts"], x["online"]))

    def series(self, device: str, metric: str) -> list[float]:
        return [m[metric] for _, _, m in sorted(self.readings[device]) if metric in m]


@pytest.fixture(scope="module")
def vector() -> tuple[Simulation, list[Message]]:
    sim = prepared(DAYS)
    return sim, vector_run(sim)


@pytest.fixture(scope="module")
def both(vector: tuple[Simulation, list[Message]]) -> tuple[Parsed, Parsed]:
    return Parsed(vector[1]), Parsed(object_run(prepared(DAYS)))


def test_every_payload_is_decoded_by_ingest_without_a_rejection(vector):
    sim, messages = vector
    now = END + timedelta(minutes=1)
    values = 0
    for topic, payload in messages:
        for d in decode_message(topic, payload, max_payload_bytes=256 * 1024,
                                max_future=timedelta(minutes=10), now=now):
            assert not d.rejections, (topic, payload[:200], d.rejections)
            assert d.has_data
            values += len(d.values)
    total = sum(b.values for b in batches(prepared(DAYS), START, END, STEP))
    assert values == total > 10_000
    kinds = {d.kind for d in sim.devices}
    for device, readings in Parsed(messages).readings.items():
        names = {n for _, _, m in readings for n in m}
        assert names <= {n for k in kinds for n in KINDS[k].metric_names}, device


def test_the_same_seed_gives_the_same_run(vector):
    _, messages = vector
    assert vector_run(prepared(DAYS)) == messages


def test_readings_statuses_and_events_are_the_object_simulators(both):
    """Same schedule (ts, seq) for every device, same statuses (outages), same events (fault
    edges, tests, tamper); the labels come from the same plan."""
    vec, obj = both
    assert vec.readings.keys() == obj.readings.keys()
    for device in obj.readings:
        assert [(ts, seq) for ts, seq, _ in vec.readings[device]] == \
               [(ts, seq) for ts, seq, _ in obj.readings[device]], device
    assert vec.statuses == obj.statuses
    assert {k: sorted(v) for k, v in vec.events.items()} == {k: sorted(v) for k, v in obj.events.items()}
    assert prepared(DAYS).labels() == prepared(DAYS).labels()


def test_the_schedule_holds_across_the_clock_change():
    """The night clocks go forward: local times (profiles, loggers' reports, tests) move."""
    start = datetime(2026, 3, 28, 12, tzinfo=START.tzinfo)
    end = start + timedelta(days=1.5)
    vec = Parsed(vector_run(prepared(1.5, start=start), end, start))
    obj = Parsed(object_run(prepared(1.5, start=start), end, start))
    for device in obj.readings:
        assert [(ts, seq) for ts, seq, _ in vec.readings[device]] == \
               [(ts, seq) for ts, seq, _ in obj.readings[device]], device
        assert vec.series(device, "dimming_pct") == obj.series(device, "dimming_pct"), device
    assert {k: sorted(v) for k, v in vec.events.items()} == {k: sorted(v) for k, v in obj.events.items()}


@pytest.mark.parametrize("metric, tolerance", [
    ("energy_kwh", 0.0011), ("dimming_pct", 0), ("output_on", 0)])
def test_cabinets_deterministic_values_equal_the_object_simulators(both, metric, tolerance):
    vec, obj = both
    for device in (f"armoire-{i:02d}" for i in range(1, 7)):
        a, b = vec.series(device, metric), obj.series(device, metric)
        assert len(a) == len(b) > 100
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= tolerance, device


@pytest.mark.parametrize("device, metric, growth", [
    # The consumers' wandering factor differs from run to run (±2 % over two days).
    ("debitmetre-01", "volume_m3", 0.1),
    ("batiment-01", "gas_kwh", 0.01), ("batiment-02", "electricity_kwh", 0.01),
    ("batiment-01", "pv_kwh", 0.01), ("batiment-02", "water_m3", 0.01)])
def test_indexes_agree_with_the_object_simulator(both, device, metric, growth):
    """Same starting index, same consumption: equal where nothing random drives it."""
    vec, obj = both
    a, b = np.array(vec.series(device, metric)), np.array(obj.series(device, metric))
    assert a.size == b.size > 50
    grown_a, grown_b = a[-1] - a[0], b[-1] - b[0]
    assert grown_b > 0
    assert abs(grown_a - grown_b) / grown_b < growth


@pytest.mark.parametrize("device, metric, spread", [
    ("armoire-06", "power_w", 0.02), ("armoire-06", "voltage_l1_v", 0.002),
    ("armoire-06", "current_l2_a", 0.03), ("debitmetre-01", "flow_m3h", 0.1),
    ("debitmetre-01", "pressure_bar", 0.01), ("batiment-01", "temperature_c", 0.03),
    ("batiment-01", "co2_ppm", 0.05), ("batiment-01", "occupancy", 0.1),
    ("detecteur-01", "temperature_c", 0.03), ("sonde-niveau-01", "water_level_cm", 0.01),
    ("acoustique-fonte-far", "noise_min_db", 0.1)])
def test_noisy_values_are_statistically_the_object_simulators(both, device, metric, spread):
    vec, obj = both
    a, b = vec.series(device, metric), obj.series(device, metric)
    assert len(a) == len(b) > 0
    assert abs(mean(a) - mean(b)) <= spread * abs(mean(b)) + 0.05


def test_indexes_never_decrease(both):
    vec, _ = both
    cumulative = {m.name for k in KINDS.values() for m in k.metrics if m.cumulative}
    checked = 0
    for device in vec.readings:
        for metric in cumulative:
            values = vec.series(device, metric)
            assert values == sorted(values), (device, metric)
            checked += bool(values)
    assert checked >= 6


def test_cabinet_power_is_its_luminaires_at_the_dimming_level_plus_losses(vector):
    sim, messages = vector
    parsed = Parsed(messages)
    cabinet = next(d for d in sim.devices if d.device_id == "armoire-06")
    assert isinstance(cabinet, LightingCabinet)
    levels = set()
    for _, _, m in parsed.readings["armoire-06"]:
        expected = cabinet.nominal_power_w(m["dimming_pct"])
        assert abs(m["power_w"] - expected) <= 0.02 * expected + 0.5
        assert m["output_on"] == (m["dimming_pct"] > 0)
        levels.add(m["dimming_pct"])
    assert levels == {0, 50, 100}  # off by day, full in the evening, dimmed at night
    # A lamp out: the phase loses its watts (plus losses) from the failure on.
    failure = next(f for d, f in sim.plan.faults if f.type == "lamp_failure")
    broken = next(d for d in sim.devices if d.device_id == "armoire-01")
    assert isinstance(broken, LightingCabinet)
    for ts, _, m in parsed.readings["armoire-01"]:
        if m["dimming_pct"] == 100:
            after = datetime.fromisoformat(ts) > failure.start
            lost = failure.params["luminaire_w"] * (1 + broken.losses) if after else 0
            assert abs(m["power_w"] - (broken.nominal_power_w(100) - lost)) <= 0.02 * m["power_w"]
    # No supply: no reading from the cabinet without power.
    outage = next(f for d, f in sim.plan.faults if f.type == "power_loss")
    stamps = [datetime.fromisoformat(ts) for ts, _, _ in parsed.readings["armoire-04"]]
    assert not [t for t in stamps if outage.start <= t < outage.end]
    assert STANDBY_W > 0


def test_a_leak_is_louder_near_than_far_and_on_metal_than_on_plastic(vector):
    parsed = Parsed(vector[1])
    # The second night, the leaks (1 m³/h, 20 m from the near loggers) flowing since the first.
    night = {d: parsed.series(d, "noise_min_db")[-1] for d in
             ("acoustique-fonte-near", "acoustique-fonte-far", "acoustique-pe-near",
              "acoustique-pe-far")}
    assert night["acoustique-fonte-near"] > night["acoustique-fonte-far"] + 3
    assert night["acoustique-pe-near"] > night["acoustique-pe-far"] + 3
    # 400 m of ductile iron carry the leak; 400 m of PE damp it into the background.
    assert night["acoustique-fonte-far"] > night["acoustique-pe-far"] + 3


def test_heating_rises_with_degree_days():
    """Ten school days' gas against the day's degree days: the energy signature's slope."""
    days = 12
    sim = prepared(days, prefix="vdd")
    parsed = Parsed(vector_run(sim, START + timedelta(days=days)))
    readings = sorted(parsed.readings["batiment-01"])
    by_day: dict[str, list[float]] = defaultdict(list)
    for ts, _, m in readings:
        by_day[ts[:10]].append(m["gas_kwh"])
    weather = sim.territory.weather
    xs, ys = [], []
    for day, values in sorted(by_day.items()):
        date_ = datetime.fromisoformat(day).date()
        if date_.weekday() < 5 and len(values) == 96:  # school days (setback at weekends)
            xs.append(weather.degree_days(date_, HEATING_BASE_C, 900))
            ys.append(values[-1] - values[0])
    assert len(xs) >= 7
    slope, _ = np.polyfit(xs, ys, 1)
    assert slope > 0 and np.corrcoef(xs, ys)[0, 1] > 0.8, (xs, ys)
