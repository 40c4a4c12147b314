"""The territory's weather: plausible, deterministic, shared; the sun for solar panels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.simulators.weather import Rain, Regime, Weather, global_irradiance_w_m2, solar_elevation_deg

LAT, LON = 45.0336, 3.0928
YEAR = datetime(2026, 1, 1, tzinfo=UTC)


def weather(seed: str = "w", **kwargs: object) -> Weather:
    return Weather(seed, lat=LAT, lon=LON, altitude_m=880, **kwargs)  # type: ignore[arg-type]


def test_a_year_of_weather_is_plausible_for_the_planeze():
    w = weather()
    rains = w.rains(YEAR, YEAR + timedelta(days=365))
    assert 700 < sum(r.mm for r in rains) < 1300  # mm a year
    hourly = [w.temperature(YEAR + timedelta(hours=h)) for h in range(0, 365 * 24, 3)]
    assert 6 < sum(hourly) / len(hourly) < 11  # mean annual temperature at 880 m
    january = hourly[: 31 * 8]
    july = hourly[181 * 8: 212 * 8]
    assert sum(july) / len(july) > sum(january) / len(january) + 12
    clouds = [w.cloud_cover(YEAR + timedelta(hours=h)) for h in range(0, 365 * 24, 5)]
    assert 0 <= min(clouds) and max(clouds) <= 1 and 0.3 < sum(clouds) / len(clouds) < 0.6
    # Spells last days: fronts come and go.
    regimes = {w.spell(YEAR + timedelta(hours=h)).regime for h in range(0, 30 * 24, 6)}
    assert regimes == set(Regime)


def test_the_same_seed_gives_the_same_weather_whatever_the_order_asked():
    times = [YEAR + timedelta(hours=7 * i) for i in range(500)]
    a, b = weather("x"), weather("x")
    forwards = [(a.temperature(t), a.rain_mm_h(t), a.cloud_cover(t)) for t in times]
    backwards = [(b.temperature(t), b.rain_mm_h(t), b.cloud_cover(t)) for t in reversed(times)]
    assert forwards == list(reversed(backwards))
    other = weather("y")
    assert [other.temperature(t) for t in times] != [f[0] for f in forwards]


def test_altitude_cools_and_storms_add_rain():
    w = weather()
    t = YEAR + timedelta(days=100, hours=13)
    assert w.temperature(t, 1380) == pytest.approx(w.temperature(t) - 2.75, abs=0.01)
    storm = Rain(t, t + timedelta(hours=6), 15.0)
    stormy = weather(storms=[storm])
    assert stormy.rain_mm_h(t + timedelta(hours=1)) == pytest.approx(w.rain_mm_h(t + timedelta(hours=1)) + 15)
    assert stormy.cloud_cover(t + timedelta(hours=1)) == 1.0
    assert storm in stormy.rains(t - timedelta(days=1), t + timedelta(days=1))


def test_the_sun_rises_and_sets_and_clouds_dim_it():
    noon_june = datetime(2026, 6, 21, 11, 45, tzinfo=UTC)  # solar noon at 3° E
    assert solar_elevation_deg(noon_june, LAT, LON) == pytest.approx(90 - LAT + 23.44, abs=0.5)
    assert solar_elevation_deg(noon_june + timedelta(hours=12), LAT, LON) < -20
    clear, overcast = global_irradiance_w_m2(68, 0.0), global_irradiance_w_m2(68, 1.0)
    assert 800 < clear < 900 and overcast == pytest.approx(clear / 4)
    assert global_irradiance_w_m2(-3, 0.0) == 0
