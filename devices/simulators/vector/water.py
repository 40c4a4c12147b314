"""The water network as arrays: district meters (the demand curve, background losses, the
district's leaks, the volume index integrated by substeps) and acoustic loggers (a night a
reading: their background, and the leaks of their pipe carried along it). Formulas and
constants are `water.py`'s and `leaks.py`'s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from ..base import LOCAL_TZ
from ..leaks import LEAK_DB_AT_1_M3H, LEAK_SPREAD_DB, Leak
from ..water import (
    DEMAND_MEMORY,
    DEMAND_NOISE,
    FLOW_NOISE,
    NIGHT_MEMORY,
    NIGHT_NOISE_DB,
    PRESSURE_NOISE_BAR,
    TRAFFIC_SPREAD_SIGMA,
    AcousticLeakSensor,
    WaterFlowMeter,
    demand_curve,
    main_temperature_c,
)
from .clock import Array, Seconds, local_hour, local_weekday, utc_days
from .frame import Context, Grid, Readings, radio


def leak_flow_m3h(leak: Leak, ts: npt.ArrayLike) -> Grid:
    """`Leak.flow_m3h` over an array of times."""
    t = np.asarray(ts, dtype=np.float64)
    start, peak_at = leak.start.timestamp(), leak.peak_at.timestamp()
    flowing = t >= start
    if leak.end is not None:
        flowing &= t < leak.end.timestamp()
    if leak.profile == "abrupt" or peak_at <= start:
        flow = np.full(t.shape, leak.peak_flow_m3h)
    else:
        flow = leak.peak_flow_m3h * np.minimum(1.0, (t - start) / (peak_at - start))
    return np.where(flowing, flow, 0.0)


def demand(ts: Grid) -> Grid:
    """`water.demand_factor` over an array of times."""
    hour = local_hour(ts)
    weekend = local_weekday(ts) >= 5
    return np.where(weekend, demand_curve(hour, True, np), demand_curve(hour, False, np))


def meters(devices: list[WaterFlowMeter], ctx: Context) -> list[Readings]:
    """District meters: a reading every 15 minutes from the start, substeps of 5 minutes."""
    if not devices:
        return []
    n = len(devices)
    interval = WaterFlowMeter.interval.total_seconds()
    per = int(np.ceil(interval / WaterFlowMeter.substep.total_seconds()))
    readings_n = int((ctx.end - ctx.start) // interval) + 1
    sub_h = interval / per / 3600
    mids = ctx.start + interval / per * (np.arange((readings_n - 1) * per) + 0.5)
    times = ctx.start + interval * np.arange(readings_n)
    rng = ctx.rng("water_flow_meter")
    mean = np.array([d.mean_flow_m3h for d in devices])[:, None]
    losses = np.array([d.losses_m3h for d in devices])[:, None]
    leaks_at = _district_leaks(devices)

    def flow(ts: Grid, noise: Grid) -> Grid:
        out = losses + (mean - losses) * demand(ts) * noise
        for i, leaks in leaks_at.items():
            for leak in leaks:
                out[i] += leak_flow_m3h(leak, ts[i] if ts.ndim == 2 else ts)
        return out

    # The consumers' wandering factor, substep by substep (`WaterFlowMeter.advance`).
    noise = np.empty((n, mids.size + 1))
    noise[:, 0] = 1.0
    keep = DEMAND_MEMORY ** (sub_h * 12)
    kicks = rng.normal(0, DEMAND_NOISE, (n, mids.size))
    for j in range(mids.size):
        noise[:, j + 1] = 1 + keep * (noise[:, j] - 1) + kicks[:, j]
    sub_flow = flow(np.broadcast_to(mids, (n, mids.size)).copy(), noise[:, 1:])
    volume0 = np.array([d.volume_m3 for d in devices])[:, None]
    volume = volume0 + np.concatenate([np.zeros((n, 1)), np.cumsum(sub_flow * sub_h, axis=1)], axis=1)
    at_readings = np.arange(readings_n) * per
    ts = np.broadcast_to(times, (n, readings_n)).copy()
    now_flow = flow(ts, noise[:, at_readings])
    peak = np.array([d._peak_m3h for d in devices])[:, None]
    static = np.array([d.static_bar for d in devices])[:, None]
    headloss = np.array([d.headloss_bar for d in devices])[:, None]
    shape = ts.shape
    out = Readings(list(devices), ts, np.ones(shape, bool))
    out.add("flow_m3h", now_flow * (1 + rng.normal(0, FLOW_NOISE, shape)), 3)
    out.add("volume_m3", volume[:, at_readings], 3)
    out.add("pressure_bar", static - headloss * (now_flow / peak) ** 2
            + rng.normal(0, PRESSURE_NOISE_BAR, shape), 3)
    radio(out, rng, ctx.start)
    return [out]


def _district_leaks(devices: list[WaterFlowMeter]) -> dict[int, list[Leak]]:
    out = {}
    for i, d in enumerate(devices):
        if d.network is not None:
            leaks = d.network.leaks_in(d.device_id)
            if leaks:
                out[i] = leaks
    return out


def loggers(devices: list[AcousticLeakSensor], ctx: Context) -> list[Readings]:
    """Noise loggers: a reading a night, at their own report time (`next_local`)."""
    if not devices:
        return []
    ts, due = _nightly(devices, ctx)
    n, k = ts.shape
    rng = ctx.rng("acoustic_leak_sensor")
    base = np.array([d.base_noise_db for d in devices])[:, None]
    spread0 = np.array([d.traffic_spread_db for d in devices])[:, None]
    anomaly = np.zeros((n, k))
    kicks = rng.normal(0, NIGHT_NOISE_DB, (n, k))
    previous = np.array([d.anomaly_db for d in devices])
    for j in range(k):  # the night-to-night wander, at each reading taken
        previous = np.where(due[:, j], NIGHT_MEMORY * previous + kicks[:, j], previous)
        anomaly[:, j] = previous
    background = np.maximum(5.0, base + anomaly)
    traffic = np.exp(np.log(spread0) + rng.normal(0, TRAFFIC_SPREAD_SIGMA, (n, k)))
    night = ts - (local_hour(ts) - 3.0) * 3600  # 03:00 of the night just ended
    leak_energy = np.zeros((n, k))
    for i, d in enumerate(devices):
        if d.pipe is None or d.network is None:
            continue
        for leak in d.network.leaks_on(d.pipe.id):
            flow = leak_flow_m3h(leak, night[i])
            received = (LEAK_DB_AT_1_M3H + 10 * np.log10(np.maximum(flow, 1e-12))
                        - leak.pipe.attenuation_db_per_m * abs(d.position_m - leak.position_m))
            leak_energy[i] += np.where(flow > 0, 10 ** (received / 10), 0.0)
    noise_min = 10 * np.log10(10 ** (background / 10) + leak_energy)
    leak_share = 1 - 10 ** ((background - noise_min) / 10)
    spread = leak_share * LEAK_SPREAD_DB + (1 - leak_share) * traffic
    current = 10 * np.log10(10 ** ((background + traffic * rng.uniform(0.2, 0.8, (n, k))) / 10)
                            + leak_energy)
    out = Readings(list(devices), ts, due)
    out.add("noise_min_db", noise_min, 1)
    out.add("noise_spread_db", spread, 1)
    out.add("noise_level_db", np.maximum(current, noise_min), 1)
    doy = _day_of_year(ts)
    out.add("temperature_c", main_temperature_c(doy, np) + rng.normal(0, 0.15, (n, k)), 1)
    radio(out, rng, ctx.start)
    return [out]


def _nightly(devices: list[AcousticLeakSensor], ctx: Context) -> tuple[Grid, Array]:
    """Each logger's report times within the run: its `report_at`, every local night."""
    first = datetime.fromtimestamp(ctx.start, UTC).astimezone(LOCAL_TZ).date()
    last = datetime.fromtimestamp(ctx.end, UTC).astimezone(LOCAL_TZ).date() + timedelta(days=1)
    days = utc_days(first, last)
    by_time: dict[object, Seconds] = {}
    for d in devices:
        if d.report_at not in by_time:
            stamps = np.array([datetime.combine(day, d.report_at, tzinfo=LOCAL_TZ).timestamp()
                               for day in days])
            by_time[d.report_at] = stamps[(stamps >= ctx.start) & (stamps <= ctx.end)]
    width = max(1, max(s.size for s in by_time.values()))
    ts = np.full((len(devices), width), ctx.end)
    due = np.zeros((len(devices), width), bool)
    for i, d in enumerate(devices):
        stamps = by_time[d.report_at]
        ts[i, :stamps.size] = stamps
        due[i, :stamps.size] = True
    return ts, due


def _day_of_year(ts: Grid) -> Grid:
    days = np.floor(ts / 86400).astype(np.int64)
    unique, inverse = np.unique(days, return_inverse=True)
    doy = np.array([datetime.fromtimestamp(int(x) * 86400, UTC).timetuple().tm_yday for x in unique])
    return doy[inverse].reshape(ts.shape).astype(np.float64)
