"""Hazard detectors as arrays, when nothing burns and no river rises to a threshold (the
engine steps those through the object simulator): smoke detectors read their room, gauges
their river's level, spot sensors whether their low point is wet; weekly self-tests and
low-battery warnings are events. Formulas are `hazard.py`'s and `hydrology.py`'s."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np

from devices.messages import Event

from ..base import LOCAL_TZ, SimDevice
from ..hazard import LOW_BATTERY_PCT, TEST_DURATION, HazardDetector
from ..hydrology import RATING_EXPONENT
from ..territory import Room
from .clock import local_hour
from .frame import BOOL, Context, Grid, Readings, battery, radio

FLOOD_MARGIN_CM = 5.0  # a gauge this close to yellow may cross it with its noise: stepped


def needs_objects(d: HazardDetector, ctx: Context) -> bool:
    """Whether a detector's run needs the object simulator: an incident (fire, false alarm:
    a reading a minute) or a gauge that may pass a threshold (events, faster readings)."""
    if any(f.type in ("fire", "false_alarm") for f in d.faults):
        return True
    if d.gauge is not None:
        times = ctx.start + 600 * np.arange(int((ctx.end - ctx.start) // 600) + 1)
        level = _levels(d, times, ctx)
        return bool(level.max() >= d.gauge.thresholds.yellow - FLOOD_MARGIN_CM)
    return False


def _levels(d: HazardDetector, ts: Grid, ctx: Context) -> Grid:
    """The gauge's noiseless level (`Gauge.level_cm`) at each time."""
    assert d.gauge is not None
    river = d.gauge.river
    key = ("outflow", id(river), ts.tobytes())  # the run's rivers live as long as its context
    if key not in ctx.cache:
        ctx.cache[key] = (river, np.array([river.outflow(_dt(float(t))) for t in ts]))
    q = ctx.cache[key][1]
    return d.gauge.base_cm + d.gauge.gain_cm * np.maximum(q, 0.0) ** RATING_EXPONENT * (q > 0)


def detectors(devices: list[HazardDetector], ctx: Context,
              indoor: dict[int, Grid]) -> list[Readings]:
    """Readings of quiet detectors, a group per variant. `indoor`: a building's indoor
    temperature at its reading times, by `id` of its meter."""
    if not devices:
        return []
    interval = HazardDetector.interval.total_seconds()
    times = ctx.start + interval * np.arange(int((ctx.end - ctx.start) // interval) + 1)
    outdoor = ctx.temperature(times)[None, :]
    rng = ctx.rng("hazard_detector")
    out = []
    for variant in ("smoke", "water_level", "water_spot"):
        group = [d for d in devices if d.variant == variant]
        if not group:
            continue
        shape = (len(group), times.size)
        ts = np.ascontiguousarray(np.broadcast_to(times, shape))
        r = Readings(list[SimDevice](group), ts, np.ones(shape, bool))
        if variant == "smoke":
            room = np.empty(shape)
            for i, d in enumerate(group):
                room[i] = _room(d, times, indoor)
            r.add("smoke_alarm", np.zeros(shape, bool), BOOL)
            r.add("temperature_c", room + rng.normal(0, 0.1, shape), 1)
        elif variant == "water_level":
            levels = np.array([_levels(d, times, ctx) for d in group]) + rng.normal(0, 0.3, shape)
            r.add("water_detected", np.zeros(shape, bool), BOOL)
            r.add("water_level_cm", levels, 1)
            r.add("temperature_c", outdoor + rng.normal(0, 0.2, shape), 1)
        else:
            wet = np.zeros(shape, bool)
            for i, d in enumerate(group):
                for a, b, _ in d._wet:
                    wet[i] |= (times >= a.timestamp()) & (times < b.timestamp())
            r.add("water_detected", wet, BOOL)
            r.add("temperature_c", outdoor + rng.normal(0, 0.2, shape), 1)
        radio(r, rng, ctx.start)
        out.append(r)
    return out


def _room(d: HazardDetector, times: Grid, indoor: dict[int, Grid]) -> Grid:
    """The room's temperature at each reading. In the object simulator a detector reads its
    building's meter as it was one step before (meters are stepped after detectors)."""
    room = d._room_c
    if not isinstance(room, Room) or id(room.meter) not in indoor:
        return d.indoor_c + 0.8 * np.cos(2 * np.pi * (local_hour(times) - 16) / 24)
    series = indoor[id(room.meter)]
    return np.concatenate([[room.meter.indoor_c], series[:-1]]) + room.offset_c


def events(devices: list[HazardDetector], ctx: Context, step: float) -> list[tuple[HazardDetector, Event]]:
    """Weekly self-tests and low-battery warnings, at the runner's steps as the object
    simulator publishes them (`HazardDetector.events`)."""
    out: list[tuple[HazardDetector, Event]] = []
    start, end = _dt(ctx.start), _dt(ctx.end)
    span = timedelta(seconds=step)
    tests: dict[tuple[int, time], list[datetime]] = {}  # by (weekday, time): the same tests
    first_day = start.astimezone(LOCAL_TZ).date()
    days = [first_day + timedelta(days=k) for k in range((end - start).days + 9)]
    by_weekday = {w: [day for day in days if day.weekday() == w] for w in range(7)}
    for d in devices:
        key = (d.test_weekday, d.test_time)
        if key not in tests:
            # `HazardDetector._test_after`: that local time on that weekday, every week.
            weekly = [datetime.combine(day, d.test_time, tzinfo=LOCAL_TZ).astimezone(UTC)
                      for day in by_weekday[d.test_weekday]]
            tests[key] = []
            nxt = next(x for x in weekly if x >= start)
            while nxt <= end:
                t = start + -(-(nxt - start) // span) * span  # the first step at or after it
                if t > end:
                    break
                tests[key].append(min(nxt, t - TEST_DURATION))
                nxt = next(x for x in weekly if x >= t + timedelta(hours=1))
        for began in tests[key]:
            out.append((d, Event(began, "test", True, {"trigger": "weekly"})))
            out.append((d, Event(began + TEST_DURATION, "test", False, {"result": "ok"})))
    powered = [d for d in devices if d.battery_pct is not None]
    if powered:
        k = np.arange(int((ctx.end - ctx.start) // step) + 1)
        levels = battery(list[SimDevice](powered), (ctx.start + step * k)[None, :], ctx.start)
        low = levels < LOW_BATTERY_PCT
        for i in np.nonzero(low.any(axis=1))[0]:
            first = int(np.argmax(low[i]))
            out.append((powered[i], Event(start + first * span, "low_battery", True,
                                          {"battery_pct": round(float(levels[i, first]), 1)})))
    return out


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
