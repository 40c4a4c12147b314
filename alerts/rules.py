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
                      test                 -> nothing: a self-test (`trigger: weekly`…) or
                                              maintenance (`trigger: maintenance`). Smoke and heat
                                              alarms during a test (until its `active: false`,
                                              at most 10 minutes; 4 hours for maintenance) raise
                                              nothing; temperature rules stay quiet 5 minutes
                                              more (a heat test leaves the detector hot)
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
                                  critical at or above each; under yellow: clear (condition
                                  `level`). And the rate of rise (condition `rise`, medium): the
                                  level climbing at least `flood_rise_cm_per_h` (default: from
                                  yellow to orange in an hour) over the last
                                  `flood_rise_window_min` (60), fast enough to reach yellow
                                  within that window; cleared under half that rate, or when
                                  yellow is out of reach
    temperature_c              -> fire critical at or above the static threshold (condition
                                  `temperature`: `heat_alarm_c`, else by `heat_class`, default
                                  58 °C), cleared 5 °C below it; and, for rate-of-rise
                                  detectors, fire critical when the air warms by at least
                                  `heat_rise_c_per_min` (8 °C/min) over a minute or more of the
                                  last 5 minutes (condition `heat_rise`), cleared once the
                                  temperature is back within 5 °C of where the rise began
    battery_pct                -> low_battery low under PHARE_ALERTS_BATTERY_LOW_PCT (or the
                                  `battery_low_pct` metadata); clear 5 points above it

A device whose metadata has `maintenance_until` (an RFC 3339 instant) raises no fire until
then: a technician is working on it. Heat detector classes are those of EN 54-5
(docs/analytics.md, "Fire and flood"). The rates need a little memory per device: the last
minutes of its readings, at most `TRACK_SAMPLES` each, for at most `MAX_TRACKED` devices
(least recently heard forgotten first); a restart of the engine forgets them (the static
thresholds and events do not need them).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from alerts.model import AlertType, Device, Severity

log = logging.getLogger(__name__)

HEAT_ALARM_C = 58.0
HEAT_HYSTERESIS_C = 5.0
# EN 54-5 classes: (minimum, maximum) static response temperature, °C. A class's static
# threshold here is its minimum + 4 °C (58 °C for A1/A2: inside the 54-65 °C band of A1).
EN54_5_CLASSES: dict[str, tuple[float, float]] = {
    "A1": (54, 65), "A2": (54, 70), "B": (69, 85), "C": (84, 100), "D": (99, 115),
    "E": (114, 130), "F": (129, 145), "G": (144, 160)}
STATIC_MARGIN_C = 4.0
# Rate of rise: the usual setting of rate-of-rise heat detectors (15 °F ≈ 8.3 °C a minute),
# what the simulated class A1R detectors use too.
HEAT_RISE_C_PER_MIN = 8.0
HEAT_RISE_WINDOW = timedelta(minutes=5)
HEAT_RISE_MIN_SPAN = timedelta(minutes=1)  # a rate over less is noise, not a fire
FLOOD_RISE_WINDOW = timedelta(minutes=60)
FLOOD_RISE_DEFAULT_CM_PER_H = 30.0  # for a site with a yellow threshold and no orange one
BATTERY_HYSTERESIS_PCT = 5.0
MAX_TEST = timedelta(minutes=10)
MAX_MAINTENANCE = timedelta(hours=4)
TEST_SETTLE = timedelta(minutes=5)  # after a test: the detector cools down from a heat test
# A water sensor's thermometer measures the air or the water: no rate-of-rise fire from it.
WATER_SENSORS = frozenset({"water_level", "water_spot", "flood"})
TRACK_SAMPLES = 32
MAX_TRACKED = 50_000
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


# --- per-site settings from the device's metadata --------------------------------------------
@dataclass(frozen=True, slots=True)
class HeatSettings:
    """A heat detector's thresholds: static (°C) and rate of rise (°C/min, None: none)."""

    static_c: float = HEAT_ALARM_C
    rise_c_per_min: float | None = HEAT_RISE_C_PER_MIN
    window: timedelta = HEAT_RISE_WINDOW

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> HeatSettings:
        """`heat_alarm_c`, else `heat_class` (EN 54-5: "A1R", "BS"…; suffix S: static only);
        `heat_rise_c_per_min` (a number, or false for none), `heat_rise_window_min`."""
        static = HEAT_ALARM_C
        rise: float | None = HEAT_RISE_C_PER_MIN
        klass = meta.get("heat_class")
        if isinstance(klass, str) and klass.strip():
            code = klass.strip().upper()
            if code.endswith("S"):
                rise = None
            band = EN54_5_CLASSES.get(code.rstrip("SR"))
            if band is not None:
                static = band[0] + STATIC_MARGIN_C
            else:
                log.warning("unknown heat detector class %r (EN 54-5: %s); default thresholds",
                            klass, ", ".join(EN54_5_CLASSES))
        explicit = _number(meta.get("heat_alarm_c"))
        if explicit is not None and explicit > 0:
            static = explicit
        if "heat_rise_c_per_min" in meta:
            value = meta["heat_rise_c_per_min"]
            rate = _number(value)
            rise = rate if rate is not None and rate > 0 else None
        window = _minutes(meta.get("heat_rise_window_min"), HEAT_RISE_WINDOW)
        return cls(static, rise, max(window, HEAT_RISE_MIN_SPAN * 2))


@dataclass(frozen=True, slots=True)
class FloodRiseSettings:
    """A gauge's rate-of-rise rule: cm an hour over a window (None: no rule for the site)."""

    cm_per_h: float | None
    window: timedelta = FLOOD_RISE_WINDOW

    @property
    def min_span(self) -> timedelta:
        return self.window / 2

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> FloodRiseSettings:
        """`flood_rise_cm_per_h` (a number, or false for none), `flood_rise_window_min`; by
        default a site with thresholds gets (orange - yellow) cm an hour: at that rate the
        level goes from yellow to orange within the hour."""
        window = _minutes(meta.get("flood_rise_window_min"), FLOOD_RISE_WINDOW)
        if "flood_rise_cm_per_h" in meta:
            rate = _number(meta["flood_rise_cm_per_h"])
            return cls(rate if rate is not None and rate > 0 else None, window)
        levels = {level: cm for level, cm, _ in flood_thresholds(meta)}
        if "yellow" not in levels:
            return cls(None, window)
        if "orange" in levels and levels["orange"] > levels["yellow"]:
            return cls(levels["orange"] - levels["yellow"], window)
        return cls(FLOOD_RISE_DEFAULT_CM_PER_H, window)


def _minutes(value: Any, default: timedelta) -> timedelta:
    minutes = _number(value)
    return timedelta(minutes=minutes) if minutes is not None and 0 < minutes <= 24 * 60 else default


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


# --- a device's recent readings, for rates ----------------------------------------------------
class Track:
    """The last `window` of one metric's readings of one device, at most `TRACK_SAMPLES`
    (closer readings are thinned: the newest replaces its neighbour)."""

    __slots__ = ("samples", "window")

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.samples: deque[tuple[datetime, float]] = deque()

    def add(self, ts: datetime, value: float) -> bool:
        """Adds a reading; False (and ignored) when not newer than the newest one."""
        samples = self.samples
        if samples and ts <= samples[-1][0]:
            return False
        spacing = self.window / TRACK_SAMPLES
        if len(samples) >= 2 and ts - samples[-2][0] < spacing:
            samples[-1] = (ts, value)
        else:
            samples.append((ts, value))
        while samples and samples[0][0] < ts - self.window:
            samples.popleft()
        while len(samples) > TRACK_SAMPLES:
            samples.popleft()
        return True

    def rate_per_h(self, min_span: timedelta) -> float | None:
        """The fastest rise (units an hour) from a reading at least `min_span` old to the
        newest; None when no reading is that old."""
        if not self.samples:
            return None
        t1, v1 = self.samples[-1]
        rates = [(v1 - v0) / ((t1 - t0).total_seconds() / 3600)
                 for t0, v0 in self.samples if t1 - t0 >= min_span]
        return max(rates) if rates else None

    def lowest(self) -> float:
        return min(v for _, v in self.samples)


@dataclass(slots=True)
class _Test:
    start: datetime
    until: datetime               # the latest it may last
    ended: datetime | None = None  # its `active: false`


class Rules:
    """The rules, with the little state they need: which detectors are being tested, and
    the last minutes of temperature and water level readings of hazard detectors."""

    def __init__(self, *, battery_low_pct: float = 20.0) -> None:
        self.battery_low_pct = battery_low_pct
        self._tests: OrderedDict[int, _Test] = OrderedDict()
        self._heat: OrderedDict[int, Track] = OrderedDict()
        self._heat_from: OrderedDict[int, float] = OrderedDict()  # uid -> where a rise began
        self._levels: OrderedDict[int, Track] = OrderedDict()

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
            self._test_event(item, device, active)
            return []
        if name in ("smoke", "heat"):
            if not active:
                return [Clear(AlertType.FIRE, name)]
            if self._no_fire(device, item.ts) or item.detail.get("test") is True:
                log.info("%s alarm of %s during a self-test or maintenance: no fire", name,
                         device.id)
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

    def _test_event(self, item: InboxItem, device: Device, active: bool) -> None:
        uid = device.uid
        if active:
            longest = MAX_MAINTENANCE if item.detail.get("trigger") == "maintenance" else MAX_TEST
            self._remember(self._tests, uid, _Test(item.ts, item.ts + longest))
            # Readings taken while a technician heats the detector are no baseline for a rate.
            self._heat.pop(uid, None)
            self._heat_from.pop(uid, None)
        else:
            test = self._tests.get(uid)
            if test is not None and test.start <= item.ts:
                test.ended = min(item.ts, test.until)

    def _no_fire(self, device: Device, ts: datetime, *, settle: timedelta = timedelta(0)) -> bool:
        """Whether the device is under test or maintenance at ts (and `settle` after)."""
        until = _instant(device.metadata.get("maintenance_until"))
        if until is not None and ts < until:
            return True
        test = self._tests.get(device.uid)
        if test is None:
            return False
        end = test.ended or test.until
        if ts >= end + TEST_SETTLE:  # over, settling included: forget it
            del self._tests[device.uid]
            return False
        return test.start <= ts < end + settle

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
            if self._no_fire(device, item.ts):
                return []
            return [Raise(AlertType.FIRE, Severity.CRITICAL, "fire.smoke", name)]
        if name == "water_detected":
            if value >= 0.5:
                return [Raise(AlertType.FLOOD, Severity.MEDIUM, "flood.water", name)]
            return [Clear(AlertType.FLOOD, name)]
        if name == "water_level_cm":
            return self._water_level(item, device, value)
        if name == "temperature_c":
            return self._temperature(item, device, value)
        return []

    def _water_level(self, item: InboxItem, device: Device, value: float) -> list[Action]:
        actions: list[Action] = []
        thresholds = flood_thresholds(device.metadata)
        if thresholds:
            for level, cm, severity in thresholds:
                if value >= cm:
                    actions.append(Raise(AlertType.FLOOD, severity, "flood.level", "level",
                                         {"level": level, "value": value}))
                    break
            else:
                actions.append(Clear(AlertType.FLOOD, "level"))
        rise = FloodRiseSettings.from_metadata(device.metadata)
        if rise.cm_per_h is None:
            return actions
        track = self._track(self._levels, device.uid, rise.window)
        if not track.add(item.ts, value):
            return actions  # an older reading, replayed: no rate from it
        rate = track.rate_per_h(rise.min_span)
        if rate is None:
            return actions
        # A fast rise far below the first threshold is a river answering a shower: it warns
        # only when, at that rate, the level reaches yellow within the window.
        yellow = next((cm for level, cm, _ in thresholds if level == "yellow"), None)
        reaching = yellow is None or value + rate * rise.window / timedelta(hours=1) >= yellow
        if rate >= rise.cm_per_h and reaching:
            actions.append(Raise(AlertType.FLOOD, Severity.MEDIUM, "flood.rise", "rise",
                                 {"rate": round(rate, 1), "value": value,
                                  "window_min": int(rise.window.total_seconds() // 60)}))
        elif rate < rise.cm_per_h / 2 or not reaching:
            actions.append(Clear(AlertType.FLOOD, "rise"))
        return actions

    def _temperature(self, item: InboxItem, device: Device, value: float) -> list[Action]:
        heat = HeatSettings.from_metadata(device.metadata)
        quiet = self._no_fire(device, item.ts, settle=TEST_SETTLE)
        actions: list[Action] = []
        if value >= heat.static_c and not quiet:
            actions.append(Raise(AlertType.FIRE, Severity.CRITICAL, "fire.temperature",
                                 "temperature", {"value": value}))
        elif value < heat.static_c - HEAT_HYSTERESIS_C:
            actions.append(Clear(AlertType.FIRE, "temperature"))
        if (heat.rise_c_per_min is None or quiet
                or device.metadata.get("sensor") in WATER_SENSORS):
            return actions
        uid = device.uid
        track = self._track(self._heat, uid, heat.window)
        if not track.add(item.ts, value):
            return actions
        rate_h = track.rate_per_h(HEAT_RISE_MIN_SPAN)
        per_min = rate_h / 60 if rate_h is not None else None
        began = self._heat_from.get(uid)
        if per_min is not None and per_min >= heat.rise_c_per_min:
            if began is None:
                began = track.lowest()
                self._remember(self._heat_from, uid, began)
            actions.append(Raise(AlertType.FIRE, Severity.CRITICAL, "fire.heat_rise",
                                 "heat_rise", {"rate": round(per_min, 1), "value": value,
                                               "from": began}))
        elif began is not None and value <= began + HEAT_HYSTERESIS_C:
            del self._heat_from[uid]
            actions.append(Clear(AlertType.FIRE, "heat_rise"))
        elif began is None and per_min is not None and value < heat.static_c - HEAT_HYSTERESIS_C:
            # Nothing remembered (a restart): back under the static threshold and not rising.
            actions.append(Clear(AlertType.FIRE, "heat_rise"))
        return actions

    # --- bounded memory -----------------------------------------------------------------
    @staticmethod
    def _remember(table: OrderedDict[int, Any], uid: int, value: Any) -> None:
        table[uid] = value
        table.move_to_end(uid)
        while len(table) > MAX_TRACKED:
            table.popitem(last=False)

    def _track(self, table: OrderedDict[int, Track], uid: int, window: timedelta) -> Track:
        track = table.get(uid)
        if track is None or track.window != window:
            track = Track(window)
            self._remember(table, uid, track)
        else:
            table.move_to_end(uid)
        return track
