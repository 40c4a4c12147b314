"""Lighting cabinets as arrays: the astronomical clock at each cabinet, the night's dimming
profile, the luminaires' load on three phases with the faults (lamps out, a phase's
breaker open, the dimmer stuck, lit by day, no supply), the energy index integrated
exactly between switchings as `LightingCabinet.advance` does. Constants and formulas are
`lighting.py`'s; commands are not obeyed here (the object simulator does that)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np

from ..base import LOCAL_TZ
from ..lighting import DAYLIGHT_LUX_MIN as LUX_MIN
from ..lighting import DAYLIGHT_LUX_SPAN as LUX_SPAN
from ..lighting import NIGHT_LUX as LUX_NIGHT
from ..lighting import (
    NIGHT_UNTIL_H,
    NIGHT_VOLTAGE_RISE_V,
    PF_DIMMED_LOSS,
    PF_FULL,
    PF_NOISE,
    PF_STANDBY,
    PF_STANDBY_NOISE,
    POWER_NOISE,
    STANDBY_W,
    VOLTAGE_NOISE_V,
    VOLTAGE_V,
    LightingCabinet,
)
from ..weather import cloud_transmission, elevation_from, sun_position
from .clock import DAY_S, Array, Seconds, local_hour, sun_times, utc_days
from .frame import BOOL, INT, Context, Grid, Readings, active, faults_of


def readings(cabinets: list[LightingCabinet], ctx: Context) -> list[Readings]:
    """Every reading of the cabinets over the run (a reading every `interval` from its start)."""
    if not cabinets:
        return []
    clock = Cabinets(cabinets, ctx)
    interval = LightingCabinet.interval.total_seconds()
    times = ctx.start + interval * np.arange(int((ctx.end - ctx.start) // interval) + 1)
    ts = np.broadcast_to(times, (len(cabinets), times.size))
    rng = ctx.rng("lighting")
    level = clock.level(ts)
    loads = clock.loads(ts, level)
    losses = clock.losses
    shape = ts.shape
    noise = 1 + rng.normal(0, POWER_NOISE, shape)
    night_v = np.where(local_hour(ts) < NIGHT_UNTIL_H, NIGHT_VOLTAGE_RISE_V, 0.0)
    phase_w = [load * (1 + losses) * noise for load in loads]
    phase_w[0] = phase_w[0] + STANDBY_W  # the controller is on phase 1
    lit = (loads[0] + loads[1] + loads[2]) > 0
    pf = np.where(lit, PF_FULL - PF_DIMMED_LOSS * (1 - level / 100) + rng.normal(0, PF_NOISE, shape),
                  PF_STANDBY + rng.normal(0, PF_STANDBY_NOISE, shape))
    out = Readings(list(cabinets), np.ascontiguousarray(ts), np.ones(shape, bool))
    out.add("power_w", phase_w[0] + phase_w[1] + phase_w[2], 1)
    out.add("energy_kwh", clock.energy_kwh(times), 3)
    out.add("power_factor", pf, 3)
    out.add("dimming_pct", level, INT)
    out.add("output_on", level > 0, BOOL)
    out.add("ambient_lux", clock.ambient_lux(ts), 1)
    for p in range(3):
        volts = VOLTAGE_V + clock.offsets_v[:, p:p + 1] + night_v + rng.normal(0, VOLTAGE_NOISE_V, shape)
        out.add(f"voltage_l{p + 1}_v", volts, 1)
        out.add(f"current_l{p + 1}_a", phase_w[p] / (volts * pf), 2)
    return [out]


class Cabinets:
    """The cabinets' clocks and loads over arrays of times (rows: cabinets)."""

    def __init__(self, cabinets: list[LightingCabinet], ctx: Context) -> None:
        self.cabinets = cabinets
        self.ctx = ctx
        self.lat = np.array([c.lat for c in cabinets])[:, None]
        self.lon = np.array([c.lon for c in cabinets])[:, None]
        self.losses = np.array([c.losses for c in cabinets])[:, None]
        self.offsets_v = np.array([c.phase_offsets_v for c in cabinets])
        self.phase_w = np.zeros((len(cabinets), 3))
        for i, c in enumerate(cabinets):
            for circuit in c.circuits:
                self.phase_w[i, circuit.phase - 1] += circuit.luminaires * circuit.watts
        first = datetime.fromtimestamp(ctx.start, UTC).date() - timedelta(days=1)
        last = datetime.fromtimestamp(ctx.end, UTC).date() + timedelta(days=1)
        self.days = utc_days(first, last)
        self.day0 = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
        self.sunrise, self.sunset = sun_times(self.lat[:, 0], self.lon[:, 0], self.days)
        self.profiles = sorted({c.profile for c in cabinets})
        self.profile_of = np.array([self.profiles.index(c.profile) for c in cabinets])
        self.faulted = [i for i, c in enumerate(cabinets) if c.faults]

    # --- what the cabinet commands -----------------------------------------------------------
    def level(self, ts: Grid) -> Array:
        """Output level (%) at each time of each row (`LightingCabinet.level_at`, no commands)."""
        day = np.floor((ts - self.day0) / DAY_S).astype(np.intp)
        on = (ts < np.take_along_axis(self.sunrise, day, axis=1)) | (
            ts >= np.take_along_axis(self.sunset, day, axis=1))
        for i in self.faulted:
            for f in faults_of(self.cabinets[i], "daytime_burning"):
                on[i] |= active(f, ts[i])
        hour = local_hour(ts)
        level = np.zeros(ts.shape, np.int64)
        for k, profile in enumerate(self.profiles):
            rows = self.profile_of == k
            value = np.full(hour[rows].shape, profile[-1][1], np.int64)
            for at, step_level in profile:
                value = np.where(at.hour + at.minute / 60 <= hour[rows], step_level, value)
            level[rows] = value
        return np.where(on, level, 0)

    def loads(self, ts: Grid, level: Array) -> list[Grid]:
        """What each phase's luminaires draw (`LightingCabinet.phase_loads_w`)."""
        fraction = level / 100
        loads = [self.phase_w[:, p:p + 1] * fraction for p in range(3)]
        for i in self.faulted:
            for p, load in enumerate(self._faulted_loads(i, ts[i], level[i])):
                loads[p][i] = load
        return loads

    def _faulted_loads(self, i: int, t: Seconds, level: Array) -> list[Seconds]:
        cabinet = self.cabinets[i]
        stuck = np.zeros(t.shape, bool)
        for f in faults_of(cabinet, "driver_stuck"):
            stuck |= active(f, t)
        fraction = np.where(stuck, 100, level) / 100  # the dimmer no longer dims
        dark: dict[str, Seconds] = {}
        for f in faults_of(cabinet, "lamp_failure"):
            name = f.params["circuit"]
            dark[name] = dark.get(name, 0) + active(f, t)
        tripped: dict[int, Array] = {}
        for f in faults_of(cabinet, "breaker_trip"):
            tripped[f.params["phase"]] = tripped.get(f.params["phase"], False) | active(f, t)
        out = [np.zeros(t.shape) for _ in range(3)]
        for c in cabinet.circuits:
            lit = np.maximum(0, c.luminaires - dark.get(c.name, 0))
            out[c.phase - 1] += np.where(tripped.get(c.phase, False), 0.0, lit * c.watts * fraction)
        dark_output = (level == 0) | self.silent(i, t)
        return [np.where(dark_output, 0.0, load) for load in out]

    def silent(self, i: int, t: Seconds) -> Array:
        silent = np.zeros(t.shape, bool)
        for f in faults_of(self.cabinets[i], "power_loss"):
            silent |= active(f, t)
        return silent

    def power_w(self, ts: Grid) -> Grid:
        """Active power at the meter (`LightingCabinet.power_w`)."""
        loads = self.loads(ts, self.level(ts))
        power = (loads[0] + loads[1] + loads[2]) * (1 + self.losses) + STANDBY_W
        for i in self.faulted:
            power[i] = np.where(self.silent(i, ts[i]), 0.0, power[i])
        return power

    # --- the energy index -------------------------------------------------------------------
    def energy_kwh(self, times: Seconds) -> Grid:
        """The index at each reading time: from the cabinet's at the start, the power
        integrated segment by segment between switchings (constant in each)."""
        n = len(self.cabinets)
        cuts = [np.broadcast_to(times, (n, times.size)), self.sunrise, self.sunset,
                np.broadcast_to(self._profile_breaks(), (n, self._profile_breaks().size))]
        edges: list[list[float]] = [[] for _ in range(n)]
        for i in self.faulted:
            for f in self.cabinets[i].faults:
                edges[i].append(f.start.timestamp())
                if f.end is not None:
                    edges[i].append(f.end.timestamp())
        width = max((len(e) for e in edges), default=0)
        if width:
            extra = np.full((n, width), self.ctx.start)
            for i, e in enumerate(edges):
                extra[i, :len(e)] = e
            cuts.append(extra)
        grid = np.clip(np.concatenate(cuts, axis=1), self.ctx.start, self.ctx.end)
        order = np.argsort(grid, axis=1, kind="stable")
        sorted_cuts = np.take_along_axis(grid, order, axis=1)
        mids = (sorted_cuts[:, 1:] + sorted_cuts[:, :-1]) / 2
        hours = np.diff(sorted_cuts, axis=1) / 3600
        kwh = self.power_w(mids) / 1000 * hours
        start = np.array([c.energy_kwh for c in self.cabinets])[:, None]
        index = start + np.concatenate([np.zeros((n, 1)), np.cumsum(kwh, axis=1)], axis=1)
        position = np.empty_like(order)
        np.put_along_axis(position, order, np.arange(order.shape[1])[None, :], axis=1)
        return np.take_along_axis(index, position[:, :times.size], axis=1)

    def _profile_breaks(self) -> Seconds:
        """The profile's switching times on every local day of the run (±1 day)."""
        ats: set[time] = {at for profile in self.profiles for at, _ in profile}
        out = [datetime.combine(day, at, tzinfo=LOCAL_TZ).timestamp()
               for day in self.days for at in sorted(ats)]
        return np.array(out, dtype=np.float64)

    # --- the light sensor -------------------------------------------------------------------
    def ambient_lux(self, ts: Grid) -> Grid:
        """`lighting.ambient_lux` over arrays, with the territory's clouds."""
        ra, dec, gmst_h = sun_position(ts[0], xp=np)  # the same for every cabinet at a time
        elevation = elevation_from(ra[None, :], dec[None, :], gmst_h[None, :], self.lat, self.lon, np)
        clear = cloud_transmission(self.ctx.cloud(ts[0]))[None, :]
        day = LUX_MIN + LUX_SPAN * np.sin(np.radians(np.maximum(elevation, 0))) ** 1.2 * clear
        twilight = LUX_MIN * 10 ** (np.minimum(elevation, 0) / 1.5)
        return np.where(elevation > 0, day, np.where(elevation > -6, twilight, LUX_NIGHT))
