"""Hazard detectors: smoke detectors in public buildings and flood sensors on streams."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta

from devices.catalogue import Channel
from devices.messages import Event, MetricValue

from .base import LOCAL_TZ, Message, SimDevice, local_hour, next_local
from .weather import Climate

VARIANTS = ("smoke", "flood")
TEST_DURATION = timedelta(seconds=40)


class HazardDetector(SimDevice):
    """A battery detector, `smoke` (indoors) or `flood` (a level probe), self-tested weekly."""

    kind = "hazard_detector"
    model = "phare-sim-detecteur-1"
    fw = "1.3.7"
    interval = timedelta(minutes=15)

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int, climate: Climate, variant: str = "smoke") -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown hazard detector variant {variant!r}: one of {VARIANTS}")
        super().__init__(tenant, device_id, name, lat=lat, lon=lon, seed=seed)
        rng = self.rng
        self.variant = variant
        self.climate = climate
        self.indoor_c = rng.uniform(18.5, 20.5)
        self.baseline_cm = rng.uniform(15, 80)  # the stream's ordinary level under the probe
        # Ordinary ups and downs of the stream over days (no flood in this first version).
        self.wave = (rng.uniform(1, 4), rng.uniform(5, 12), rng.uniform(0, 2 * math.pi))
        self.test_weekday = rng.randrange(5)  # maintenance tests happen on working days
        self.test_time = time(10, rng.randrange(60))
        self.battery_pct = rng.uniform(70, 100)
        self.battery_drain_pct_per_day = rng.uniform(0.01, 0.02)
        self.rssi_dbm = rng.uniform(-110, -85)
        self.metadata = {"sensor": variant}
        self._next_test: datetime | None = None

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        rng = self.rng
        if self.variant == "smoke":
            indoor = self.indoor_c + 0.8 * math.cos(2 * math.pi * (local_hour(t) - 16) / 24)
            metrics: dict[str, MetricValue] = {
                "smoke_alarm": False, "temperature_c": round(indoor + rng.gauss(0, 0.1), 1)}
        else:
            amp, period_days, phase = self.wave
            days = t.timestamp() / 86400
            level = self.baseline_cm + amp * math.sin(2 * math.pi * days / period_days + phase)
            metrics = {"water_detected": False,
                       "water_level_cm": round(level + rng.gauss(0, 0.3), 1),
                       "temperature_c": round(self.climate.temperature(t) + rng.gauss(0, 0.2), 1)}
        return {**metrics, **self.common_metrics()}

    def events(self, t: datetime) -> list[Message]:
        if self._next_test is None:
            self._next_test = self._test_after(t)
        if t < self._next_test:
            return []
        # The test ran at its time (or just before this step): both ends are in the past.
        start = min(self._next_test, t - TEST_DURATION)
        self._next_test = self._test_after(t + timedelta(hours=1))
        return [(Channel.EVENT, [
            Event(ts=start, type="test", active=True, detail={"trigger": "weekly"}),
            Event(ts=start + TEST_DURATION, type="test", active=False, detail={"result": "ok"}),
        ])]

    def _test_after(self, t: datetime) -> datetime:
        at = next_local(t, self.test_time)
        while at.astimezone(LOCAL_TZ).weekday() != self.test_weekday:
            at = next_local(at + timedelta(hours=1), self.test_time)
        return at
