"""Hazard detectors: smoke detectors in public buildings, water-level gauges on rivers, spot
water sensors at low points; all self-tested weekly and battery powered.

Smoke: a real fire (`fire` fault) smoulders (the room warms slowly), then flames; the smoke
alarm sounds while it smoulders, after the temperature began to rise, and the heat alarm
when the temperature rises faster than a rate-of-rise detector allows or passes its static
threshold. A false alarm (`false_alarm`: cooking, steam, dust) sounds with no rise at all.
Weekly tests and tampering are events too, and are neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from devices.messages import Event, MetricValue

from .base import LOCAL_TZ, Fault, Message, SimDevice, local_hour, next_local
from .hydrology import Gauge, LowPoint
from .weather import Weather

VARIANTS = ("smoke", "water_level", "water_spot")
TEST_DURATION = timedelta(seconds=40)
LOW_BATTERY_PCT = 15.0
# Heat detectors, EN 54-5 class A1R: alarm when the air warms faster than ~8 °C a minute
# (rate of rise), or passes 58 °C (static, within the class's 54-65 °C).
RATE_OF_RISE_C_PER_MIN = 8.0
STATIC_HEAT_C = 58.0
HEAT_CLEAR_C = 50.0
FIRE_COOLING_MIN = 20.0  # time constant of the room cooling once the fire is out
SMOKE_CLEARS = timedelta(minutes=15)  # after the fire is out: firefighters ventilate
INCIDENT_INTERVAL = timedelta(minutes=1)  # alarm mode: a reading a minute
FLOOD_INTERVAL = timedelta(minutes=5)  # a gauge above its first threshold reports faster
INCIDENT_TAIL = timedelta(minutes=30)


def fire_timeline(start: datetime, params: dict[str, Any], room_c: float) -> dict[str, Any]:
    """When a fire's alarms sound and end, from its parameters (minutes and °C a minute):
    `smoulder_min`, `smoulder_rate`, `flaming_min`, `flame_rate`, `alarm_after_min`."""
    smoulder, flaming = params["smoulder_min"], params["flaming_min"]
    smoulder_rise = params["smoulder_rate"] * smoulder
    out_at = start + timedelta(minutes=smoulder + flaming)
    peak_rise = smoulder_rise + params["flame_rate"] * flaming
    heat_at = None
    if params["flame_rate"] >= RATE_OF_RISE_C_PER_MIN:
        heat_at = start + timedelta(minutes=smoulder + 1)
    else:
        to_static = (STATIC_HEAT_C - room_c - smoulder_rise) / params["flame_rate"]
        if 0 <= to_static < flaming:
            heat_at = start + timedelta(minutes=smoulder + to_static)
    heat_clear = None
    if heat_at is not None:
        cooling = FIRE_COOLING_MIN * math.log(max(1.0, peak_rise / (HEAT_CLEAR_C - room_c)))
        heat_clear = out_at + timedelta(minutes=max(1.0, cooling))
    return {"alarm_at": start + timedelta(minutes=params["alarm_after_min"]),
            "out_at": out_at, "smoke_clear": out_at + SMOKE_CLEARS, "heat_at": heat_at,
            "heat_clear": heat_clear, "peak_c": room_c + peak_rise}


class HazardDetector(SimDevice):
    """A battery detector: `smoke` (indoors), `water_level` (a gauge on a river) or
    `water_spot` (water presence at a low point), self-tested weekly."""

    kind = "hazard_detector"
    model = "phare-sim-detecteur-1"
    fw = "1.3.7"
    fault_types = frozenset({"fire", "false_alarm", "tamper", "offline"})
    edge_events = {"tamper": "tamper"}
    interval = timedelta(minutes=15)

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int, weather: Weather, variant: str = "smoke", gauge: Gauge | None = None,
                 low_point: LowPoint | None = None, building: str | None = None,
                 room_c: Callable[[datetime], float] | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown hazard detector variant {variant!r}: one of {VARIANTS}")
        super().__init__(tenant, device_id, name, lat=lat, lon=lon, seed=seed)
        rng = self.rng
        self.variant = variant
        self.weather = weather
        self.indoor_c = rng.uniform(18.5, 20.5)
        self._room_c = room_c  # the building's indoor temperature, when it has a meter
        self.gauge = gauge
        self.low_point = low_point
        if variant == "water_level" and gauge is None:
            raise ValueError("a water_level detector needs its gauge")
        if variant == "water_spot" and low_point is None:
            raise ValueError("a water_spot detector needs its low point")
        self.test_weekday = rng.randrange(5)  # maintenance tests happen on working days
        self.test_time = time(10, rng.randrange(60))
        self.battery_pct = rng.uniform(70, 100)
        self.battery_drain_pct_per_day = rng.uniform(0.01, 0.02)
        self.rssi_dbm = rng.uniform(-110, -85)
        self.metadata: dict[str, Any] = {"sensor": variant}
        if building is not None:
            self.metadata["building"] = building
        if gauge is not None:
            t = gauge.thresholds
            self.metadata.update(river=gauge.river.name, thresholds_cm={
                "yellow": t.yellow, "orange": t.orange, "red": t.red})
        self._next_test: datetime | None = None
        self._low_battery_sent = False
        self._crossed: list[str] = []  # thresholds the gauge reported above, in order
        self._wet: list[tuple[datetime, datetime, float]] = []
        self._prepared = False

    # --- faults and the period ----------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        if fault.type in ("fire", "false_alarm") and self.variant != "smoke":
            raise ValueError(f"a {self.variant} detector cannot have a {fault.type}")
        super().add_fault(fault)
        if fault.type == "fire":
            line = fire_timeline(fault.start, fault.params, self.indoor_c)
            detail = {"room": fault.params.get("room")}
            self.schedule(Event(line["alarm_at"], "smoke", True, detail))
            self.schedule(Event(line["smoke_clear"], "smoke", False, detail))
            if line["heat_at"] is not None:
                self.schedule(Event(line["heat_at"], "heat", True, detail))
                self.schedule(Event(line["heat_clear"], "heat", False, detail))
        elif fault.type == "false_alarm":
            detail = {"room": fault.params.get("room")}
            assert fault.end is not None
            self.schedule(Event(fault.start, "smoke", True, detail))
            self.schedule(Event(fault.end, "smoke", False, detail))

    def prepare(self, start: datetime, end: datetime) -> None:
        """A spot sensor's wet periods follow the rain of the period: its `water` events."""
        self._prepared = True
        if self.low_point is None:
            return
        self._wet = self.low_point.wet_periods(start, end)
        for wet_from, wet_to, _ in self._wet:
            if wet_from >= start:
                self.schedule(Event(wet_from, "water", True, {"water_detected": True}))
            if wet_to <= end:
                self.schedule(Event(wet_to, "water", False, {"water_detected": False}))

    # --- physics ------------------------------------------------------------------------
    def room_c(self, t: datetime) -> float:
        """The room's temperature without fire: the building's, or a room of its own."""
        if self._room_c is not None:
            return self._room_c(t)
        return self.indoor_c + 0.8 * math.cos(2 * math.pi * (local_hour(t) - 16) / 24)

    def fire_rise_c(self, t: datetime) -> float:
        """How much a fire warmed the room at t."""
        rise = 0.0
        for f in self.faults:
            if f.type != "fire" or t < f.start:
                continue
            p = f.params
            minutes = (t - f.start).total_seconds() / 60
            smoulder_rise = p["smoulder_rate"] * p["smoulder_min"]
            if minutes < p["smoulder_min"]:
                rise += p["smoulder_rate"] * minutes
            elif minutes < p["smoulder_min"] + p["flaming_min"]:
                rise += smoulder_rise + p["flame_rate"] * (minutes - p["smoulder_min"])
            else:
                peak = smoulder_rise + p["flame_rate"] * p["flaming_min"]
                since_out = minutes - p["smoulder_min"] - p["flaming_min"]
                rise += peak * math.exp(-since_out / FIRE_COOLING_MIN)
        return rise

    def smoke_alarm(self, t: datetime) -> bool:
        for f in self.faults:
            if f.type == "false_alarm" and f.active(t):
                return True
            if f.type == "fire" and f.start <= t:
                line = fire_timeline(f.start, f.params, self.indoor_c)
                if line["alarm_at"] <= t < line["smoke_clear"]:
                    return True
        return False

    def wet(self, t: datetime) -> bool:
        return any(a <= t < b for a, b, _ in self._wet)

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        rng = self.rng
        if self.variant == "smoke":
            indoor = self.room_c(t) + self.fire_rise_c(t)
            metrics: dict[str, MetricValue] = {
                "smoke_alarm": self.smoke_alarm(t),
                "temperature_c": round(indoor + rng.gauss(0, 0.1), 1)}
        elif self.gauge is not None:
            level = self.gauge.level_cm(t) + rng.gauss(0, 0.3)
            self._threshold_events(t, level)
            metrics = {"water_detected": False, "water_level_cm": round(level, 1),
                       "temperature_c": round(self.weather.temperature(t) + rng.gauss(0, 0.2), 1)}
        else:
            metrics = {"water_detected": self.wet(t),
                       "temperature_c": round(self.weather.temperature(t) + rng.gauss(0, 0.2), 1)}
        return {**metrics, **self.common_metrics()}

    def _threshold_events(self, t: datetime, level: float) -> None:
        """A gauge reports each threshold it passes upwards, and the end when back under all."""
        assert self.gauge is not None
        crossed = self.gauge.thresholds.crossed(level)
        for name in crossed:
            if name not in self._crossed:
                self._crossed.append(name)
                self.emit(Event(t, "water", True, {"threshold": name, "level_cm": round(level, 1)}))
        if not crossed and self._crossed:
            self._crossed = []
            self.emit(Event(t, "water", False, {"level_cm": round(level, 1)}))

    def next_report(self, t: datetime) -> datetime:
        nxt = t + self.interval
        if self.gauge is not None and self._crossed:
            return t + FLOOD_INTERVAL
        for f in self.faults:
            if f.type not in ("fire", "false_alarm"):
                continue
            until = (f.end or f.start) + INCIDENT_TAIL
            if f.start <= t < until:
                return t + INCIDENT_INTERVAL
            if t < f.start < nxt:
                nxt = f.start  # the incident wakes the detector up
        return nxt

    def events(self, t: datetime) -> list[Event]:
        out = []
        if (self.battery_pct is not None and self.battery_pct < LOW_BATTERY_PCT
                and not self._low_battery_sent):
            self._low_battery_sent = True
            out.append(Event(t, "low_battery", True, {"battery_pct": round(self.battery_pct, 1)}))
        if self._next_test is None:
            self._next_test = self._test_after(t)
        if t < self._next_test:
            return out
        # The test ran at its time (or just before this step): both ends are in the past.
        start = min(self._next_test, t - TEST_DURATION)
        self._next_test = self._test_after(t + timedelta(hours=1))
        return [*out, Event(ts=start, type="test", active=True, detail={"trigger": "weekly"}),
                Event(ts=start + TEST_DURATION, type="test", active=False,
                      detail={"result": "ok"})]

    def step(self, t: datetime) -> list[Message]:
        if not self._prepared:  # used alone, without a territory: a year ahead
            self.prepare(t, t + timedelta(days=366))
        return super().step(t)

    def _test_after(self, t: datetime) -> datetime:
        at = next_local(t, self.test_time)
        while at.astimezone(LOCAL_TZ).weekday() != self.test_weekday:
            at = next_local(at + timedelta(hours=1), self.test_time)
        return at
