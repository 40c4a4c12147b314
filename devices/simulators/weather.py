"""A seeded outdoor temperature model of a place: season, day and passing weather."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

HEATING_BASE_C = 18.0  # base of the heating degree days used by French energy statistics
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Climate:
    """Outdoor air temperature (°C) at a place, a pure function of time for a given seed.

    Pure (no state advanced by calls) so that every device of a commune sees the same
    weather, and tests can compute degree days independently of how the devices stepped.
    """

    def __init__(self, seed: str, *, lon: float, altitude_m: float) -> None:
        rng = random.Random(f"climate/{seed}")
        # Mean annual temperature falls ~0.55 °C per 100 m: 10 °C around 600 m (Monts du
        # Lyonnais), 8.5 °C around 880 m (Saint-Flour).
        self.mean_c = 13.3 - 0.0055 * altitude_m + rng.gauss(0, 0.3)
        self.season_amp_c = 8.0 + rng.gauss(0, 0.4)
        self.lon = lon
        # Passing weather: a few slow waves of 3 to 15 days with random phases (~3 °C spread).
        self._waves = [(2.1 * rng.uniform(0.7, 1.3), rng.uniform(3.0, 15.0),
                        rng.uniform(0, 2 * math.pi)) for _ in range(4)]

    def temperature(self, t: datetime) -> float:
        u = t.astimezone(UTC)
        days = (u - _EPOCH).total_seconds() / 86400
        season = -math.cos(2 * math.pi * (u.timetuple().tm_yday - 20) / 365.25)  # coldest ~20 Jan
        solar_hour = (u.hour + u.minute / 60 + self.lon / 15) % 24
        day_amp = 4.0 + 1.0 * season  # wider days in summer
        daily = day_amp * math.cos(2 * math.pi * (solar_hour - 15) / 24)  # warmest mid-afternoon
        weather = sum(a * math.sin(2 * math.pi * days / p + phase) for a, p, phase in self._waves)
        return self.mean_c + self.season_amp_c * season + daily + weather

    def degree_days(self, day: date, base_c: float = HEATING_BASE_C) -> float:
        """Heating degree days of one UTC day, from hourly temperatures."""
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return sum(max(0.0, base_c - self.temperature(start + timedelta(minutes=30 + 60 * h)))
                   for h in range(24)) / 24
