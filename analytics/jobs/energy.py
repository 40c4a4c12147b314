"""The energy job: each public building's day judged against its baseline (analytics/energy.py).

Each run judges the last complete Europe/Paris day of every `building_meter`, from the daily
rollups (`readings_daily`: the deltas of `electricity_kwh` and `gas_kwh`, the daily maximum of
`occupancy`, min/avg of `power_w`) of the `LOOKBACK_DAYS` before it. The baseline is fitted on
the days up to `JUDGED_DAYS` before the judged day, so that an anomaly of the last two weeks
does not bend it; the CUSUM runs over those two weeks.

Outdoor temperature: the territory's weather is shared, so it is taken, in this order, from a
device of the tenant whose metadata has `outdoor: true`, else from the tenant's river
and low-point hazard detectors (`sensor` water_level or water_spot: they read the outdoor air;
smoke detectors, indoors, do not), else from a seasonal normal
(`energy.seasonal_normal_c`, crude: degree days then follow the season, not the weather).
The source is in the alert's params.

One `energy_anomaly` alert per building; each anomaly kind (surconsommation, dérive, index
figé) is one of its conditions (`energy_anomaly:<kind>`), raised while the kind holds on the
judged day and cleared the first day it does not, so the alert resolves when none holds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg
from psycopg.rows import dict_row

from alerts.lifecycle import clear_alert, raise_alert
from alerts.model import Status
from analytics import energy
from analytics.job import Job, JobContext

NAME = "energy"
INTERVAL = timedelta(hours=6)
ALERT_TYPE = "energy_anomaly"
SOURCE = f"analytics:{NAME}"
KIND = "building_meter"
METADATA_KEY = "energy"
LOOKBACK_DAYS = 365
JUDGED_DAYS = 14
ZONE = ZoneInfo("Europe/Paris")
METRICS = ["electricity_kwh", "gas_kwh", "occupancy", "power_w"]
ALERTED = (energy.OVER, energy.DRIFT, energy.FREEZE)
MESSAGES = {
    energy.OVER: "consommation de {energy:.0f} kWh pour {expected:.0f} kWh attendus ({z:+.1f} σ)",
    energy.DRIFT: "dérive de consommation : cumul de {cusum:.1f} σ au-dessus de la référence",
    energy.FREEZE: "index figés alors que le bâtiment consomme ({expected:.0f} kWh attendus)",
}


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), ZONE).astimezone(UTC)


# Each series of the judged period as arrays, one row per (device, metric): the local day (as
# its offset from the first day) and the field the job reads (the delta of an index, the
# maximum of occupancy, the minimum of power) with the daily mean.
_DAILY = """
select device_uid, metric, array_agg(day), array_agg(value), array_agg(mean)
from (select device_uid, metric,
             (bucket at time zone %(zone)s)::date - %(first)s::date as day,
             case metric when 'occupancy' then max when 'power_w' then min else delta end as value,
             avg as mean
      from readings_daily
      where device_uid = any(%(uids)s) and metric = any(%(metrics)s)
        and bucket >= %(start)s and bucket < %(end)s) r
group by device_uid, metric
"""
# Daily mean outdoor temperature of each tenant and source (0: devices marked outdoor, 1: river
# and low-point hazard detectors, which read the outdoor air; smoke detectors, indoors, do not).
_OUTDOOR = """
select d.tenant_id, s.source, (r.bucket at time zone %(zone)s)::date - %(first)s::date, avg(r.avg)
from devices d
cross join lateral (
    select 0 as source where (d.metadata->>'outdoor')::boolean is true
    union all
    select 1 where d.kind = 'hazard_detector'
               and d.metadata->>'sensor' in ('water_level', 'water_spot')) s
join readings_daily r on r.device_uid = d.uid
where d.tenant_id = any(%(tenants)s) and r.metric = 'temperature_c'
  and r.bucket >= %(start)s and r.bucket < %(end)s
group by 1, 2, 3
"""
SOURCES = ("capteur extérieur", "détecteurs de crue")
SEASONAL = "normale saisonnière"


def _outdoor(conn: psycopg.Connection, tenants: list[int], window: dict[str, Any],
             size: int) -> dict[int, tuple[np.ndarray | None, str]]:
    """Per tenant, its daily outdoor temperature (NaN: unknown) and its source, in the order of
    `SOURCES`; (None, seasonal normal) for a tenant without any."""
    found: dict[tuple[int, int], np.ndarray] = {}
    for tenant, source, day, mean in conn.execute(_OUTDOOR, {**window, "tenants": tenants}):
        series = found.setdefault((tenant, source), np.full(size, np.nan))
        series[day] = mean
    out: dict[int, tuple[np.ndarray | None, str]] = {}
    for tenant in tenants:
        rank = min((s for t, s in found if t == tenant), default=None)
        out[tenant] = (None, SEASONAL) if rank is None else (found[tenant, rank], SOURCES[rank])
    return out


def run(ctx: JobContext) -> int:
    """Judges yesterday (local) of every building; returns the alerts raised or cleared."""
    conn = ctx.conn
    last = (ctx.now.astimezone(ZONE) - timedelta(days=1)).date()
    first = last - timedelta(days=LOOKBACK_DAYS)
    start, end = day_start(first), day_start(last + timedelta(1))
    with conn.cursor(row_factory=dict_row) as cur:
        devices = cur.execute("select uid, id, tenant_id, metadata from devices where kind = %s "
                              "order by uid", (KIND,)).fetchall()
    if not devices:
        conn.commit()
        return 0
    days = pd.date_range(first, last, freq="D")
    window = {"zone": str(ZONE), "first": first, "start": start, "end": end}
    # A year of 1,000 buildings is ~1.5 M rows to group: sorted in memory, sent in binary.
    conn.execute("set local work_mem = '64MB'")
    series = conn.execute(_DAILY, {**window, "uids": [d["uid"] for d in devices],
                                   "metrics": METRICS}, binary=True).fetchall()
    # Only buildings with rollups in the period are judged, in uid order.
    seen = {row[0] for row in series}
    judged = [d for d in devices if d["uid"] in seen]
    row_of = {d["uid"]: i for i, d in enumerate(judged)}
    shape = (len(judged), len(days))
    columns = {name: np.full(shape, np.nan) for name in
               ("electricity_kwh", "gas_kwh", "occupancy", "power_min_w", "power_avg_w")}
    has_gas = np.zeros(len(judged), dtype=bool)
    for uid, metric, offsets, value, mean in series:
        i, at = row_of[uid], np.array(offsets)
        if metric == "power_w":
            columns["power_min_w"][i, at] = np.array(value, dtype=float)
            columns["power_avg_w"][i, at] = np.array(mean, dtype=float)
        else:
            columns[metric][i, at] = np.array(value, dtype=float)
        has_gas[i] |= metric == "gas_kwh"
    outdoors = _outdoor(conn, sorted({d["tenant_id"] for d in judged}), window, len(days))
    normal = energy.seasonal_normal_c(days).to_numpy()
    outdoor = np.empty(shape)
    for i, device in enumerate(judged):
        measured = outdoors[device["tenant_id"]][0]
        outdoor[i] = normal if measured is None else np.where(np.isnan(measured), normal,
                                                               measured)
    metadata = [d["metadata"] or {} for d in judged]
    buildings = energy.Buildings(
        electricity_kwh=columns["electricity_kwh"], gas_kwh=columns["gas_kwh"], has_gas=has_gas,
        outdoor_c=outdoor, occupied=np.nan_to_num(columns["occupancy"], nan=0.0) > 0,
        closes_for_school=np.array([energy.closes_for_school(m.get("usage")) for m in metadata],
                                   dtype=bool),
        power_min_w=columns["power_min_w"], power_avg_w=columns["power_avg_w"])
    settings = [energy.EnergySettings.from_mapping(m.get(METADATA_KEY)) for m in metadata]
    results = energy.judge_many(days, buildings,
                                train_until=pd.Timestamp(last - timedelta(JUDGED_DAYS)),
                                settings=settings)
    active = {row[0] for row in conn.execute(
        "select device_uid from alerts where type = %s and status <> 'resolved'", (ALERT_TYPE,))}
    changes = 0
    for device, (baseline, verdicts) in zip(judged, results, strict=True):
        if baseline is None or not verdicts or verdicts[-1].day.date() != last:
            continue
        source = outdoors[device["tenant_id"]][1]
        changes += _act(ctx, device["uid"], verdicts[-1], baseline, source, end,
                        active=device["uid"] in active)
        conn.commit()
    conn.commit()
    ctx.log.info("energy: %s judged, %d alert change(s)", last, changes)
    return changes


def _act(ctx: JobContext, uid: int, v: energy.Day, baseline: energy.Baseline, source: str,
         end: datetime, *, active: bool) -> int:
    """Raises the kinds found on the judged day, clears the others; `active`: whether the
    building has an unresolved energy alert (without one, there is nothing to clear)."""
    observed = min(ctx.now, end)
    changes = 0
    for kind in ALERTED:
        condition = f"{ALERT_TYPE}:{kind}"
        if kind in v.kinds:
            numbers = {"energy": v.energy_kwh or 0.0, "expected": v.expected_kwh,
                       "z": v.z or 0.0, "cusum": max(v.cusum_high, v.cusum_low)}
            params: dict[str, Any] = {
                "kind": kind, "day": v.day.date().isoformat(),
                "energy_kwh": None if v.energy_kwh is None else round(v.energy_kwh, 1),
                "expected_kwh": round(v.expected_kwh, 1),
                "z": None if v.z is None else round(v.z, 2),
                "cusum_high": round(v.cusum_high, 2), "cusum_low": round(v.cusum_low, 2),
                "sigma_kwh": round(baseline.sigma, 1), "cv_rmse": round(baseline.cv_rmse, 3),
                "nmbe": round(baseline.nmbe, 4), "temperature_source": source,
                "detail_fr": MESSAGES[kind].format(**numbers).replace(".", ","),
            }
            change = raise_alert(ctx.conn, device=uid, alert_type=ALERT_TYPE, severity="low",
                                 now=observed, settings=ctx.settings, source=SOURCE,
                                 params=params, observed_at=observed, condition=condition)
            changes += change is not None
            active = True
        elif active:
            cleared = clear_alert(ctx.conn, device_uid=uid, alert_type=ALERT_TYPE, now=observed,
                                  settings=ctx.settings, source=SOURCE, observed_at=observed,
                                  condition=condition)
            if cleared is not None:
                changes += 1
                active = cleared.alert.status is not Status.RESOLVED
    return changes


JOB = Job(NAME, INTERVAL, run,
          "energy: buildings' daily consumption against their weather and occupancy baseline")
