"""Time as arrays: astral's sunrise and sunset, and the French local clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from astral import Observer, sun

from devices.simulators.base import local_hour, local_weekday
from devices.simulators.vector import clock


def test_sunrise_and_sunset_are_astrals_at_any_place_of_france_and_season():
    lats = np.array([41.4, 45.03, 48.85, 51.05])
    lons = np.array([9.2, 3.09, -4.7, 2.37])
    days = [date(2026, 1, 12), date(2026, 3, 29), date(2026, 6, 21), date(2026, 10, 25)]
    rise, set_ = clock.sun_times(lats, lons, days)
    for i, (lat, lon) in enumerate(zip(lats, lons, strict=True)):
        for j, day in enumerate(days):
            s = sun.sun(Observer(latitude=lat, longitude=lon), date=day, tzinfo=UTC)
            assert abs(s["sunrise"].timestamp() - rise[i, j]) < 1e-3
            assert abs(s["sunset"].timestamp() - set_[i, j]) < 1e-3


def test_the_local_clock_is_the_object_simulators_across_clock_changes():
    start = datetime(2026, 3, 28, 20, tzinfo=UTC)  # the night clocks go forward
    times = [start + timedelta(minutes=10 * k) for k in range(24 * 6 * 2)]
    seconds = np.array([t.timestamp() for t in times])
    assert np.allclose(clock.local_hour(seconds), [local_hour(t) for t in times])
    assert list(clock.local_weekday(seconds)) == [local_weekday(t) for t in times]
