"""Water network: nightly acoustic reports, district flow with its night minimum."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

import pytest

from devices.simulators.water import PIPE_NOISE_DB, AcousticLeakSensor, WaterFlowMeter

from .helpers import readings

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
