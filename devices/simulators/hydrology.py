"""How rain becomes floods: a small river's rise and recession, and ponding at low points.

River: rain runs off a catchment in proportion to how wet its soil already is, into a
linear reservoir that empties with a time constant of hours (a small upland river rises
within hours and recedes over a day or two). The stage at a gauge rises with the
reservoir's outflow to the power 0.6 (Manning's law for a wide channel). Both are pure
functions of time for a given weather: the series is computed per block of 30 days from
a warm-up of 20 days before it, long enough for the soil to forget its initial state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .weather import Weather

_DT = timedelta(minutes=10)
_DT_H = _DT.total_seconds() / 3600
_BLOCK = timedelta(days=30)
_WARMUP = timedelta(days=20)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SOIL_DAYS = 5.0  # the soil dries with a time constant of days
SOIL_SATURATED_MM = 60.0  # antecedent rain that saturates the soil
RATING_EXPONENT = 0.6


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A site's vigilance levels (cm): the Vigicrues colours."""

    yellow: float
    orange: float
    red: float

    def crossed(self, level_cm: float) -> list[str]:
        return [name for name, value in (("yellow", self.yellow), ("orange", self.orange),
                                         ("red", self.red)) if level_cm >= value]


class River:
    """A small river of the territory: its response to the shared weather."""

    def __init__(self, name: str, weather: Weather, *, response_h: float = 6.0,
                 runoff: tuple[float, float] = (0.15, 0.65)) -> None:
        self.name = name
        self.weather = weather
        self.response_h = response_h
        self.runoff_dry, self.runoff_wet = runoff
        self._blocks: dict[int, list[float]] = {}

    def outflow(self, t: datetime) -> float:
        """Quick-flow out of the catchment at t (mm/h over its area), interpolated."""
        k = int((t - _EPOCH) // _BLOCK)
        series = self._block(k)
        x = (t - (_EPOCH + k * _BLOCK)) / _DT
        i = min(int(x), len(series) - 2)
        f = x - i
        return series[i] * (1 - f) + series[i + 1] * f

    def _block(self, k: int) -> list[float]:
        series = self._blocks.get(k)
        if series is not None:
            return series
        start = _EPOCH + k * _BLOCK
        t = start - _WARMUP
        soil = storage = 0.0
        keep = math.exp(-_DT_H / self.response_h)
        dry = math.exp(-_DT_H / (24 * SOIL_DAYS))
        series = []
        steps = int((start + _BLOCK + _DT - t) // _DT) + 1
        rain = self.weather.rain_series([(t + _DT / 2 + i * _DT).timestamp() for i in range(steps)])
        for i in range(steps):
            rain_mm = rain[i] * _DT_H
            wetness = min(1.0, soil / SOIL_SATURATED_MM)
            runoff = self.runoff_dry + (self.runoff_wet - self.runoff_dry) * wetness
            soil = soil * dry + rain_mm
            storage = storage * keep + runoff * rain_mm
            if t + i * _DT >= start:
                series.append(storage / self.response_h)
        self._blocks[k] = series
        return series


class Gauge:
    """A stage gauge on a river: its ordinary level and how much it rises with the flow."""

    def __init__(self, river: River, *, base_cm: float, gain_cm: float,
                 thresholds: Thresholds) -> None:
        self.river = river
        self.base_cm = base_cm
        self.gain_cm = gain_cm  # rise for a quick-flow of 1 mm/h
        self.thresholds = thresholds

    def level_cm(self, t: datetime) -> float:
        q = self.river.outflow(t)
        return self.base_cm + self.gain_cm * q ** RATING_EXPONENT if q > 0 else self.base_cm


class LowPoint:
    """A place where water gathers (an underpass, a basement): drains overwhelmed when rain is
    heavier than they take, dry again some time after."""

    def __init__(self, weather: Weather, *, rain_threshold_mm_h: float, drain_h: float) -> None:
        self.weather = weather
        self.rain_threshold_mm_h = rain_threshold_mm_h
        self.drain = timedelta(hours=drain_h)

    def wet_periods(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, float]]:
        """(from, to, peak rain in mm/h) of the periods with water, overlapping [start, end)."""
        rains = self.weather.rains(start - self.drain, end)
        cuts = sorted({r.start for r in rains} | {r.end for r in rains})
        periods: list[tuple[datetime, datetime, float]] = []
        for a, b in zip(cuts, cuts[1:], strict=False):
            mid = a + (b - a) / 2
            intensity = sum(r.mm_h for r in rains if r.start <= mid < r.end)
            if intensity < self.rain_threshold_mm_h:
                continue
            # Water stands a few minutes after the drains saturate, until they catch up.
            wet_from, wet_to = a + timedelta(minutes=10), b + self.drain
            if periods and wet_from <= periods[-1][1]:
                first, _, peak = periods[-1]
                periods[-1] = (first, wet_to, max(peak, intensity))
            else:
                periods.append((wet_from, wet_to, intensity))
        return [p for p in periods if p[0] < end and p[1] > start]
