"""Public buildings: occupancy drives electricity and CO2, the weather drives heating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.simulators.building import BuildingMeter
from devices.simulators.weather import Climate

from .helpers import readings

LAT, LON = 45.0336, 3.0928
PARIS = ZoneInfo("Europe/Paris")
CLIMATE = Climate("test", lon=LON, altitude_m=880)
QUARTER = timedelta(minutes=15)


def school(seed: int = 3) -> BuildingMeter:
    return BuildingMeter("t", "batiment-01", "École", lat=LAT, lon=LON, seed=seed,
                         climate=CLIMATE, usage="ecole")


def week_gas_and_degree_days(monday: datetime) -> tuple[float, float]:
    rs = readings(school(), monday, monday + timedelta(days=7), QUARTER)
    gas = rs[-1].metrics["gas_kwh"] - rs[0].metrics["gas_kwh"]
    return gas, sum(CLIMATE.degree_days((monday + timedelta(days=i)).date()) for i in range(7))


def test_heating_energy_rises_with_degree_days():
    cold_gas, cold_dd = week_gas_and_degree_days(datetime(2026, 1, 12, tzinfo=UTC))
    mild_gas, mild_dd = week_gas_and_degree_days(datetime(2026, 4, 27, tzinfo=UTC))
    assert cold_dd > 1.5 * mild_dd > 0
    assert cold_gas > mild_gas > 0
    # Heating is proportional to degree days (base 18 °C): the ratios agree.
    assert cold_gas / mild_gas == pytest.approx(cold_dd / mild_dd, rel=0.2)
    summer_gas, _ = week_gas_and_degree_days(datetime(2026, 7, 20, tzinfo=UTC))
    assert summer_gas < 0.05 * cold_gas  # boilers are off outside the heating season


def test_indexes_never_decrease():
    rs = readings(school(), datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 15, tzinfo=UTC),
                  QUARTER)
    for name in ("electricity_kwh", "gas_kwh", "water_m3"):
        values = [r.metrics[name] for r in rs]
        assert values == sorted(values) and values[-1] > values[0], name


def test_school_is_occupied_on_school_days_and_hours():
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    rs = readings(school(), monday, monday + timedelta(days=7), QUARTER)

    def at(day: int, hour: int) -> dict:
        return next(r.metrics for r in rs if r.ts.astimezone(PARIS).weekday() == day
                    and r.ts.astimezone(PARIS).hour == hour)

    for day in (0, 1, 3, 4):  # no class on Wednesday, nor at the weekend
        assert at(day, 10)["occupancy"] > 40
        assert at(day, 10)["co2_ppm"] > 1000  # a full classroom
        assert at(day, 10)["power_w"] > 2 * at(day, 3)["power_w"]
        assert at(day, 3)["occupancy"] == 0
    assert at(2, 10)["occupancy"] < at(1, 10)["occupancy"] / 3
    assert at(5, 10)["occupancy"] == at(6, 10)["occupancy"] == 0
    assert at(6, 10)["co2_ppm"] < 550
    water_weekend = [r.metrics["water_m3"] for r in rs if r.ts.astimezone(PARIS).weekday() == 6]
    assert water_weekend[-1] - water_weekend[0] == pytest.approx(0, abs=0.01)


def test_rooms_are_warm_when_used_and_set_back_at_night_in_winter():
    monday = datetime(2026, 1, 12, tzinfo=UTC)
    rs = readings(school(), monday, monday + timedelta(days=2), QUARTER)
    by_hour = {(r.ts.astimezone(PARIS).day, r.ts.astimezone(PARIS).hour): r.metrics["temperature_c"]
               for r in rs}
    assert 18.5 < by_hour[(13, 11)] < 20.5
    assert by_hour[(13, 4)] < by_hour[(13, 11)] - 1.5
