"""The rules alone: what an event or a reading means, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.model import Device, Severity
from alerts.rules import Clear, InboxItem, Raise, Rules
from tests.alerts.conftest import THRESHOLDS

T0 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
GAUGE = Device(uid=1, tenant_id=1, tenant="saint-flour", tenant_name="Saint-Flour", id="crue-1",
               kind="hazard_detector", name="Pont de la Halle",
               metadata={"thresholds_cm": {"yellow": 100, "orange": 140, "red": 200}})
DETECTOR = Device(uid=2, tenant_id=1, tenant="saint-flour", tenant_name="Saint-Flour",
                  id="dfumee-1", kind="hazard_detector", name="École")
CABINET = Device(uid=3, tenant_id=1, tenant="saint-flour", tenant_name="Saint-Flour",
                 id="armoire-1", kind="lighting_cabinet", name="Place d'Armes")
BUILDING = Device(uid=4, tenant_id=1, tenant="saint-flour", tenant_name="Saint-Flour",
                  id="mairie", kind="building_meter", name="Mairie")


def event(name: str, active: bool = True, at: datetime = T0, **detail: Any) -> InboxItem:
    return InboxItem(id=1, ts=at, tenant_id=1, device_uid=2, kind="event", name=name,
                     active=active, detail=detail)


def reading(name: str, value: float, at: datetime = T0) -> InboxItem:
    return InboxItem(id=1, ts=at, tenant_id=1, device_uid=1, kind="reading", name=name,
                     value=value)


@pytest.mark.parametrize("name", ["smoke", "heat"])
def test_a_smoke_or_heat_alarm_is_a_critical_fire(name: str) -> None:
    assert Rules().evaluate(event(name), DETECTOR) == [
        Raise("fire", Severity.CRITICAL, f"fire.{name}", name)]
    assert Rules().evaluate(event(name, active=False), DETECTOR) == [Clear("fire", name)]


def test_a_self_test_is_not_a_fire_nor_the_alarm_it_sounds() -> None:
    rules = Rules()
    assert rules.evaluate(event("test"), DETECTOR) == []
    assert rules.evaluate(event("smoke", at=T0 + timedelta(seconds=10)), DETECTOR) == []
    assert rules.evaluate(reading("smoke_alarm", 1, at=T0 + timedelta(seconds=10)), DETECTOR) == []
    assert rules.evaluate(event("test", active=False, at=T0 + timedelta(seconds=40)),
                          DETECTOR) == []
    after = rules.evaluate(event("smoke", at=T0 + timedelta(minutes=2)), DETECTOR)
    assert [a.alert_type for a in after] == ["fire"]


def test_a_test_left_open_ends_after_ten_minutes() -> None:
    rules = Rules()
    rules.evaluate(event("test"), DETECTOR)
    later = rules.evaluate(event("smoke", at=T0 + timedelta(minutes=11)), DETECTOR)
    assert [a.alert_type for a in later] == ["fire"]


def test_tamper_is_a_device_fault_not_a_fire() -> None:
    assert Rules().evaluate(event("tamper"), DETECTOR) == [
        Raise("device_fault", Severity.MEDIUM, "device_fault.tamper", "tamper")]


@pytest.mark.parametrize(("cm", "expected"), [
    (99.9, Clear("flood", "level")),
    (100, Raise("flood", Severity.MEDIUM, "flood.level", "level", {"level": "yellow", "value": 100})),
    (142, Raise("flood", Severity.HIGH, "flood.level", "level", {"level": "orange", "value": 142})),
    (250, Raise("flood", Severity.CRITICAL, "flood.level", "level", {"level": "red", "value": 250})),
], ids=["under-yellow", "yellow", "orange", "red"])
def test_water_levels_against_the_sites_thresholds(cm: float, expected: object) -> None:
    assert Rules().evaluate(reading("water_level_cm", cm), GAUGE) == [expected]


def test_a_level_without_thresholds_raises_nothing() -> None:
    assert Rules().evaluate(reading("water_level_cm", 500), DETECTOR) == []


def test_a_gauges_threshold_event_names_its_level() -> None:
    actions = Rules().evaluate(event("water", threshold="red", level_cm=212.5), GAUGE)
    assert actions == [Raise("flood", Severity.CRITICAL, "flood.level", "water",
                             {"level": "red", "value": 212.5})]


def test_water_detected_is_a_flood_until_dry() -> None:
    assert Rules().evaluate(reading("water_detected", 1), DETECTOR) == [
        Raise("flood", Severity.MEDIUM, "flood.water", "water_detected")]
    assert Rules().evaluate(reading("water_detected", 0), DETECTOR) == [
        Clear("flood", "water_detected")]


def test_a_heat_detectors_temperature_with_hysteresis() -> None:
    rules = Rules()
    assert [a.alert_type for a in rules.evaluate(reading("temperature_c", 60), DETECTOR)] == ["fire"]
    assert rules.evaluate(reading("temperature_c", 55), DETECTOR) == []
    assert rules.evaluate(reading("temperature_c", 52), DETECTOR) == [Clear("fire", "temperature")]


def test_battery_low_below_the_threshold_clear_five_points_above() -> None:
    rules = Rules(battery_low_pct=20)
    assert rules.evaluate(reading("battery_pct", 19.5), CABINET) == [
        Raise("low_battery", Severity.LOW, "low_battery.level", "level", {"value": 19.5})]
    assert rules.evaluate(reading("battery_pct", 22), CABINET) == []
    assert rules.evaluate(reading("battery_pct", 100), CABINET) == [Clear("low_battery", "level")]


@pytest.mark.parametrize(("name", "severity"), [("door_open", Severity.LOW),
                                                ("lamp_failure", Severity.MEDIUM),
                                                ("breaker_trip", Severity.HIGH),
                                                ("power_loss", Severity.HIGH)])
def test_cabinet_events_are_cabinet_faults(name: str, severity: Severity) -> None:
    assert Rules().evaluate(event(name), CABINET) == [
        Raise("cabinet_fault", severity, f"cabinet_fault.{name}", name)]


def test_a_buildings_leak_event_but_not_its_door() -> None:
    assert [a.alert_type for a in Rules().evaluate(event("water_leak"), BUILDING)] == ["water_leak"]
    assert Rules().evaluate(event("door_open"), BUILDING) == []


def test_other_readings_mean_nothing() -> None:
    assert Rules().evaluate(reading("power_w", 1e6), CABINET) == []


# --- heat: rate of rise, classes, tests and maintenance -------------------------------------
def temperatures(rules: Rules, device: Device, points: list[tuple[float, float]]) -> list[list]:
    """Feeds (minutes after T0, °C) readings of `device`; the actions of each."""
    return [rules.evaluate(InboxItem(id=1, ts=T0 + timedelta(minutes=m), tenant_id=1,
                                     device_uid=device.uid, kind="reading",
                                     name="temperature_c", value=c), device)
            for m, c in points]


def raises(actions: list[list]) -> list[list]:
    return [[a for a in step if isinstance(a, Raise)] for step in actions]


def test_a_fast_heat_rise_is_a_fire_before_any_threshold_or_smoke() -> None:
    rules = Rules()
    actions = temperatures(rules, DETECTOR, [(0, 20.0), (1, 21.0), (2, 30.5), (3, 40.0)])
    assert raises(actions)[:2] == [[], []]
    assert actions[2] == [Clear("fire", "temperature"),  # far under the static 58 °C
                          Raise("fire", Severity.CRITICAL, "fire.heat_rise", "heat_rise",
                                {"rate": 9.5, "value": 30.5, "from": 20.0})]
    assert [a.condition for a in raises(actions)[3]] == ["heat_rise"]


def test_a_heat_rise_clears_once_the_room_is_back_near_where_it_began() -> None:
    rules = Rules()
    actions = temperatures(rules, DETECTOR, [(0, 20.0), (1, 32.0), (10, 30.0), (20, 24.5)])
    assert [a.condition for a in raises(actions)[1]] == ["heat_rise"]
    assert Clear("fire", "heat_rise") not in actions[2]  # still hot: the fire is not over
    assert Clear("fire", "heat_rise") in actions[3]


@pytest.mark.parametrize(("points", "why"), [
    ([(0, 20.0), (1, 26.0), (2, 32.0), (3, 38.0)], "6 °C/min: a slow fire, for the static rule"),
    ([(0, 20.0), (0.25, 24.0)], "4 °C in 15 s: too short a span to be a rate"),
    ([(0, 20.0), (15, 45.0)], "25 °C in 15 minutes"),
], ids=["slow", "short-span", "quarter-hour"])
def test_slower_or_shorter_rises_are_no_rate_of_rise_fire(points: list[tuple[float, float]],
                                                          why: str) -> None:
    actions = temperatures(Rules(), DETECTOR, points)
    assert all(a == [] for a in raises(actions)), why


def test_a_static_only_class_has_no_rate_of_rise_and_its_own_threshold() -> None:
    static = Device(uid=5, tenant_id=1, tenant="t", tenant_name="T", id="chaufferie",
                    kind="hazard_detector", name="Chaufferie", metadata={"heat_class": "BS"})
    actions = raises(temperatures(Rules(), static, [(0, 20.0), (1, 40.0), (2, 72.0), (3, 73.0)]))
    assert actions[:3] == [[], [], []]            # class B: static 69-85 °C, here 73 °C
    assert [(a.alert_type, a.condition) for a in actions[3]] == [("fire", "temperature")]


def test_a_heat_test_and_the_minutes_after_it_raise_no_fire() -> None:
    """A technician's heat gun: hot during the test, still hot just after it."""
    rules = Rules()
    temperatures(rules, DETECTOR, [(-15, 20.0)])
    assert rules.evaluate(event("test", trigger="weekly"), DETECTOR) == []
    during = temperatures(rules, DETECTOR, [(0.3, 45.0), (0.6, 62.0)])
    assert rules.evaluate(event("heat", at=T0 + timedelta(seconds=40)), DETECTOR) == []
    assert rules.evaluate(event("test", False, at=T0 + timedelta(seconds=50)), DETECTOR) == []
    after = temperatures(rules, DETECTOR, [(2, 59.0), (4, 40.0), (6.5, 25.0), (7.5, 24.0)])
    assert raises(during) == [[], []]
    assert raises(after) == [[], [], [], []]
    # Once it settled, a real rise is a fire again.
    [fire] = raises(temperatures(rules, DETECTOR, [(8.5, 34.0)]))[0]
    assert (fire.alert_type, fire.condition) == ("fire", "heat_rise")


def test_maintenance_raises_no_fire_for_hours_but_not_for_ever() -> None:
    rules = Rules()
    rules.evaluate(event("test", trigger="maintenance"), DETECTOR)
    assert rules.evaluate(event("smoke", at=T0 + timedelta(hours=2)), DETECTOR) == []
    assert [a.alert_type for a in rules.evaluate(event("smoke", at=T0 + timedelta(hours=5)),
                                                 DETECTOR)] == ["fire"]
    away = Device(uid=6, tenant_id=1, tenant="t", tenant_name="T", id="d", kind="hazard_detector",
                  name="D", metadata={"maintenance_until": "2026-11-23T23:00:00Z"})
    assert Rules().evaluate(event("smoke"), away) == []
    assert Rules().evaluate(event("smoke", at=T0 + timedelta(hours=3)), away) != []


def test_a_tamper_is_never_a_fire_even_when_the_detector_is_handled() -> None:
    rules = Rules()
    assert [a.alert_type for a in rules.evaluate(event("tamper"), DETECTOR)] == ["device_fault"]
    handled = temperatures(rules, DETECTOR, [(0, 20.0), (1, 22.0), (2, 24.5), (3, 26.0)])
    assert raises(handled) == [[], [], [], []]
    assert rules.evaluate(event("tamper", False), DETECTOR) == [Clear("device_fault", "tamper")]


def test_a_water_sensors_thermometer_is_no_rate_of_rise_detector() -> None:
    gauge = Device(uid=7, tenant_id=1, tenant="t", tenant_name="T", id="g", kind="hazard_detector",
                   name="G", metadata={"sensor": "water_level"})
    assert raises(temperatures(Rules(), gauge, [(0, 10.0), (1, 25.0)])) == [[], []]


# --- flood: rate of rise ---------------------------------------------------------------------
def levels(rules: Rules, points: list[tuple[float, float]], device: Device = GAUGE) -> list[list]:
    return [rules.evaluate(InboxItem(id=1, ts=T0 + timedelta(minutes=m), tenant_id=1,
                                     device_uid=device.uid, kind="reading",
                                     name="water_level_cm", value=cm), device)
            for m, cm in points]


def test_a_fast_rise_under_yellow_is_an_early_flood_alert() -> None:
    """GAUGE: yellow 100, orange 140: the default rate is 40 cm an hour over 60 minutes."""
    actions = levels(Rules(), [(0, 40.0), (15, 45.0), (30, 62.0), (45, 75.0)])
    assert actions[:2] == [[Clear("flood", "level")], [Clear("flood", "level")]]
    # 22 cm in 30 minutes: 44 cm/h.
    assert actions[2] == [Clear("flood", "level"),
                          Raise("flood", Severity.MEDIUM, "flood.rise", "rise",
                                {"rate": 44.0, "value": 62.0, "window_min": 60})]
    assert actions[3][1].condition == "rise"


def test_a_fast_rise_far_below_yellow_is_a_shower_not_a_flood_warning() -> None:
    """50 cm/h from 10 cm: at that rate the level is at 85 cm in an hour, under yellow (100)."""
    actions = levels(Rules(), [(0, 10.0), (30, 35.0), (45, 70.0)])
    assert actions[1] == [Clear("flood", "level"), Clear("flood", "rise")]
    assert actions[2][1].condition == "rise" and isinstance(actions[2][1], Raise)  # 70 + 80 ≥ 100


def test_a_slow_rise_or_a_recession_clears_the_rise() -> None:
    actions = levels(Rules(), [(0, 40.0), (30, 62.0), (60, 90.0), (90, 95.0), (120, 96.0)])
    assert [type(a).__name__ for a in actions[1]] == ["Clear", "Raise"]
    assert actions[3] == [Clear("flood", "level")]   # 33 cm/h: under 40, above half of it
    assert actions[4] == [Clear("flood", "level"), Clear("flood", "rise")]


def test_a_sites_own_rise_rule_and_one_without() -> None:
    own = Device(uid=8, tenant_id=1, tenant="t", tenant_name="T", id="g", kind="hazard_detector",
                 name="G", metadata={"thresholds_cm": {"yellow": 100}, "flood_rise_cm_per_h": 10,
                                     "flood_rise_window_min": 20})
    actions = levels(Rules(), [(0, 40.0), (10, 42.0)], own)
    assert [a.condition for a in actions[1]] == ["level", "rise"]  # 12 cm/h over 10 minutes
    off = Device(uid=9, tenant_id=1, tenant="t", tenant_name="T", id="h", kind="hazard_detector",
                 name="H", metadata={"thresholds_cm": THRESHOLDS, "flood_rise_cm_per_h": False})
    assert levels(Rules(), [(0, 40.0), (30, 90.0)], off)[1] == [Clear("flood", "level")]


def test_readings_replayed_out_of_order_give_no_rate() -> None:
    rules = Rules()
    levels(rules, [(60, 40.0)])
    assert levels(rules, [(0, 10.0), (30, 95.0)]) == [[Clear("flood", "level")],
                                                       [Clear("flood", "level")]]


def test_the_memory_per_device_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import alerts.rules as rules_module
    monkeypatch.setattr(rules_module, "MAX_TRACKED", 3)
    rules = Rules()
    for uid in range(10):
        device = Device(uid=100 + uid, tenant_id=1, tenant="t", tenant_name="T", id=f"d{uid}",
                        kind="hazard_detector", name="D", metadata=GAUGE.metadata)
        levels(rules, [(m, 40.0 + m) for m in range(0, 600, 5)], device)
    assert len(rules._levels) == 3
    assert all(len(t.samples) <= rules_module.TRACK_SAMPLES for t in rules._levels.values())
