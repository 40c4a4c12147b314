"""Water mains and their leaks: leak flow, and leak noise carried along a pipe to the loggers.

Acoustic model. A leak is a noise source whose level grows with its flow; the noise travels
along the pipe wall and the water column, losing a fixed number of decibels per metre that
depends on the material: metal pipes carry leak noise hundreds of metres, plastic ones
damp it within tens of metres (the reason loggers are spaced 200-500 m apart on cast iron
and 50-100 m on PVC/PE). A logger hears its own background (traffic, consumption, the pipe)
plus each leak, added as energies: 10·log10(10^(a/10) + 10^(b/10)). Noise does not cross to
other pipes (junctions and fittings reflect most of it): a simplification.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Attenuation of leak noise along a main (dB per metre), by material. Chosen within the
# ranges reported for leak-noise correlation in the field: 0.01-0.03 dB/m on metal, an order
# of magnitude more on plastics (PE more than PVC, being softer).
ATTENUATION_DB_PER_M: dict[str, float] = {
    "fonte ductile": 0.02,
    "fonte grise": 0.015,
    "acier": 0.012,
    "PVC": 0.25,
    "PEHD": 0.4,
}
METAL = frozenset({"fonte ductile", "fonte grise", "acier"})
# Leak noise at the leak, on the loggers' scale: 50 dB for 1 m³/h, +10 dB a decade of flow
# (the jet's acoustic power grows about in proportion with its flow at a given pressure).
LEAK_DB_AT_1_M3H = 50.0
# A leak's noise is steady all night: its spread is narrow where it dominates.
LEAK_SPREAD_DB = 1.5
# Orifice discharge coefficient of a crack or a failed joint (sharp-edged hole: ~0.6).
ORIFICE_CD = 0.6
G = 9.81
BAR_TO_M = 10.2  # metres of water column per bar


@dataclass(frozen=True, slots=True)
class Pipe:
    """A section of main: what it is made of, where it runs, which district it feeds."""

    id: str
    tenant: str
    district: str  # the device id of the district's inlet flow meter
    material: str
    diameter_mm: int
    length_m: float
    start: tuple[float, float]  # lat, lon
    end: tuple[float, float]

    def point(self, at_m: float) -> tuple[float, float]:
        """Where a point `at_m` metres from the pipe's start is (lat, lon), on a straight line."""
        f = min(1.0, max(0.0, at_m / self.length_m))
        return (self.start[0] + f * (self.end[0] - self.start[0]),
                self.start[1] + f * (self.end[1] - self.start[1]))

    @property
    def attenuation_db_per_m(self) -> float:
        return ATTENUATION_DB_PER_M[self.material]


@dataclass(frozen=True, slots=True)
class Leak:
    """A leak at `position_m` along a pipe; `incipient` ones grow until `peak_at`, `abrupt`
    ones (a burst, a failed joint) flow fully at once; a repair ends both (`end`)."""

    id: str
    pipe: Pipe
    position_m: float
    start: datetime
    end: datetime | None
    profile: str  # incipient | abrupt
    peak_at: datetime
    peak_flow_m3h: float

    def flow_m3h(self, t: datetime) -> float:
        if t < self.start or (self.end is not None and t >= self.end):
            return 0.0
        if self.profile == "abrupt" or t >= self.peak_at:
            return self.peak_flow_m3h
        grown = (t - self.start) / (self.peak_at - self.start)
        return self.peak_flow_m3h * grown

    def source_db(self, t: datetime) -> float | None:
        """Leak noise at the leak (dB); None when it does not flow."""
        flow = self.flow_m3h(t)
        return LEAK_DB_AT_1_M3H + 10 * math.log10(flow) if flow > 0 else None

    def received_db(self, t: datetime, at_m: float) -> float | None:
        """Leak noise reaching a logger at `at_m` along the same pipe."""
        source = self.source_db(t)
        if source is None:
            return None
        return source - self.pipe.attenuation_db_per_m * abs(at_m - self.position_m)


def combine_db(levels: Iterable[float]) -> float:
    """Levels added as energies: 10·log10(Σ 10^(L/10))."""
    return 10 * math.log10(sum(10 ** (level / 10) for level in levels))


def orifice_flow_m3h(diameter_mm: float, pressure_bar: float) -> float:
    """Flow through a hole of that diameter under that pressure: Cd·A·√(2gH), in m³/h.

    BattLeDIM's leaks (L-Town, 2019) are 9-20 mm holes; under 5 bar that is 4-20 m³/h, the
    size of a burst in a rural district, while 2-6 mm cracks leak 0.2-2 m³/h for months.
    """
    area_m2 = math.pi * (diameter_mm / 1000) ** 2 / 4
    return ORIFICE_CD * area_m2 * math.sqrt(2 * G * pressure_bar * BAR_TO_M) * 3600
