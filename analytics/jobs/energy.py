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

import pandas as pd
import psycopg
from psycopg.rows import dict_row

from alerts.lifecycle import clear_alert, raise_alert
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


def _daily(conn: psycopg.Connection, uids: list[int], metrics: list[str], start: datetime,
           end: datetime) -> pd.DataFrame:
    rows = conn.execute(
        "select device_uid, metric, bucket, avg, min, max, delta from readings_daily "
        "where device_uid = any(%s) and metric = any(%s) and bucket >= %s and bucket < %s",
        (uids, metrics, start, end)).fetchall()
    frame = pd.DataFrame(rows, columns=["uid", "metric", "bucket", "avg", "min", "max", "delta"])
    frame["day"] = (pd.to_datetime(frame["bucket"], utc=True).dt.tz_convert(ZONE)
                    .dt.tz_localize(None).dt.normalize())
    return frame


def _outdoor(conn: psycopg.Connection, tenant_id: int, start: datetime,
             end: datetime) -> tuple[pd.Series | None, str]:
    for source, query in (
            ("capteur extérieur", "select uid from devices where tenant_id = %s "
                                  "and (metadata->>'outdoor')::boolean is true"),
            ("détecteurs de crue", "select uid from devices where tenant_id = %s "
                                   "and kind = 'hazard_detector' "
                                   "and metadata->>'sensor' in ('water_level', 'water_spot')")):
        uids = [r[0] for r in conn.execute(query, (tenant_id,)).fetchall()]
        if uids:
            frame = _daily(conn, uids, ["temperature_c"], start, end)
            if not frame.empty:
                return frame.groupby("day")["avg"].mean(), source
    return None, "normale saisonnière"


def _frame(rows: pd.DataFrame, days: pd.DatetimeIndex, outdoor: pd.Series | None) -> pd.DataFrame:
    def col(metric: str, field: str) -> pd.Series:
        part = rows[rows["metric"] == metric].set_index("day")[field]
        return part.reindex(days).astype(float)

    frame = pd.DataFrame({"electricity_kwh": col("electricity_kwh", "delta")}, index=days)
    if (rows["metric"] == "gas_kwh").any():
        frame["gas_kwh"] = col("gas_kwh", "delta")
    frame["occupied"] = col("occupancy", "max").fillna(0) > 0
    frame["power_min_w"] = col("power_w", "min")
    frame["power_avg_w"] = col("power_w", "avg")
    normal = energy.seasonal_normal_c(days)
    frame["outdoor_c"] = normal if outdoor is None else outdoor.reindex(days).fillna(normal)
    return frame


def run(ctx: JobContext) -> int:
    """Judges yesterday (local) of every building; returns the alerts raised or cleared."""
    conn = ctx.conn
    last = (ctx.now.astimezone(ZONE) - timedelta(days=1)).date()
    start, end = day_start(last - timedelta(days=LOOKBACK_DAYS)), day_start(last + timedelta(1))
    with conn.cursor(row_factory=dict_row) as cur:
        devices = cur.execute("select uid, id, tenant_id, metadata from devices where kind = %s "
                              "order by uid", (KIND,)).fetchall()
    if not devices:
        conn.commit()
        return 0
    daily = _daily(conn, [d["uid"] for d in devices], METRICS, start, end)
    days = pd.date_range(last - timedelta(days=LOOKBACK_DAYS), last, freq="D")
    outdoors: dict[int, tuple[pd.Series | None, str]] = {}
    changes = 0
    for device in devices:
        rows = daily[daily["uid"] == device["uid"]]
        if rows.empty:
            continue
        tenant = device["tenant_id"]
        if tenant not in outdoors:
            outdoors[tenant] = _outdoor(conn, tenant, start, end)
        outdoor, source = outdoors[tenant]
        metadata = device["metadata"] or {}
        settings = energy.EnergySettings.from_mapping(metadata.get(METADATA_KEY))
        baseline, verdicts = energy.judge(
            _frame(rows, days, outdoor), train_until=pd.Timestamp(last - timedelta(JUDGED_DAYS)),
            settings=settings, closes_for_school=energy.closes_for_school(metadata.get("usage")))
        if baseline is None or not verdicts or verdicts[-1].day.date() != last:
            continue
        changes += _act(ctx, device["uid"], verdicts[-1], baseline, source, end)
        conn.commit()
    conn.commit()
    ctx.log.info("energy: %s judged, %d alert change(s)", last, changes)
    return changes


def _act(ctx: JobContext, uid: int, v: energy.Day, baseline: energy.Baseline, source: str,
         end: datetime) -> int:
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
        elif clear_alert(ctx.conn, device_uid=uid, alert_type=ALERT_TYPE, now=observed,
                         settings=ctx.settings, source=SOURCE, observed_at=observed,
                         condition=condition) is not None:
            changes += 1
    return changes


JOB = Job(NAME, INTERVAL, run,
          "energy: buildings' daily consumption against their weather and occupancy baseline")
