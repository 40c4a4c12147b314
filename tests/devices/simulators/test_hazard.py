"""Hazard detectors: weekly self-tests, fires and false alarms, floods rising and receding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.catalogue import Channel
from devices.messages import Event, Reading
from devices.simulators.base import Fault
from devices.simulators.hazard import HazardDetector
from devices.simulators.hydrology import Gauge, LowPoint, River, Thresholds
from devices.simulators.weather import Rain, Weather

from .helpers import simulate

LAT, LON = 45.0336, 3.0928
START = datetime(2026, 2, 2, 0, tzinfo=UTC)
WEATHER = Weather("test", lat=LAT, lon=LON, altitude_m=880)
THRESHOLDS = Thresholds(yellow=150, orange=200, red=260)


def gauge(weather: Weather = WEATHER) -> Gauge:
    return Gauge(River("Ander", weather), base_cm=40, gain_cm=100, thresholds=THRESHOLDS)


def detector(variant: str, n: int = 1, weather: Weather = WEATHER) -> HazardDetector:
    extra: dict = {}
    if variant == "water_level":
        extra["gauge"] = gauge(weather)
    if variant == "water_spot":
        extra["low_point"] = LowPoint(weather, rain_threshold_mm_h=8, drain_h=1.5)
    return HazardDetector("t", f"detecteur-{n:02d}", "Détecteur", lat=LAT, lon=LON, seed=9,
                          weather=weather, variant=variant, **extra)


def events(messages: list) -> list[Event]:
    return [e for _, (channel, item) in messages if channel is Channel.EVENT
            for e in (item if isinstance(item, list) else [item])]


def telemetry(messages: list) -> list[Reading]:
    return [item for _, (channel, item) in messages if channel is Channel.TELEMETRY]


@pytest.mark.parametrize("variant", ["smoke", "water_level", "water_spot"])
def test_weekly_self_test_is_a_start_and_an_end_in_the_past(variant):
    messages = simulate([detector(variant)], START, START + timedelta(days=14),
                        timedelta(minutes=15))
    tests = [item for _, (channel, item) in messages if channel is Channel.EVENT
             and isinstance(item, list) and item[0].type == "test"]
    assert len(tests) == 2
    for backlog in tests:
        start, end = backlog
        assert (start.type, start.active, end.type, end.active) == ("test", True, "test", False)
        assert start.ts < end.ts
    assert tests[1][0].ts - tests[0][0].ts == timedelta(days=7)


def test_events_are_never_after_the_step_that_publishes_them():
    d = detector("smoke")
    d.add_fault(Fault("tamper", START + timedelta(days=1, minutes=3),
                      START + timedelta(days=1, minutes=13)))
    t, seen = START, 0
    while t <= START + timedelta(days=8):  # minute steps: one falls right on the test's time
        for channel, item in d.step(t):
            if channel is Channel.EVENT:
                for e in item if isinstance(item, list) else [item]:
                    assert isinstance(e, Event) and e.ts <= t
                    seen += 1
        t += timedelta(minutes=1)
    assert seen >= 4  # the self-test and the tamper, each a start and an end


def test_smoke_detector_reads_a_quiet_room():
    rs = telemetry(simulate([detector("smoke")], START, START + timedelta(days=2),
                            timedelta(hours=1)))
    assert all(r.metrics["smoke_alarm"] is False for r in rs)
    assert all(16 < r.metrics["temperature_c"] < 24 for r in rs)
    assert "water_level_cm" not in rs[0].metrics


FIRE = {"room": "cuisine", "smoulder_min": 12.0, "smoulder_rate": 0.3, "flaming_min": 15.0,
        "flame_rate": 10.0, "alarm_after_min": 8.0}


def test_a_fire_warms_the_room_before_the_smoke_alarm_then_the_heat_alarm_sounds():
    fire_at = START + timedelta(hours=3, minutes=7)
    d = detector("smoke")
    d.add_fault(Fault("fire", fire_at, fire_at + timedelta(hours=1), FIRE))
    messages = simulate([d], START, START + timedelta(hours=6), timedelta(minutes=15))
    alarms = events(messages)
    smoke_on = next(e for e in alarms if e.type == "smoke" and e.active)
    assert smoke_on.ts == fire_at + timedelta(minutes=8)
    rs = telemetry(messages)
    room = [r.metrics["temperature_c"] for r in rs if r.ts < fire_at]
    before_alarm = [r for r in rs if fire_at <= r.ts < smoke_on.ts]
    # Alarm mode: a reading a minute from the fire's start; the room warms before the alarm.
    assert len(before_alarm) == 8
    assert before_alarm[-1].metrics["temperature_c"] > room[-1] + 1.5
    assert all(r.metrics["smoke_alarm"] is False for r in before_alarm)
    assert next(r for r in rs if r.ts >= smoke_on.ts).metrics["smoke_alarm"] is True
    heat_on = next(e for e in alarms if e.type == "heat" and e.active)
    assert smoke_on.ts < heat_on.ts <= fire_at + timedelta(minutes=13)  # rate of rise
    assert max(r.metrics["temperature_c"] for r in rs) > 100
    assert {(e.type, e.active) for e in alarms} >= {("smoke", False), ("heat", False)}
    assert rs[-1].metrics["smoke_alarm"] is False
    assert rs[-1].metrics["temperature_c"] < room[-1] + 3  # cooled down hours later


def test_a_false_alarm_sounds_with_no_rise_of_temperature():
    at = START + timedelta(hours=11, minutes=2)
    d = detector("smoke")
    d.add_fault(Fault("false_alarm", at, at + timedelta(minutes=3), {"cause": "vapeur"}))
    messages = simulate([d], START + timedelta(hours=10), START + timedelta(hours=12),
                        timedelta(minutes=15))
    assert [(e.type, e.active, e.ts) for e in events(messages)] == [
        ("smoke", True, at), ("smoke", False, at + timedelta(minutes=3))]
    rs = telemetry(messages)
    during = [r for r in rs if at <= r.ts < at + timedelta(minutes=3)]
    assert during and all(r.metrics["smoke_alarm"] is True for r in during)
    temps = [r.metrics["temperature_c"] for r in rs]
    assert max(temps) - min(temps) < 1.0


def test_a_flood_rises_past_its_thresholds_then_recedes():
    storm = Rain(START + timedelta(days=1), START + timedelta(days=1, hours=12), 8.0)  # 96 mm
    d = detector("water_level", weather=Weather("test", lat=LAT, lon=LON, altitude_m=880,
                                                storms=[storm]))
    messages = simulate([d], START, START + timedelta(days=5), timedelta(minutes=15))
    rs = telemetry(messages)
    levels = [(r.ts, r.metrics["water_level_cm"]) for r in rs]
    peak_at, peak = max(levels, key=lambda x: x[1])
    assert storm.start < peak_at < storm.end + timedelta(hours=6)
    assert peak > THRESHOLDS.orange
    before = [v for t, v in levels if t < storm.start]
    after = [v for t, v in levels if t > storm.end + timedelta(days=2)]
    assert max(after) < THRESHOLDS.yellow and max(after) < peak - 100
    # Rising, then falling: monotonic around the peak but for the sensor's noise.
    rising = [v for t, v in levels if storm.start <= t <= peak_at]
    assert all(b > a - 1 for a, b in zip(rising, rising[1:], strict=False))
    assert min(before) > 39
    # Faster readings while above a threshold.
    flood = [t for t, v in levels if v >= THRESHOLDS.yellow]
    assert flood[1] - flood[0] == timedelta(minutes=5)
    alarms = [(e.active, e.detail.get("threshold")) for e in events(messages) if e.type == "water"]
    expected = [(True, name) for name in THRESHOLDS.crossed(peak)] + [(False, None)]
    assert alarms == expected and len(expected) >= 3


def test_a_low_point_fills_during_a_downpour_and_drains_after():
    storm = Rain(START + timedelta(hours=5), START + timedelta(hours=6), 20.0)
    d = detector("water_spot", weather=Weather("test", lat=LAT, lon=LON, altitude_m=880,
                                               storms=[storm]))
    messages = simulate([d], START, START + timedelta(hours=12), timedelta(minutes=15))
    water = [(e.active, e.ts) for e in events(messages) if e.type == "water"]
    assert water[0] == (True, storm.start + timedelta(minutes=10))
    assert water[-1][0] is False and water[-1][1] >= storm.end + timedelta(hours=1.5)
    wet = [r.ts for r in telemetry(messages) if r.metrics["water_detected"]]
    assert wet and storm.start < wet[0] < storm.end and wet[-1] < water[-1][1]


def test_detectors_report_a_low_battery_once():
    d = detector("smoke")
    d.battery_pct = 15.05
    messages = simulate([d], START, START + timedelta(days=10), timedelta(hours=1))
    assert [e.type for e in events(messages)].count("low_battery") == 1


def test_a_smoke_detector_has_no_flood_and_a_gauge_no_fire():
    with pytest.raises(ValueError, match="cannot have a fire"):
        detector("water_level").add_fault(Fault("fire", START, None, FIRE))
    with pytest.raises(ValueError, match="needs its gauge"):
        HazardDetector("t", "d", "D", lat=LAT, lon=LON, seed=1, weather=WEATHER,
                       variant="water_level")
