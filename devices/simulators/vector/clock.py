"""Time as arrays: epoch seconds, the French local clock, sunrise and sunset.

Times are float64 epoch seconds (UTC). The local clock uses the same per-hour offsets as
the object simulator (`base._local_seconds`); sunrise and sunset are astral's NOAA
algorithm (`astral.sun.time_of_transit`, the one `LightingCabinet.sun_times` calls)
written over arrays, equal to it within a millisecond.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from ..base import LOCAL_TZ

Array = npt.NDArray[Any]  # the package's arrays: numpy's dtypes do not survive arithmetic in mypy
Seconds = Array
DAY_S = 86400.0
_UNIX_JD = 2440587.5  # the Julian day of 1970-01-01 00:00 UTC
# Sunrise and sunset: the sun's upper limb on the horizon (astral's 90° + 16'), with the
# refraction astral adds at that zenith.
_SUN_RADIUS_DEG = 32.0 / (60.0 * 2.0)


def epoch(t: datetime) -> float:
    """A datetime as epoch seconds."""
    return t.timestamp()


def to_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def grid(start: float, end: float, interval_s: float) -> Seconds:
    """start, start + interval, … up to end (inclusive)."""
    count = int(math.floor((end - start) / interval_s + 1e-9)) + 1
    return start + interval_s * np.arange(count, dtype=np.float64)


def local_seconds(ts: npt.ArrayLike) -> Seconds:
    """Seconds since 1970-01-01 on the local (French) clock; clocks change on the hour."""
    t = np.asarray(ts, dtype=np.float64)
    if t.size == 0:
        return t.copy()
    hours = np.floor(t / 3600).astype(np.int64)
    first, last = int(hours.min()), int(hours.max())
    offsets = np.array([_offset(h) for h in range(first, last + 1)], dtype=np.float64)
    return t + offsets[hours - first]


def _offset(hour: int) -> float:
    delta = datetime.fromtimestamp(hour * 3600, UTC).astimezone(LOCAL_TZ).utcoffset()
    return delta.total_seconds() if delta is not None else 0.0


def local_hour(ts: npt.ArrayLike) -> Seconds:
    return local_seconds(ts) % DAY_S / 3600


def local_day(ts: npt.ArrayLike) -> Array:
    """The local day, as days since 1970-01-01."""
    return np.floor(local_seconds(ts) / DAY_S).astype(np.int64)


def local_weekday(ts: npt.ArrayLike) -> Array:
    """Monday 0."""
    return (local_day(ts) + 3) % 7


def utc_days(first: date, last: date) -> list[date]:
    out = []
    day = first
    while day <= last:
        out.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    return out


def sun_times(lat: npt.ArrayLike, lon: npt.ArrayLike, days: list[date]
              ) -> tuple[Seconds, Seconds]:
    """Sunrise and sunset (epoch seconds) at each place (rows) on each UTC day (columns)."""
    la = np.clip(np.asarray(lat, dtype=np.float64), -89.8, 89.8)[:, None]
    lo = np.asarray(lon, dtype=np.float64)[:, None]
    midnight = np.array([datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() for d in days],
                        dtype=np.float64)[None, :]
    jd = midnight / DAY_S + _UNIX_JD
    zenith = 90.0 + _SUN_RADIUS_DEG
    zenith += _refraction_at_zenith(zenith)
    out = []
    for rising in (True, False):
        adjustment = np.zeros(np.broadcast_shapes(la.shape, jd.shape))
        minutes = adjustment
        for _ in range(2):  # astral iterates twice, at the time found the first time
            jc = (jd + adjustment - 2451545.0) / 36525.0
            declination = _declination(jc)
            h = (math.cos(math.radians(zenith)) - np.sin(np.radians(la))
                 * np.sin(np.radians(declination))) / (np.cos(np.radians(la))
                                                       * np.cos(np.radians(declination)))
            angle = np.arccos(h)
            if not rising:
                angle = -angle
            offset = (-lo - np.degrees(angle)) * 4.0 - _equation_of_time(jc)
            offset = np.where(offset < -720.0, offset + 1440, offset)
            minutes = 720.0 + offset
            adjustment = minutes / 1440.0
        # astral truncates to the microsecond
        out.append(midnight + np.floor(minutes * 60 * 1e6) / 1e6)
    return out[0], out[1]


def _refraction_at_zenith(zenith: float) -> float:
    elevation = 90 - zenith  # just below the horizon: astral's polynomial branch
    step = 1735.0 + elevation * (-518.2 + elevation * (103.4 + elevation * (-12.79 + elevation * 0.711)))
    return step / 3600.0


def _mean_long(jc: Seconds) -> Seconds:
    return (280.46646 + jc * (36000.76983 + 0.0003032 * jc)) % 360.0


def _mean_anomaly(jc: Seconds) -> Seconds:
    return 357.52911 + jc * (35999.05029 - 0.0001537 * jc)


def _eccentricity(jc: Seconds) -> Seconds:
    return 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)


def _obliquity(jc: Seconds) -> Seconds:
    seconds = 21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))
    e0 = 23.0 + (26.0 + seconds / 60.0) / 60.0
    return e0 + 0.00256 * np.cos(np.radians(125.04 - 1934.136 * jc))


def _declination(jc: Seconds) -> Seconds:
    m = np.radians(_mean_anomaly(jc))
    center = (np.sin(m) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
              + np.sin(m + m) * (0.019993 - 0.000101 * jc) + np.sin(m + m + m) * 0.000289)
    true_long = _mean_long(jc) + center
    apparent = true_long - 0.00569 - 0.00478 * np.sin(np.radians(125.04 - 1934.136 * jc))
    return np.degrees(np.arcsin(np.sin(np.radians(_obliquity(jc))) * np.sin(np.radians(apparent))))


def _equation_of_time(jc: Seconds) -> Seconds:
    l0 = np.radians(_mean_long(jc))
    e = _eccentricity(jc)
    m = np.radians(_mean_anomaly(jc))
    y = np.tan(np.radians(_obliquity(jc)) / 2.0) ** 2
    etime = (y * np.sin(2.0 * l0) - 2.0 * e * np.sin(m) + 4.0 * e * y * np.sin(m) * np.cos(2.0 * l0)
             - 0.5 * y * y * np.sin(4.0 * l0) - 1.25 * e * e * np.sin(2.0 * m))
    return np.degrees(etime) * 4.0
