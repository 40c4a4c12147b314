"""What the families of the vectorised engine share: the run's context (period, weather
as arrays, seeded generators) and the readings they compute (devices × times grids)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from ..base import Fault, SimDevice
from ..weather import Weather
from .clock import Array, Seconds, to_datetime

Grid = Array
BOOL = -1  # `decimals` of a boolean metric
INT = 0


@dataclass
class Readings:
    """Readings of devices of one kind with one set of metrics: rows are devices, columns
    their successive readings (`ts`, epoch seconds); `due` is False where a row has fewer
    readings than the widest. Metrics: name → (values, decimals, or BOOL)."""

    devices: list[SimDevice]
    ts: Grid
    due: Array
    metrics: dict[str, tuple[Array, int]] = field(default_factory=dict)

    def add(self, name: str, values: npt.ArrayLike, decimals: int) -> None:
        array = np.broadcast_to(np.asarray(values), self.ts.shape)
        self.metrics[name] = (array, decimals)


@dataclass
class Context:
    """The run: its period, the territory's weather as arrays, seeded generators."""

    start: float
    end: float
    seed: int
    weather: Weather
    _values: dict[str, dict[float, float]] = field(default_factory=dict)  # by function, time
    cache: dict[object, Any] = field(default_factory=dict)  # what families compute once a run

    def rng(self, name: str) -> np.random.Generator:
        """A generator of its own for each family and period: the same seed, the same run."""
        digest = hashlib.sha256(f"{self.seed}/vector/{name}/{self.start}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def per_time(self, ts: npt.ArrayLike, of: Callable[[datetime], float]) -> Grid:
        """A function of time alone (the weather) over an array of times, computed once for
        each distinct time."""
        t = np.asarray(ts, dtype=np.float64)
        unique, inverse = np.unique(t, return_inverse=True)
        cache = self._values.setdefault(getattr(of, "__name__", repr(of)), {})
        values = np.empty(unique.size)
        for j, x in enumerate(unique.tolist()):
            value = cache.get(x)
            if value is None:
                value = cache[x] = of(to_datetime(x))
            values[j] = value
        return values[inverse].reshape(t.shape)

    def temperature(self, ts: npt.ArrayLike) -> Grid:
        """Outdoor temperature at the territory's reference altitude."""
        return self.per_time(ts, self.weather.temperature)

    def cloud(self, ts: npt.ArrayLike) -> Grid:
        return self.per_time(ts, self.weather.cloud_cover)


def active(fault: Fault, ts: Seconds) -> Array:
    """Where a fault is active over times (epoch seconds)."""
    on = ts >= fault.start.timestamp()
    if fault.end is not None:
        on &= ts < fault.end.timestamp()
    return on


def faults_of(device: SimDevice, kind: str) -> list[Fault]:
    return [f for f in device.faults if f.type == kind]


def battery(devices: list[SimDevice], ts: Grid, start: float) -> Grid:
    """Battery levels: drained linearly from the run's start (the object's `_advance_to`)."""
    level = np.array([d.battery_pct or 0.0 for d in devices])[:, None]
    drain = np.array([d.battery_drain_pct_per_day for d in devices])[:, None]
    return np.maximum(0.0, level - drain * (ts - start) / 86400)


def radio(readings: Readings, rng: np.random.Generator, start: float) -> None:
    """Battery and radio levels (the object's `common_metrics`), for battery devices."""
    devices = readings.devices
    shape = readings.ts.shape
    rssi = np.array([d.rssi_dbm or 0.0 for d in devices])[:, None]
    readings.add("battery_pct", battery(devices, readings.ts, start), 1)
    readings.add("rssi_dbm", np.rint(rssi + rng.normal(0, 2.5, shape)), INT)
    snr = np.minimum(12.0, (rssi + 120) / 3 + rng.normal(0, 1.5, shape))
    readings.add("snr_db", snr, 1)
