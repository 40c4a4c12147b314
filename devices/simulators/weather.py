"""A territory's synthetic outdoor weather: temperature, spells, cloud cover, rain, the sun.

Everything is a pure function of time for a seed, so that every device of a territory sees
the same weather whatever order it is asked in, and tests can recompute it independently.
Time is cut into blocks of 30 days, each drawn from its own generator: weather spells
(anticyclone, front, showers) follow each other as a Markov chain, each with its clouds,
its temperature anomaly and its rain events.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

HEATING_BASE_C = 18.0  # base of the heating degree days used by French energy statistics
LAPSE_C_PER_M = 0.0055  # mean temperature falls ~0.55 °C per 100 m of altitude
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_BLOCK = timedelta(days=30)
_HOUR = timedelta(hours=1)


class Regime(StrEnum):
    ANTICYCLONE = "anticyclone"
    FRONT = "perturbation"  # a frontal system: overcast, hours of steady rain
    SHOWERS = "traîne"  # the cold air behind a front: broken clouds and showers


# Spell durations in days (min, max), and what follows a spell (regime, probability).
_SPELL_DAYS = {Regime.ANTICYCLONE: (2.0, 7.0), Regime.FRONT: (0.5, 1.5),
               Regime.SHOWERS: (0.5, 2.0)}
_NEXT = {Regime.ANTICYCLONE: ((Regime.FRONT, 1.0),),
         Regime.FRONT: ((Regime.SHOWERS, 0.8), (Regime.ANTICYCLONE, 0.2)),
         Regime.SHOWERS: ((Regime.ANTICYCLONE, 0.6), (Regime.FRONT, 0.4))}
_CLOUD = {Regime.ANTICYCLONE: (0.05, 0.35), Regime.FRONT: (0.85, 1.0), Regime.SHOWERS: (0.45, 0.8)}
# Temperature anomaly (°C) in mid-winter and mid-summer: clear winter nights under an
# anticyclone are cold and its summer days hot; oceanic fronts are mild in winter, cool in summer.
_ANOMALY_C = {Regime.ANTICYCLONE: (-1.5, 2.0), Regime.FRONT: (2.0, -2.0),
              Regime.SHOWERS: (-0.5, -1.5)}
_RAMP_H = 12.0  # an air mass replaces the previous one over half a day
# Rain: fronts rain 4-14 h at 0.5-1.8 mm/h; showers 0.3-1.5 h at 1-4 mm/h; summer afternoons
# under an anticyclone have thunderstorms (6 % of days, 8-30 mm/h for up to 1.5 h). That makes
# 800-1,000 mm a year, the rainfall of the planèze of Saint-Flour.
THUNDERSTORM_DAILY_P = 0.06


@dataclass(frozen=True, slots=True)
class Spell:
    start: datetime
    end: datetime
    regime: Regime
    cloud: float  # base cloud cover, 0 (clear) to 1 (overcast)
    anomaly_c: tuple[float, float]  # temperature anomaly in mid-winter, in mid-summer

    def anomaly(self, winter_weight: float) -> float:
        """The temperature anomaly on a day of the year (winter_weight 1 in mid-winter)."""
        winter, summer = self.anomaly_c
        return winter_weight * winter + (1 - winter_weight) * summer


@dataclass(frozen=True, slots=True)
class Rain:
    """A rain event: constant intensity from start to end."""

    start: datetime
    end: datetime
    mm_h: float
    kind: str = "pluie"

    @property
    def mm(self) -> float:
        return self.mm_h * (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True, slots=True)
class _Block:
    spells: list[Spell]
    spell_starts: list[datetime]
    rains: list[Rain]
    rain_starts: list[datetime]
    cloud_waves: list[tuple[float, float, float]]  # amplitude, period (h), phase


class Weather:
    """The outdoor weather of a territory, at its reference altitude (or another)."""

    def __init__(self, seed: str | int, *, lat: float, lon: float, altitude_m: float,
                 storms: Iterable[Rain] = ()) -> None:
        self.seed = str(seed)
        rng = random.Random(f"climate/{seed}")
        self.lat, self.lon, self.altitude_m = lat, lon, altitude_m
        # Mean annual temperature: 10 °C around 600 m (Monts du Lyonnais), 8.5 °C around
        # 880 m (Saint-Flour).
        self.mean_c = 13.3 - LAPSE_C_PER_M * altitude_m + rng.gauss(0, 0.3)
        self.season_amp_c = 8.0 + rng.gauss(0, 0.4)
        # Slow swings of a few days to two weeks on top of the spells (~1.5 °C spread).
        self._waves = [(1.0 * rng.uniform(0.7, 1.3), rng.uniform(3.0, 15.0),
                        rng.uniform(0, 2 * math.pi)) for _ in range(3)]
        self.storms: list[Rain] = sorted(storms, key=lambda r: r.start)
        self._blocks: dict[int, _Block] = {}
        self._temp_cache: dict[tuple[int, float], float] = {}

    # --- what devices ask ------------------------------------------------------------------
    def temperature(self, t: datetime, altitude_m: float | None = None) -> float:
        """Outdoor air temperature (°C) at t, at the territory's altitude or the one given."""
        alt = self.altitude_m if altitude_m is None else altitude_m
        key = (int(t.timestamp()), alt)
        cached = self._temp_cache.get(key)
        if cached is not None:
            return cached
        if len(self._temp_cache) > 200_000:
            self._temp_cache.clear()
        u = t.astimezone(UTC)
        days = (u - _EPOCH).total_seconds() / 86400
        season = _season(u)
        solar_hour = (u.hour + u.minute / 60 + self.lon / 15) % 24
        # Clear skies widen the day's range (sun by day, radiative cooling at night).
        day_amp = (4.0 + 1.0 * season) * (1.35 - 0.9 * self.cloud_cover(t))
        daily = day_amp * math.cos(2 * math.pi * (solar_hour - 15) / 24)  # warmest mid-afternoon
        waves = sum(a * math.sin(2 * math.pi * days / p + ph) for a, p, ph in self._waves)
        value = (self.mean_c + self.season_amp_c * season + daily + waves + self._anomaly(u)
                 - LAPSE_C_PER_M * (alt - self.altitude_m))
        self._temp_cache[key] = value
        return value

    def cloud_cover(self, t: datetime) -> float:
        """Cloud cover at t, 0 (clear) to 1 (overcast)."""
        u = t.astimezone(UTC)
        if self.rain_mm_h(u) > 0:
            return 1.0
        block = self._block_at(u)
        spell = self.spell(u)
        hours = (u - _EPOCH).total_seconds() / 3600
        wander = sum(a * math.sin(2 * math.pi * hours / p + ph) for a, p, ph in block.cloud_waves)
        return min(1.0, max(0.0, spell.cloud + wander))

    def rain_mm_h(self, t: datetime) -> float:
        """Rain intensity at t (mm/h)."""
        u = t.astimezone(UTC)
        block = self._block_at(u)
        total = 0.0
        i = bisect.bisect_right(block.rain_starts, u)
        # Rain events of a block never overlap each other and last less than a day.
        for rain in block.rains[max(0, i - 2):i]:
            if rain.start <= u < rain.end:
                total += rain.mm_h
        for rain in self.storms:
            if rain.start <= u < rain.end:
                total += rain.mm_h
        return total

    def rain_series(self, seconds: Sequence[float]) -> list[float]:
        """`rain_mm_h` at many times (epoch seconds, sorted): the same sums, block by block
        (a block's rain events are looked up in its own list, as `rain_mm_h` does)."""
        out = [0.0] * len(seconds)
        i = 0
        while i < len(seconds):
            k = _block_index(datetime.fromtimestamp(seconds[i], UTC))
            block_end = (_EPOCH + (k + 1) * _BLOCK).timestamp()
            j = bisect.bisect_left(seconds, block_end, lo=i)
            for rain in self._block(k).rains:
                _add_rain(out, seconds, i, j, rain)
            i = j
        for rain in self.storms:
            _add_rain(out, seconds, 0, len(seconds), rain)
        return out

    def spell(self, t: datetime) -> Spell:
        u = t.astimezone(UTC)
        block = self._block_at(u)
        i = bisect.bisect_right(block.spell_starts, u) - 1
        return block.spells[max(0, i)]

    def rains(self, start: datetime, end: datetime) -> list[Rain]:
        """The rain events (storms included) that overlap [start, end)."""
        out: list[Rain] = []
        k = _block_index(start)
        while _EPOCH + k * _BLOCK < end:
            out.extend(r for r in self._block(k).rains if r.start < end and r.end > start)
            k += 1
        out.extend(r for r in self.storms if r.start < end and r.end > start)
        return sorted(out, key=lambda r: r.start)

    def add_storms(self, storms: Iterable[Rain]) -> None:
        """Adds intense rain episodes (a scenario's floods) on top of the drawn weather."""
        self.storms = sorted([*self.storms, *storms], key=lambda r: r.start)

    def degree_days(self, day: date, base_c: float = HEATING_BASE_C,
                    altitude_m: float | None = None) -> float:
        """Heating degree days of one UTC day, from hourly temperatures."""
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return sum(max(0.0, base_c - self.temperature(start + timedelta(minutes=30 + 60 * h),
                                                      altitude_m))
                   for h in range(24)) / 24

    def sun_elevation(self, t: datetime) -> float:
        return solar_elevation_deg(t, self.lat, self.lon)

    def irradiance_w_m2(self, t: datetime) -> float:
        """Global horizontal irradiance (W/m²) from the sun's height and the clouds."""
        return global_irradiance_w_m2(self.sun_elevation(t), self.cloud_cover(t))

    # --- drawing the weather, block by block -------------------------------------------------
    def _anomaly(self, u: datetime) -> float:
        block = self._block_at(u)
        i = max(0, bisect.bisect_right(block.spell_starts, u) - 1)
        spell = block.spells[i]
        winter_weight = (1 - _season(u)) / 2  # 1 in mid-winter, 0 in mid-summer
        here = spell.anomaly(winter_weight)
        since_h = (u - spell.start).total_seconds() / 3600
        if i == 0 or since_h >= _RAMP_H:
            return here
        before = block.spells[i - 1].anomaly(winter_weight)
        return before + (here - before) * since_h / _RAMP_H

    def _block_at(self, u: datetime) -> _Block:
        return self._block(_block_index(u))

    def _block(self, k: int) -> _Block:
        block = self._blocks.get(k)
        if block is None:
            block = self._blocks[k] = self._draw_block(k)
        return block

    def _draw_block(self, k: int) -> _Block:
        rng = random.Random(f"weather/{self.seed}/{k}")
        start = _EPOCH + k * _BLOCK
        end = start + _BLOCK
        spells: list[Spell] = []
        rains: list[Rain] = []
        regime = rng.choices(list(Regime), weights=(0.6, 0.2, 0.2))[0]
        t = start
        while t < end:
            low, high = _SPELL_DAYS[regime]
            spell_end = min(end, t + timedelta(days=rng.uniform(low, high)))
            strength = rng.uniform(0.6, 1.4)  # spells are more or less marked
            winter, summer = _ANOMALY_C[regime]
            spell = Spell(t, spell_end, regime, rng.uniform(*_CLOUD[regime]),
                          (strength * winter, strength * summer))
            spells.append(spell)
            rains.extend(_draw_rains(rng, spell, self.lon))
            choices, weights = zip(*_NEXT[regime], strict=True)
            regime = rng.choices(choices, weights=weights)[0]
            t = spell_end
        waves = [(0.12 * rng.uniform(0.5, 1.5), rng.uniform(2.0, 9.0), rng.uniform(0, 2 * math.pi))
                 for _ in range(3)]
        rains.sort(key=lambda r: r.start)
        return _Block(spells, [s.start for s in spells], rains, [r.start for r in rains], waves)


def _draw_rains(rng: random.Random, spell: Spell, lon: float) -> list[Rain]:
    hours = (spell.end - spell.start).total_seconds() / 3600
    out: list[Rain] = []
    if spell.regime is Regime.FRONT:
        duration = min(hours, rng.uniform(4, 14))
        begin = spell.start + timedelta(hours=rng.uniform(0, max(0.0, hours - duration)))
        out.append(Rain(begin, begin + timedelta(hours=duration), rng.uniform(0.5, 1.8),
                        "pluie frontale"))
    elif spell.regime is Regime.SHOWERS:
        slots = max(1, int(hours // 6))  # at most one shower in each 6-hour slot
        for slot in rng.sample(range(slots), min(slots, rng.randint(0, 3))):
            begin = spell.start + timedelta(hours=6 * slot + rng.uniform(0, 4))
            length = timedelta(hours=rng.uniform(0.3, 1.5))
            out.append(Rain(begin, min(begin + length, spell.end), rng.uniform(1, 4), "averse"))
    else:
        day = spell.start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < spell.end:
            thundery = 5 <= day.month <= 9 and rng.random() < THUNDERSTORM_DAILY_P
            # Late afternoon, solar time.
            begin = day + timedelta(hours=rng.uniform(14, 19) - lon / 15)
            if thundery and spell.start <= begin and begin + _HOUR <= spell.end:
                out.append(Rain(begin, begin + timedelta(hours=rng.uniform(0.4, 1.5)),
                                rng.uniform(8, 30), "orage"))
            day += timedelta(days=1)
    return [r for r in out if r.end > r.start]


def _add_rain(out: list[float], seconds: Sequence[float], lo: int, hi: int, rain: Rain) -> None:
    """Adds a rain's intensity at the times of seconds[lo:hi] it covers (start <= t < end)."""
    a = bisect.bisect_left(seconds, rain.start.timestamp(), lo, hi)
    b = bisect.bisect_left(seconds, rain.end.timestamp(), a, hi)
    for x in range(a, b):
        out[x] += rain.mm_h


def _season(u: datetime) -> float:
    """-1 in mid-winter (coldest ~20 January), +1 in mid-summer."""
    return -math.cos(2 * math.pi * (u.timetuple().tm_yday - 20) / 365.25)


def _block_index(u: datetime) -> int:
    return int((u - _EPOCH) // _BLOCK)


def solar_elevation_deg(t: datetime, lat: float, lon: float) -> float:
    """Height of the sun above the horizon (degrees); the US Naval Observatory's low-precision
    formulas, within a few tenths of a degree, fast enough for every substep of every device."""
    return solar_elevation_at(t.timestamp(), lat, lon)


def solar_elevation_at(seconds: Any, lat: Any, lon: Any, xp: Any = math) -> Any:
    """`solar_elevation_deg` from epoch seconds; with `xp=numpy`, over arrays (the
    vectorised engine), with the same formulas."""
    return elevation_from(*sun_position(seconds, xp), lat, lon, xp)


def sun_position(seconds: Any, xp: Any = math) -> tuple[Any, Any, Any]:
    """The sun's right ascension and declination (radians) and the sidereal time (hours) at
    epoch seconds: what its height at any place depends on."""
    d = seconds / 86400 - 10957.5  # days since J2000.0 (2000-01-01 12:00 UTC)
    g = xp.radians(357.529 + 0.98560028 * d)  # mean anomaly
    q = 280.459 + 0.98564736 * d  # mean longitude
    ecl_lon = xp.radians(q + 1.915 * xp.sin(g) + 0.020 * xp.sin(2 * g))
    obliquity = xp.radians(23.439 - 0.00000036 * d)
    ra = xp.atan2(xp.cos(obliquity) * xp.sin(ecl_lon), xp.cos(ecl_lon))
    dec = xp.asin(xp.sin(obliquity) * xp.sin(ecl_lon))
    gmst_h = 18.697374558 + 24.06570982441908 * d
    return ra, dec, gmst_h


def elevation_from(ra: Any, dec: Any, gmst_h: Any, lat: Any, lon: Any, xp: Any = math) -> Any:
    """The sun's height (degrees) at a place, from its position (`sun_position`)."""
    hour_angle = xp.radians(gmst_h * 15 + lon) - ra
    phi = xp.radians(lat)
    return xp.degrees(xp.asin(xp.sin(phi) * xp.sin(dec)
                              + xp.cos(phi) * xp.cos(dec) * xp.cos(hour_angle)))


def cloud_transmission(cloud: Any) -> Any:
    """Kasten and Czeplak (1980): the share of clear-sky light that a cloud cover n (0-1)
    lets through, 1 − 0.75·n^3.4 (floats or arrays)."""
    return 1 - 0.75 * cloud ** 3.4


def clear_sky_irradiance_w_m2(elevation_deg: Any, xp: Any = math) -> Any:
    """Kasten and Czeplak's clear sky, 910·sin(h) − 30 W/m², before clipping at 0."""
    return 910 * xp.sin(xp.radians(elevation_deg)) - 30


def global_irradiance_w_m2(elevation_deg: float, cloud: float) -> float:
    """Global horizontal irradiance (W/m²) for a sun height and a cloud cover (0-1)."""
    if elevation_deg <= 0:
        return 0.0
    return max(0.0, clear_sky_irradiance_w_m2(elevation_deg)) * cloud_transmission(cloud)
