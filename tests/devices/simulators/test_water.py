"""Water network: nightly acoustic reports, district flow with its night minimum, and what
leaks do to both."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

import pytest

from devices.messages import Reading
from devices.simulators.leaks import Leak, Pipe, orifice_flow_m3h
from devices.simulators.water import PIPE_NOISE_DB, AcousticLeakSensor, WaterFlowMeter, WaterNetwork

from .helpers import readings, simulate

LAT, LON = 45.6333, 4.4566  # Saint-Symphorien-sur-Coise
PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 3, 2, 12, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def sensor(n: int, material: str | None = None) -> AcousticLeakSensor:
    return AcousticLeakSensor("t", f"acoustique-{n:02d}", "Capteur", lat=LAT, lon=LON, seed=5,
                              material=material)


def test_acoustic_sensor_reports_once_a_night_after_its_listening_window():
    rs = readings(sensor(1), START, START + timedelta(days=7), QUARTER)
    assert len(rs) == 7
    for r in rs:
        local = r.ts.astimezone(PARIS).time()
        assert time(4, 30) <= local <= time(5, 15)  # after the 02:00-04:00 window, spread out
        m = r.metrics
        assert 10 < m["noise_min_db"] < 45
        assert m["noise_spread_db"] > 0 and m["noise_level_db"] >= m["noise_min_db"]
        assert 0 < m["temperature_c"] < 20
    battery = [r.metrics["battery_pct"] for r in rs]
    assert battery == sorted(battery, reverse=True) and battery[0] - battery[-1] < 1
    assert len({r.metrics["noise_min_db"] for r in rs}) > 3  # it varies from night to night


@pytest.mark.parametrize("material", sorted(PIPE_NOISE_DB))
def test_quiet_night_level_depends_on_pipe_material(material):
    low, high = PIPE_NOISE_DB[material]
    levels = [r.metrics["noise_min_db"] for n in range(8)
              for r in readings(sensor(n, material), START, START + timedelta(days=4), QUARTER)]
    assert low - 2 < mean(levels) < high + 2


def test_plastic_mains_read_quieter_than_cast_iron():
    def night_level(material: str) -> float:
        end = START + timedelta(days=3)
        return mean(r.metrics["noise_min_db"] for n in range(10)
                    for r in readings(sensor(n, material), START, end, QUARTER))

    assert night_level("PEHD") < night_level("fonte grise") - 4


def test_flow_meter_has_a_night_minimum_and_an_index_that_adds_up():
    meter = WaterFlowMeter("t", "debitmetre-01", "Débitmètre", lat=LAT, lon=LON, seed=5)
    rs = readings(meter, START, START + timedelta(days=3), QUARTER)
    flows = [(r.ts.astimezone(PARIS).hour, r.metrics["flow_m3h"]) for r in rs]
    night = mean(f for h, f in flows if 2 <= h < 5)
    morning = mean(f for h, f in flows if 7 <= h < 9)
    assert night < 0.5 * mean(f for _, f in flows) < morning
    assert night > 0  # background losses never stop
    index = [r.metrics["volume_m3"] for r in rs]
    assert index == sorted(index)
    # The index grows by the flow it reports (quarter-hour samples of a smooth curve).
    reported = sum(f for _, f in flows[:-1]) * 0.25
    assert index[-1] - index[0] == pytest.approx(reported, rel=0.03)
    pressures = [(h, r.metrics["pressure_bar"]) for (h, _), r in zip(flows, rs, strict=True)]
    assert mean(p for h, p in pressures if 2 <= h < 5) > mean(p for h, p in pressures if 7 <= h < 9)
    assert all(1 < p < 8 for _, p in pressures)


# --- leaks -----------------------------------------------------------------------------------
LEAK_START = datetime(2026, 3, 2, 14, tzinfo=UTC)


def main(material: str, length_m: float = 1200) -> Pipe:
    return Pipe("C-1", "t", "debitmetre-01", material, 150, length_m, (LAT, LON),
                (LAT + 0.01, LON))


def loggers(pipe: Pipe, network: WaterNetwork, positions: list[float]) -> list[AcousticLeakSensor]:
    return [AcousticLeakSensor("t", f"acoustique-{i:02d}", "Capteur", lat=LAT, lon=LON, seed=5,
                               pipe=pipe, position_m=at, network=network, traffic_db=1.0)
            for i, at in enumerate(positions, start=1)]


def nights(devices: list, days: int = 6) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {d.device_id: [] for d in devices}
    for d, (_, item) in simulate(devices, LEAK_START - timedelta(days=days),
                                 LEAK_START + timedelta(days=days), timedelta(hours=1)):
        if isinstance(item, Reading):
            out[d.device_id].append({"ts": item.ts, **item.metrics})
    return out


def rise(rows: list[dict]) -> float:
    """Mean quiet-night level after the leak minus before."""
    before = [r["noise_min_db"] for r in rows if r["ts"] < LEAK_START]
    after = [r["noise_min_db"] for r in rows if r["ts"] > LEAK_START + timedelta(days=1)]
    return mean(after) - mean(before)


def leak(pipe: Pipe, at_m: float, flow: float = 1.0, **kwargs: object) -> Leak:
    defaults: dict = {"end": None, "profile": "abrupt", "peak_at": LEAK_START}
    defaults.update(kwargs)
    return Leak("fuite-001", pipe, at_m, LEAK_START, defaults["end"], defaults["profile"],
                defaults["peak_at"], flow)


@pytest.mark.parametrize("material", ["fonte ductile", "PEHD"])
def test_a_leak_raises_the_night_noise_of_near_loggers_more_than_far_ones(material):
    pipe, network = main(material), WaterNetwork()
    network.pipes[pipe.id] = pipe
    near, middle, far = loggers(pipe, network, [410, 700, 1150])  # 10, 300 and 750 m away
    network.add_leak(leak(pipe, 400))
    rows = nights([near, middle, far])
    rises = [rise(rows[d.device_id]) for d in (near, middle, far)]
    assert rises[0] > rises[1] + 3 and rises[1] > rises[2] - 1  # nearer, louder
    assert rises[0] > 10  # 10 m from a 1 m³/h leak
    # Where it dominates, the leak's steady noise narrows the night's spread.
    before = mean(r["noise_spread_db"] for r in rows[near.device_id] if r["ts"] < LEAK_START)
    after = mean(r["noise_spread_db"] for r in rows[near.device_id]
                 if r["ts"] > LEAK_START + timedelta(days=1))
    assert after < before / 2


def test_leak_noise_carries_further_on_metal_than_on_plastic():
    rises = {}
    for material in ("fonte ductile", "PVC", "PEHD"):
        pipe, network = main(material), WaterNetwork()
        (logger,) = loggers(pipe, network, [250])
        network.add_leak(leak(pipe, 400, flow=2.0))
        rises[material] = rise(nights([logger])[logger.device_id])
    # 150 m away: ~3 dB lost in ductile iron, ~38 dB in PVC, ~60 dB in PE.
    assert rises["fonte ductile"] > 15
    assert rises["PVC"] < 1.5 and rises["PEHD"] < 1.5


def test_an_incipient_leak_grows_and_a_repair_ends_it():
    pipe, network = main("fonte grise"), WaterNetwork()
    (logger,) = loggers(pipe, network, [300])
    peak, repaired = LEAK_START + timedelta(days=8), LEAK_START + timedelta(days=12)
    network.add_leak(leak(pipe, 320, flow=2.0, profile="incipient", peak_at=peak, end=repaired))
    rows = nights([logger], days=15)[logger.device_id]
    level = {r["ts"].date(): r["noise_min_db"] for r in rows}
    growing = [level[(LEAK_START + timedelta(days=d)).date()] for d in (2, 4, 6, 8)]
    assert growing[-1] > growing[0] + 3
    quiet = mean(r["noise_min_db"] for r in rows if r["ts"] < LEAK_START)
    after_repair = mean(r["noise_min_db"] for r in rows if r["ts"] > repaired + timedelta(days=1))
    assert after_repair == pytest.approx(quiet, abs=2.5)


def test_night_flow_rises_by_the_leak_flow():
    pipe, network = main("acier"), WaterNetwork()
    network.pipes[pipe.id] = pipe

    def meter() -> WaterFlowMeter:
        return WaterFlowMeter("t", "debitmetre-01", "Débitmètre", lat=LAT, lon=LON, seed=5,
                              population=1500, network=network)

    def min_night_flow(m: WaterFlowMeter, day: datetime) -> float:
        rs = readings(m, day, day + timedelta(days=1), QUARTER)
        return min(r.metrics["flow_m3h"] for r in rs if 2 <= r.ts.astimezone(PARIS).hour < 5)

    day = datetime(2026, 3, 10, 12, tzinfo=UTC)
    without = min_night_flow(meter(), day)
    network.add_leak(Leak("fuite-001", pipe, 200, day - timedelta(days=3), None, "abrupt",
                          day - timedelta(days=3), orifice_flow_m3h(6, 5.0)))
    with_leak = min_night_flow(meter(), day)
    assert orifice_flow_m3h(6, 5.0) == pytest.approx(1.9, rel=0.05)  # a 6 mm hole at 5 bar
    assert with_leak - without == pytest.approx(1.9, abs=0.15)
