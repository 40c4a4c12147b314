"""Public buildings as arrays: presence from the use's week and the calendar, the heating
programme's mode, heating by degree days, electricity (baseload, occupancy, circulators),
hot water, solar production, rooms and air relaxing to their targets, the indexes
integrated by substeps, and the faults (heating left on, a baseload step, a running leak,
a frozen meter). Formulas and constants are `building.py`'s."""

from __future__ import annotations

import numpy as np

from ..building import (
    AIR_H,
    BOILER_EFFICIENCY,
    CIRCULATORS_FROM_KW,
    CIRCULATORS_KW,
    HEATING_LOAD,
    HOT_WATER_KW_PER_OCCUPANT,
    OUTDOOR_CO2_PPM,
    PREHEAT_H,
    PV_PERFORMANCE_RATIO,
    PV_TILT_GAIN,
    ROOMS_H,
    SET_POINT_C,
    BuildingMeter,
    _heating_day,
)
from ..weather import HEATING_BASE_C, LAPSE_C_PER_M
from .clock import Array, Seconds, local_day, local_hour, local_weekday, to_datetime
from .frame import INT, Context, Grid, Readings, active, faults_of

MODES = ("comfort", "setback", "frost")
_LOAD = np.array([HEATING_LOAD[m] for m in MODES])
_SET_POINT = np.array([SET_POINT_C[m] for m in MODES])


class Buildings:
    """The buildings' drivers and meters over the run (rows: buildings)."""

    def __init__(self, devices: list[BuildingMeter], ctx: Context) -> None:
        self.devices = devices
        self.ctx = ctx
        n = len(devices)
        interval = BuildingMeter.interval.total_seconds()
        self.per = int(np.ceil(interval / BuildingMeter.substep.total_seconds()))
        count = int((ctx.end - ctx.start) // interval) + 1
        self.times = ctx.start + interval * np.arange(count)
        self.mids = ctx.start + interval / self.per * (np.arange((count - 1) * self.per) + 0.5)
        self.sub_h = interval / self.per / 3600
        self.area, self.occupants = self.col("area_m2"), self.col("max_occupants")
        self.ua = self.col("ua_kw_k")
        self.pv_kwc = self.col("pv_kwc")
        self.gas = np.array([d.heating == "gaz" for d in devices])[:, None]
        self.base_w = np.array([d.usage.base_w_m2 for d in devices])[:, None]
        self.occupied_w = np.array([d.usage.occupied_w_m2 for d in devices])[:, None]
        self.water_l = np.array([d.usage.water_l_per_occupant_h for d in devices])[:, None]
        self.co2_rise = np.array([d.usage.co2_rise_ppm for d in devices])[:, None]
        ref = ctx.weather.altitude_m
        self.lapse = LAPSE_C_PER_M * (np.array([ref if d.altitude_m is None else d.altitude_m
                                               for d in devices]) - ref)[:, None]
        self.faulted = [i for i, d in enumerate(devices) if d.faults]
        assert n == self.area.shape[0]

    def col(self, name: str) -> Grid:
        """An attribute of every building, as a column."""
        return np.array([getattr(d, name) for d in self.devices], dtype=np.float64)[:, None]

    def drivers(self, ts: Seconds) -> dict[str, Grid]:
        """What drives the meters at each time (`BuildingMeter.instant`), for every building."""
        n = len(self.devices)
        presence = np.zeros((n, ts.size))
        mode = np.zeros((n, ts.size), np.intp)
        kinds: dict[tuple[str, int], list[int]] = {}
        for i, d in enumerate(self.devices):
            kinds.setdefault((d.usage.label_fr, id(d.calendar)), []).append(i)
        for rows in kinds.values():
            p, m = _schedule(self.devices[rows[0]], ts)
            presence[rows], mode[rows] = p, m
        for i in self.faulted:
            for f in faults_of(self.devices[i], "heating_on_holiday"):
                mode[i] = np.where(active(f, ts), 0, mode[i])
        days = local_day(ts)
        unique, inverse = np.unique(days, return_inverse=True)
        season = np.array([_heating_day(int(x)) for x in unique], dtype=bool)[inverse][None, :]
        outdoor = self.ctx.temperature(ts)[None, :] - self.lapse
        heating = np.where(season, self.ua * np.maximum(0.0, HEATING_BASE_C - outdoor)
                           * _LOAD[mode] / BOILER_EFFICIENCY, 0.0)
        extra_w = np.zeros((n, ts.size))
        leak_l_h = np.zeros((n, ts.size))
        for i in self.faulted:
            d = self.devices[i]
            for f in faults_of(d, "baseload_step"):
                extra_w[i] += np.where(active(f, ts), f.params.get("extra_w", 0.0), 0.0)
            for f in faults_of(d, "night_water_leak"):
                leak_l_h[i] += np.where(active(f, ts), f.params["flow_l_h"], 0.0)
        electricity = (self.area * self.base_w / 1000 + self.area * self.occupied_w * presence / 1000
                       + np.where(heating > CIRCULATORS_FROM_KW, CIRCULATORS_KW, 0.0)
                       + np.where(self.gas, 0.0, heating) + extra_w / 1000)
        gas = HOT_WATER_KW_PER_OCCUPANT * self.occupants * presence + np.where(self.gas, heating, 0.0)
        water = self.occupants * presence * self.water_l / 1000 + leak_l_h / 1000
        irradiance = self.ctx.per_time(ts, self.ctx.weather.irradiance_w_m2)[None, :]
        pv = self.pv_kwc * irradiance / 1000 * PV_TILT_GAIN * PV_PERFORMANCE_RATIO
        return {"presence": presence, "mode": mode, "season": np.broadcast_to(season, presence.shape),
                "outdoor": outdoor, "electricity": electricity, "gas": gas, "water": water, "pv": pv}

    def run(self) -> tuple[dict[str, Grid], dict[str, Grid]]:
        """The indexes and slow states at each reading time, and the drivers at those times."""
        n = len(self.devices)
        sub = self.drivers(self.mids)
        at = np.arange(self.times.size) * self.per
        indexes = {}
        for name, start, kw in (("electricity_kwh", "electricity_kwh", "electricity"),
                                ("gas_kwh", "gas_kwh", "gas"), ("water_m3", "water_m3", "water"),
                                ("pv_kwh", "pv_kwh", "pv")):
            total = np.cumsum(sub[kw] * self.sub_h, axis=1)
            series = self.col(start) + np.concatenate([np.zeros((n, 1)), total], axis=1)
            indexes[name] = series[:, at]
        # Rooms and air relax towards their targets, substep by substep.
        heated = (sub["outdoor"] < HEATING_BASE_C) & sub["season"]
        target = np.where(heated, np.maximum(_SET_POINT[sub["mode"]], sub["outdoor"]),
                          0.5 * sub["outdoor"] + 0.5 * 22 + 1.0 * sub["presence"])
        co2_target = OUTDOOR_CO2_PPM + self.co2_rise * sub["presence"]
        rooms, air = 1 - np.exp(-self.sub_h / ROOMS_H), 1 - np.exp(-self.sub_h / AIR_H)
        indoor = np.empty((n, self.mids.size + 1))
        co2 = np.empty((n, self.mids.size + 1))
        indoor[:, 0], co2[:, 0] = self.col("indoor_c")[:, 0], self.col("co2_ppm")[:, 0]
        for j in range(self.mids.size):
            indoor[:, j + 1] = indoor[:, j] + (target[:, j] - indoor[:, j]) * rooms
            co2[:, j + 1] = co2[:, j] + (co2_target[:, j] - co2[:, j]) * air
        states = {**indexes, "indoor_c": indoor[:, at], "co2_ppm": co2[:, at]}
        return states, self.drivers(self.times)


def _schedule(building: BuildingMeter, ts: Seconds) -> tuple[Seconds, Array]:
    """Presence (share of occupants) and heating mode (index in MODES) of a use and calendar
    over times (`BuildingMeter.presence`, `heating_mode` without faults)."""
    days = local_day(ts)
    hour = local_hour(ts)
    weekday = local_weekday(ts)
    unique, first, inverse = np.unique(days, return_index=True, return_inverse=True)
    share = np.empty(unique.size)
    closed = np.empty(unique.size, bool)
    school = np.empty(unique.size, bool)
    for j, k in enumerate(first):
        t = to_datetime(float(ts[k]))
        share[j], closure = building.day_use(t)
        closed[j] = closure is not None
        school[j] = building._school_closure(t)
    week = building.usage.week
    presence = np.zeros(ts.size)
    comfort = np.zeros(ts.size, bool)
    has_periods = np.zeros(ts.size, bool)
    for day, periods in enumerate(week):
        on_day = weekday == day
        for a, b, part in reversed(periods):  # the first period that holds wins
            presence = np.where(on_day & (a <= hour) & (hour < b), part, presence)
        if periods:
            has_periods |= on_day
            comfort |= on_day & (periods[0][0] - PREHEAT_H <= hour) & (hour < periods[-1][1])
    presence = presence * share[inverse]
    presence[share[inverse] == 0] = 0.0
    idle = np.where(school[inverse], 2, 1)
    mode = np.where(closed[inverse] | ~has_periods, idle, np.where(comfort, 0, 1))
    return presence, mode.astype(np.intp)


def meters(devices: list[BuildingMeter], ctx: Context) -> tuple[list[Readings], dict[int, Grid]]:
    """Building readings (one group per set of indexes), and each building's indoor
    temperature at its reading times (by `id` of the device), for its smoke detectors."""
    if not devices:
        return [], {}
    model = Buildings(devices, ctx)
    states, now = model.run()
    n, count = len(devices), model.times.size
    rng = ctx.rng("building_meter")
    shape = (n, count)
    presence = now["presence"]
    for i in model.faulted:  # a frozen meter repeats what it read when it froze
        for f in faults_of(devices[i], "meter_freeze"):
            on = np.nonzero(active(f, model.times))[0]
            if on.size:
                for name in ("electricity_kwh", "gas_kwh", "water_m3", "pv_kwh"):
                    states[name][i, on] = states[name][i, on[0]]
    values: dict[str, tuple[Grid, int]] = {
        "power_w": (now["electricity"] * 1000 * (1 + rng.normal(0, 0.03, shape)), 1),
        "temperature_c": (states["indoor_c"] + rng.normal(0, 0.1, shape), 1),
        "humidity_pct": (np.minimum(70.0, 42 + 10 * presence + rng.normal(0, 1.5, shape)), 1),
        "co2_ppm": (np.rint(states["co2_ppm"] + rng.normal(0, 15, shape)), INT),
        "illuminance_lux": (np.rint(np.where(presence > 0, rng.uniform(300, 500, shape),
                                             rng.uniform(0, 5, shape))), INT),
        "occupancy": (np.rint(model.occupants * presence * rng.uniform(0.9, 1.05, shape)), INT),
    }
    ts = np.broadcast_to(model.times, shape)
    groups: dict[tuple[bool, bool], list[int]] = {}
    for i, d in enumerate(devices):
        groups.setdefault((d.heating == "gaz", bool(d.pv_kwc)), []).append(i)
    out = []
    for (gas, pv), rows in groups.items():
        r = Readings([devices[i] for i in rows], np.ascontiguousarray(ts[rows]),
                     np.ones((len(rows), count), bool))
        names = ["electricity_kwh", "water_m3"] + (["gas_kwh"] if gas else []) + (["pv_kwh"] if pv else [])
        for name in names:
            r.add(name, states[name][rows], 3)
        for name, (array, decimals) in values.items():
            r.add(name, array[rows], decimals)
        out.append(r)
    indoor = {id(d): states["indoor_c"][i] for i, d in enumerate(devices)}
    return out, indoor
