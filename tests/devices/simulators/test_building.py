"""Public buildings: occupancy and the calendar drive electricity and CO2, the weather drives
heating and solar production; faults change what the meters see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.catalogue import Channel
from devices.messages import Event
from devices.simulators.base import Fault
from devices.simulators.building import BuildingMeter
from devices.simulators.weather import Weather, solar_elevation_deg

from .helpers import readings, simulate

LAT, LON = 45.0336, 3.0928
PARIS = ZoneInfo("Europe/Paris")
WEATHER = Weather("test", lat=LAT, lon=LON, altitude_m=880)
QUARTER = timedelta(minutes=15)
TOUSSAINT_2026 = datetime(2026, 10, 19, tzinfo=UTC)  # Monday of the first week of holidays
SCHOOL_WEEK = datetime(2026, 11, 9, tzinfo=UTC)  # a Monday with classes, same season
INDEXES = ("electricity_kwh", "gas_kwh", "water_m3")


def school(seed: int = 3, **kwargs: object) -> BuildingMeter:
    return BuildingMeter("t", "batiment-01", "École", lat=LAT, lon=LON, seed=seed,
                         weather=WEATHER, usage="ecole", **kwargs)  # type: ignore[arg-type]


def delta(rs: list, metric: str) -> float:
    return rs[-1].metrics[metric] - rs[0].metrics[metric]


def degree_days(monday: datetime, days: int = 7) -> float:
    return sum(WEATHER.degree_days((monday + timedelta(days=i)).date()) for i in range(days))


def week_gas_and_degree_days(monday: datetime, building: BuildingMeter | None = None
                             ) -> tuple[float, float]:
    rs = readings(building or school(), monday, monday + timedelta(days=7), QUARTER)
    return delta(rs, "gas_kwh"), degree_days(monday)


def test_heating_energy_rises_with_degree_days():
    cold_gas, cold_dd = week_gas_and_degree_days(datetime(2026, 1, 12, tzinfo=UTC))
    mild_gas, mild_dd = week_gas_and_degree_days(datetime(2026, 4, 27, tzinfo=UTC))
    assert cold_dd > 1.5 * mild_dd > 0
    assert cold_gas > mild_gas > 0
    # Heating is proportional to degree days (base 18 °C): the ratios agree.
    assert cold_gas / mild_gas == pytest.approx(cold_dd / mild_dd, rel=0.2)
    summer_gas, _ = week_gas_and_degree_days(datetime(2026, 7, 20, tzinfo=UTC))
    assert summer_gas < 0.05 * cold_gas  # boilers are off outside the heating season


def test_a_school_closed_for_holidays_is_barely_heated_unless_the_heating_was_left_on():
    holiday_gas, holiday_dd = week_gas_and_degree_days(TOUSSAINT_2026)
    term_gas, term_dd = week_gas_and_degree_days(SCHOOL_WEEK)
    assert holiday_dd > 10 and term_dd > 10
    # Frost protection during the holidays: well under half the gas a degree day.
    assert holiday_gas / holiday_dd < 0.5 * term_gas / term_dd
    left_on = school()
    left_on.add_fault(Fault("heating_on_holiday", TOUSSAINT_2026 - timedelta(days=2),
                            TOUSSAINT_2026 + timedelta(days=8), {"closure": "Toussaint"}))
    forgotten_gas, _ = week_gas_and_degree_days(TOUSSAINT_2026, left_on)
    # Comfort day and night: more than a school week's worth a degree day.
    assert forgotten_gas / holiday_dd > term_gas / term_dd > 2 * holiday_gas / holiday_dd


def test_indexes_never_decrease_even_through_faults():
    b = school(pv_kwc=9)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    b.add_fault(Fault("meter_freeze", start + timedelta(days=3), start + timedelta(days=5)))
    b.add_fault(Fault("night_water_leak", start + timedelta(days=6), None, {"flow_l_h": 40}))
    rs = readings(b, start, start + timedelta(days=14), QUARTER)
    for name in (*INDEXES, "pv_kwh"):
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


def test_school_holidays_and_public_holidays_empty_the_school_not_the_town_hall():
    holidays = readings(school(), TOUSSAINT_2026, TOUSSAINT_2026 + timedelta(days=5), QUARTER)
    assert {r.metrics["occupancy"] for r in holidays} == {0}
    assert delta(holidays, "water_m3") == pytest.approx(0, abs=0.01)
    def town_hall() -> BuildingMeter:
        return BuildingMeter("t", "batiment-02", "Mairie", lat=LAT, lon=LON, seed=3,
                             weather=WEATHER, usage="mairie")

    rs = readings(town_hall(), TOUSSAINT_2026, TOUSSAINT_2026 + timedelta(days=5), QUARTER)
    by_day = {r.ts.astimezone(PARIS).date(): 0 for r in rs}
    for r in rs:
        by_day[r.ts.astimezone(PARIS).date()] += r.metrics["occupancy"]
    assert all(by_day[datetime(2026, 10, d).date()] > 0 for d in (19, 20, 21, 22, 23))
    armistice = datetime(2026, 11, 11, tzinfo=UTC)  # a Wednesday
    closed = readings(town_hall(), armistice, armistice + timedelta(hours=20), QUARTER)
    assert {r.metrics["occupancy"] for r in closed} == {0}


def test_rooms_are_warm_when_used_and_set_back_at_night_in_winter():
    monday = datetime(2026, 1, 12, tzinfo=UTC)
    rs = readings(school(), monday, monday + timedelta(days=2), QUARTER)
    by_hour = {(r.ts.astimezone(PARIS).day, r.ts.astimezone(PARIS).hour): r.metrics["temperature_c"]
               for r in rs}
    assert 18.5 < by_hour[(13, 11)] < 20.5
    assert by_hour[(13, 4)] < by_hour[(13, 11)] - 1.5


def test_solar_production_only_by_day_and_more_in_june_than_in_december():
    def pv(start: datetime) -> tuple[list, float]:
        rs = readings(school(pv_kwc=36), start, start + timedelta(days=7), QUARTER)
        return rs, delta(rs, "pv_kwh")

    june, june_kwh = pv(datetime(2026, 6, 15, tzinfo=UTC))
    _, december_kwh = pv(datetime(2026, 12, 14, tzinfo=UTC))
    for a, b in zip(june, june[1:], strict=False):
        produced = b.metrics["pv_kwh"] - a.metrics["pv_kwh"]
        if solar_elevation_deg(a.ts, LAT, LON) < -1 and solar_elevation_deg(b.ts, LAT, LON) < -1:
            assert produced == 0, a.ts
    # 36 kWc: at most ~1,400 kWh a week in June, never more than the peak power an hour.
    assert 300 < june_kwh < 1_400
    assert june_kwh > 2.5 * december_kwh > 0
    assert "pv_kwh" not in readings(school(), june[0].ts, june[0].ts, QUARTER)[0].metrics


def test_baseload_step_adds_its_watts_day_and_night():
    start = datetime(2026, 3, 2, tzinfo=UTC)
    plain, faulty = school(), school()
    faulty.add_fault(Fault("baseload_step", start + timedelta(days=1), None, {"extra_w": 3000}))
    a = readings(plain, start, start + timedelta(days=3), QUARTER)
    b = readings(faulty, start, start + timedelta(days=3), QUARTER)
    extra = delta(b, "electricity_kwh") - delta(a, "electricity_kwh")
    assert extra == pytest.approx(3.0 * 48, rel=0.02)  # 3 kW for two days


def test_night_water_leak_makes_the_index_grow_at_night_and_raises_the_meters_alarm():
    start = datetime(2026, 3, 2, tzinfo=UTC)
    b = school()
    b.add_fault(Fault("night_water_leak", start + timedelta(hours=12),
                      start + timedelta(days=3), {"flow_l_h": 60.0}))
    messages = simulate([b], start, start + timedelta(days=4), QUARTER)
    rs = [item for _, (ch, item) in messages if ch is Channel.TELEMETRY]

    def night_m3(day: int) -> float:  # 01:00-05:00 local: nobody in
        night = [r.metrics["water_m3"] for r in rs if r.ts.astimezone(PARIS).day == day
                 and 1 <= r.ts.astimezone(PARIS).hour < 5]
        return night[-1] - night[0]

    assert night_m3(2) == pytest.approx(0, abs=0.002)  # before the leak
    assert night_m3(3) == pytest.approx(0.060 * 3.75, rel=0.05)  # 60 L/h
    assert night_m3(6) == pytest.approx(0, abs=0.002)  # repaired
    alarms = [e for _, (ch, item) in messages if ch is Channel.EVENT
              for e in (item if isinstance(item, list) else [item])]
    assert [(e.type, e.active, e.ts) for e in alarms if isinstance(e, Event)] == [
        ("water_leak", True, start + timedelta(hours=36)),
        ("water_leak", False, start + timedelta(days=3))]


def test_a_frozen_meter_repeats_its_indexes_then_catches_up():
    start = datetime(2026, 1, 12, tzinfo=UTC)
    b = school()
    freeze = Fault("meter_freeze", start + timedelta(days=1), start + timedelta(days=2))
    b.add_fault(freeze)
    rs = readings(b, start, start + timedelta(days=3), QUARTER)
    frozen = [r for r in rs if freeze.active(r.ts)]
    assert len(frozen) == 96
    for name in INDEXES:
        assert len({r.metrics[name] for r in frozen}) == 1, name
    after = next(r for r in rs if r.ts >= freeze.end)
    assert after.metrics["gas_kwh"] > frozen[-1].metrics["gas_kwh"] + 50  # a winter day's gas
