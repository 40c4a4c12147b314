"""Real-time rules: what an event or a reading from the outbox means for alerts.

`Rules.evaluate(item, device)` returns actions — raise an alert of a type and severity, or
clear one of its conditions — and never touches the database (alerts/engine.py applies them
through alerts/lifecycle.py). Every condition is cleared by its opposite: an event with
`active: false`, or a reading back on the safe side.

Events (by device kind):

    hazard_detector   smoke, heat          -> fire, critical, at once
                      water                -> flood: the level its detail names
                                              (`threshold`: yellow/orange/red -> medium/high/
                                              critical), else medium (a water probe)
                      tamper               -> device_fault, medium (a safety device is off its
                                              mounting or open: no fire, but no protection)
                      test                 -> nothing: a self-test or maintenance. Smoke and heat
                                              alarms during a test (until its `active: false`,
                                              at most 10 minutes) raise nothing either
                      low_battery          -> low_battery, low
    lighting_cabinet  door_open -> cabinet_fault low, lamp_failure -> medium,
                      breaker_trip, power_loss -> high
    building_meter    water_leak           -> water_leak, high (door_open: nothing)
    acoustic_leak_sensor  tamper           -> device_fault, low
    any kind          low_battery          -> low_battery, low

Readings:

    smoke_alarm 1 / 0          -> fire critical / clear        (hazard detectors)
    water_detected 1 / 0       -> flood medium / clear
    water_level_cm             -> flood by the device's `thresholds_cm` metadata
                                  {"yellow": …, "orange": …, "red": …}: medium, high,
                                  critical at or above each; under yellow: clear
    temperature_c              -> fire critical at or above the `heat_alarm_c` metadata
                                  (default 58 °C, a fixed-temperature heat detector);
                                  clear below it by 5 °C
    battery_pct                -> low_battery low under PHARE_ALERTS_BATTERY_LOW_PCT (or the
                                  `battery_low_pct` metadata); clear 5 points above it
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from alerts.model import AlertType, Device, Severity

log = logging.getLogger(__name__)

HEAT_ALARM_C = 58.0
HEAT_HYSTERESIS_C = 5.0
BATTERY_HYSTERESIS_PCT = 5.0
MAX_TEST = timedelta(minutes=10)
FLOOD_LEVELS = (("red", Severity.CRITICAL), ("orange", Severity.HIGH), ("yellow", Severity.MEDIUM))
_LEVEL_SEVERITY = dict(FLOOD_LEVELS)

CABINET_EVENTS = {"door_open": Severity.LOW, "lamp_failure": Severity.MEDIUM,
                  "breaker_trip": Severity.HIGH, "power_loss": Severity.HIGH}


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One row of `alert_inbox`: a reading or an event, as ingest stored it."""

    id: int
    ts: datetime
    tenant_id: int
    device_uid: int
    kind: Literal["reading", "event"]
    name: str
    value: float | None = None
    active: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Raise:
    alert_type: str
    severity: Severity
    text_key: str
    condition: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Clear:
    alert_type: str
    condition: str


Action = Raise | Clear


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def flood_thresholds(metadata: dict[str, Any]) -> list[tuple[str, float, Severity]]:
    """(level, threshold cm, severity) from the `thresholds_cm` metadata, highest first."""
    raw = metadata.get("thresholds_cm")
    if not isinstance(raw, dict):
        return []
    out = []
    for level, severity in FLOOD_LEVELS:
        cm = _number(raw.get(level))
        if cm is not None:
            out.append((level, cm, severity))
    return out


class Rules:
    """The rules, with the little state they need: which detectors are being tested."""

    def __init__(self, *, battery_low_pct: float = 20.0) -> None:
        self.battery_low_pct = battery_low_pct
        self._testing: dict[int, tuple[datetime, datetime]] = {}  # uid -> (start, until)

    def evaluate(self, item: InboxItem, device: Device) -> list[Action]:
        """The actions an inbox item calls for (none for most readings)."""
        if item.kind == "event":
            return self._event(item, device)
        if item.value is None:
            return []
        return self._reading(item, device, item.value)

    # --- events -------------------------------------------------------------------------
    def _event(self, item: InboxItem, device: Device) -> list[Action]:
        name, active = item.name, bool(item.active)
        if name == "low_battery":
            pct = _number(item.detail.get("battery_pct"))
            params = {"value": pct} if pct is not None else {}
            if active:
                return [Raise(AlertType.LOW_BATTERY, Severity.LOW, "low_battery.event", "event",
                              params)]
            return [Clear(AlertType.LOW_BATTERY, "event")]
        if device.kind == "hazard_detector":
            return self._hazard_event(item, device, name, active)
        if device.kind == "lighting_cabinet" and name in CABINET_EVENTS:
            if active:
                return [Raise(AlertType.CABINET_FAULT, CABINET_EVENTS[name],
                              f"cabinet_fault.{name}", name)]
            return [Clear(AlertType.CABINET_FAULT, name)]
        if device.kind == "building_meter" and name == "water_leak":
            if active:
                return [Raise(AlertType.WATER_LEAK, Severity.HIGH, "water_leak.event", name)]
            return [Clear(AlertType.WATER_LEAK, name)]
        if device.kind == "acoustic_leak_sensor" and name == "tamper":
            if active:
                return [Raise(AlertType.DEVICE_FAULT, Severity.LOW, "device_fault.tamper", name)]
            return [Clear(AlertType.DEVICE_FAULT, name)]
        return []

    def _hazard_event(self, item: InboxItem, device: Device, name: str,
                      active: bool) -> list[Action]:
        if name == "test":
            if active:
                self._testing[device.uid] = (item.ts, item.ts + MAX_TEST)
            else:
                self._testing.pop(device.uid, None)
            return []
        if name in ("smoke", "heat"):
            if not active:
                return [Clear(AlertType.FIRE, name)]
            if self._in_test(device.uid, item.ts) or item.detail.get("test") is True:
                log.info("%s alarm of %s during a self-test: no fire", name, device.id)
                return []
            return [Raise(AlertType.FIRE, Severity.CRITICAL, f"fire.{name}", name)]
        if name == "water":
            if not active:
                return [Clear(AlertType.FLOOD, "water")]
            level = item.detail.get("threshold")
            cm = _number(item.detail.get("level_cm"))
            if isinstance(level, str) and level in _LEVEL_SEVERITY:
                params: dict[str, Any] = {"level": level}
                if cm is not None:
                    params["value"] = cm
                    return [Raise(AlertType.FLOOD, _LEVEL_SEVERITY[level], "flood.level",
                                  "water", params)]
                return [Raise(AlertType.FLOOD, _LEVEL_SEVERITY[level], "flood.water", "water",
                              params)]
            return [Raise(AlertType.FLOOD, Severity.MEDIUM, "flood.water", "water")]
        if name == "tamper":
            if active:
                return [Raise(AlertType.DEVICE_FAULT, Severity.MEDIUM, "device_fault.tamper",
                              name)]
            return [Clear(AlertType.DEVICE_FAULT, name)]
        return []

    def _in_test(self, uid: int, ts: datetime) -> bool:
        window = self._testing.get(uid)
        if window is None:
            return False
        start, until = window
        if ts > until:
            del self._testing[uid]
            return False
        return ts >= start

    # --- readings -----------------------------------------------------------------------
    def _reading(self, item: InboxItem, device: Device, value: float) -> list[Action]:
        name, meta = item.name, device.metadata
        if name == "battery_pct":
            threshold = _number(meta.get("battery_low_pct")) or self.battery_low_pct
            if value < threshold:
                return [Raise(AlertType.LOW_BATTERY, Severity.LOW, "low_battery.level", "level",
                              {"value": value})]
            if value >= threshold + BATTERY_HYSTERESIS_PCT:
                return [Clear(AlertType.LOW_BATTERY, "level")]
            return []
        if device.kind != "hazard_detector":
            return []
        if name == "smoke_alarm":
            if value < 0.5:
                return [Clear(AlertType.FIRE, name)]
            if self._in_test(device.uid, item.ts):
                return []
            return [Raise(AlertType.FIRE, Severity.CRITICAL, "fire.smoke", name)]
        if name == "water_detected":
            if value >= 0.5:
                return [Raise(AlertType.FLOOD, Severity.MEDIUM, "flood.water", name)]
            return [Clear(AlertType.FLOOD, name)]
        if name == "water_level_cm":
            thresholds = flood_thresholds(meta)
            if not thresholds:
                return []
            for level, cm, severity in thresholds:
                if value >= cm:
                    return [Raise(AlertType.FLOOD, severity, "flood.level", "level",
                                  {"level": level, "value": value})]
            return [Clear(AlertType.FLOOD, "level")]
        if name == "temperature_c":
            limit = _number(meta.get("heat_alarm_c")) or HEAT_ALARM_C
            if value >= limit and not self._in_test(device.uid, item.ts):
                return [Raise(AlertType.FIRE, Severity.CRITICAL, "fire.temperature",
                              "temperature", {"value": value})]
            if value < limit - HEAT_HYSTERESIS_C:
                return [Clear(AlertType.FIRE, "temperature")]
        return []
