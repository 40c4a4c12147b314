"""The rules alone: what an event or a reading means, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.model import Device, Severity
from alerts.rules import Clear, InboxItem, Raise, Rules

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
