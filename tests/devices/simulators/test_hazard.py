"""Hazard detectors: quiet readings and a weekly self-test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.catalogue import Channel
from devices.messages import Event, Reading
from devices.simulators.hazard import HazardDetector
from devices.simulators.weather import Climate

from .helpers import simulate

LAT, LON = 45.0336, 3.0928
START = datetime(2026, 2, 2, 0, tzinfo=UTC)
CLIMATE = Climate("test", lon=LON, altitude_m=880)


def detector(variant: str, n: int = 1) -> HazardDetector:
    return HazardDetector("t", f"detecteur-{n:02d}", "Détecteur", lat=LAT, lon=LON, seed=9,
                          climate=CLIMATE, variant=variant)


@pytest.mark.parametrize("variant", ["smoke", "flood"])
def test_weekly_self_test_is_a_start_and_an_end_in_the_past(variant):
    messages = simulate([detector(variant)], START, START + timedelta(days=14),
                        timedelta(minutes=15))
    tests = [item for _, (channel, item) in messages if channel is Channel.EVENT]
    assert len(tests) == 2
    for backlog in tests:
        assert isinstance(backlog, list)
        start, end = backlog
        assert (start.type, start.active, end.type, end.active) == ("test", True, "test", False)
        assert start.ts < end.ts
    assert tests[1][0].ts - tests[0][0].ts == timedelta(days=7)


def test_events_are_never_after_the_step_that_publishes_them():
    d = detector("smoke")
    t, seen = START, 0
    while t <= START + timedelta(days=8):  # minute steps: one falls right on the test's time
        for channel, item in d.step(t):
            if channel is Channel.EVENT:
                assert isinstance(item, list)
                assert all(isinstance(e, Event) and e.ts <= t for e in item)
                seen += 1
        t += timedelta(minutes=1)
    assert seen >= 1


def test_smoke_detector_reads_a_quiet_room():
    rs = [item for _, (channel, item) in simulate([detector("smoke")], START,
                                                  START + timedelta(days=2), timedelta(hours=1))
          if isinstance(item, Reading)]
    assert all(r.metrics["smoke_alarm"] is False for r in rs)
    assert all(16 < r.metrics["temperature_c"] < 24 for r in rs)
    assert "water_level_cm" not in rs[0].metrics


def test_flood_probe_stays_near_the_stream_baseline():
    d = detector("flood")
    rs = [item for _, (channel, item) in simulate([d], START, START + timedelta(days=10),
                                                  timedelta(hours=1))
          if isinstance(item, Reading)]
    levels = [r.metrics["water_level_cm"] for r in rs]
    assert all(abs(x - d.baseline_cm) < 6 for x in levels)
    assert max(levels) - min(levels) > 1  # a stream is not a flat line
    assert all(r.metrics["water_detected"] is False for r in rs)
    outdoor = [r.metrics["temperature_c"] for r in rs]
    assert -20 < min(outdoor) < max(outdoor) < 20  # February on the planèze
