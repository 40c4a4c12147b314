"""The leak detection job: acoustic loggers and district meters, night by night.

Each run reads the nights completed since its watermark (`job_state`, job "leaks": the start
of the first night not yet judged), with `LOOKBACK_NIGHTS` before them for the baselines, from
raw `readings` (one value a night per logger, the 02:00-04:00 flow samples of the meters:
a few thousand rows, well within the raw retention). The detectors (`analytics/leaks.py`)
replay that history; the nights after the watermark then act on alerts, oldest first:

- a leak (a cluster of loggers of one pipe) raises `water_leak` on its anchor logger: the one
  that already holds the leak's alert, else the loudest. The same leak seen night after night
  is one alert whose occurrences grow; its params carry the findings (estimated position,
  excess per logger, corroborating neighbours, baseline);
- a district meter's night-flow alarm raises `water_leak` on the meter, with the estimated
  leak flow (m³/h) and the volume lost a day;
- an alert whose leak is no longer heard is cleared.

Alerts are raised and cleared at the instant of the night's readings (`now` = the night's
last report, never after the run's clock), so that a run catching up on several nights dates
each alert from the night that showed it, and so that two leaks of one logger weeks apart
are two alerts. The findings live in the alerts' params (no table of their own yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
from psycopg.rows import dict_row

from alerts.lifecycle import clear_alert, raise_alert
from analytics.job import Job, JobContext, read_watermark, write_watermark
from analytics.leaks import (
    ACOUSTIC_KIND,
    FLOW,
    METADATA_KEY,
    METER_KIND,
    NOISE_MIN,
    NOISE_SPREAD,
    AcousticNight,
    FlowNight,
    LeakSettings,
    Sensor,
    acoustic_nights,
    clusters,
    flow_nights,
    night_minimums,
)

NAME = "leaks"
INTERVAL = timedelta(hours=1)
ALERT_TYPE = "water_leak"
SOURCE = f"analytics:{NAME}"
LOOKBACK_NIGHTS = 45
ZONE = ZoneInfo("Europe/Paris")
# A night (named by the evening it starts) is complete once the loggers have reported
# (04:30-05:00) and the meters' night window (02:00-04:00) is over.
NIGHT_COMPLETE = time(6, 0)
FLOW_WINDOW = (2, 4)  # local hours [from, to)


def night_of(ts: pd.Series) -> pd.Series:
    """The night (the date of its evening) of readings taken at `ts` (UTC)."""
    local = pd.to_datetime(ts, utc=True).dt.tz_convert(ZONE)
    return (local - pd.Timedelta(hours=12)).dt.normalize().dt.tz_localize(None)


def night_start(night: date) -> datetime:
    """The instant (UTC) a night begins: noon of its evening, Paris time."""
    return datetime.combine(night, time(12), ZONE).astimezone(UTC)


def last_complete_night(now: datetime) -> date:
    local = now.astimezone(ZONE)
    day = local.date() - timedelta(days=1)
    return day if local.time() >= NIGHT_COMPLETE else day - timedelta(days=1)


@dataclass
class _Active:
    device_uid: int
    params: dict[str, Any]


def _devices(conn: psycopg.Connection, kind: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("select uid, id, tenant_id, metadata from devices where kind = %s "
                           "order by uid", (kind,)).fetchall()


def _active(conn: psycopg.Connection, uids: list[int]) -> dict[int, _Active]:
    rows = conn.execute(
        "select device_uid, params from alerts where type = %s and status <> 'resolved' "
        "and source = %s and device_uid = any(%s)", (ALERT_TYPE, SOURCE, uids)).fetchall()
    return {uid: _Active(uid, dict(params)) for uid, params in rows}


def _settings_of(devices: list[dict[str, Any]], base: LeakSettings) -> dict[int, LeakSettings]:
    return {d["uid"]: LeakSettings.from_mapping((d["metadata"] or {}).get(METADATA_KEY), base)
            for d in devices}


def _readings(conn: psycopg.Connection, uids: list[int], metrics: list[str], start: datetime,
              end: datetime) -> pd.DataFrame:
    rows = conn.execute(
        "select device_uid, metric, ts, value from readings where device_uid = any(%s) "
        "and metric = any(%s) and ts >= %s and ts < %s",
        (uids, metrics, start, end)).fetchall()
    return pd.DataFrame(rows, columns=["uid", "metric", "ts", "value"])


def run(ctx: JobContext) -> int:
    """Judges the nights completed since the watermark; returns the alerts raised or cleared."""
    conn = ctx.conn
    base = LeakSettings()
    last = last_complete_night(ctx.now)
    watermark = read_watermark(conn, NAME)
    if watermark is None:
        row = conn.execute("select min(ts) from readings").fetchone()
        if row is None or row[0] is None:
            conn.commit()
            return 0
        first = night_of(pd.Series([row[0]])).iloc[0].date()
    else:
        first = watermark.astimezone(ZONE).date()
    if first > last:
        conn.commit()
        return 0
    start = night_start(first - timedelta(days=LOOKBACK_NIGHTS))
    end = night_start(last + timedelta(days=1))
    changes = _acoustic(ctx, base, first, start, end) + _night_flow(ctx, base, first, start, end)
    write_watermark(conn, NAME, night_start(last + timedelta(days=1)), now=ctx.now)
    conn.commit()
    ctx.log.info("leaks: nights %s to %s judged, %d alert change(s)", first, last, changes)
    return changes


# --- acoustic ------------------------------------------------------------------------------
def _acoustic(ctx: JobContext, base: LeakSettings, first: date, start: datetime,
              end: datetime) -> int:
    conn = ctx.conn
    devices = _devices(conn, ACOUSTIC_KIND)
    if not devices:
        return 0
    settings_of = _settings_of(devices, base)
    sensors = {d["uid"]: Sensor(d["uid"], d["id"], (d["metadata"] or {}).get("pipe"),
                                float((d["metadata"] or {}).get("position_m") or 0.0),
                                (d["metadata"] or {}).get("pipe_material"))
               for d in devices}
    frame = _readings(conn, list(sensors), [NOISE_MIN, NOISE_SPREAD], start, end)
    if frame.empty:
        return 0
    frame["night"] = night_of(frame["ts"])
    reported = frame.groupby(["uid", "night"])["ts"].max()
    table = frame.pivot_table(index=["uid", "night"], columns="metric", values="value",
                              aggfunc="last")
    active = _active(conn, list(sensors))
    verdicts: dict[int, dict[pd.Timestamp, AcousticNight]] = {}
    for uid, nights in table.groupby(level=0):
        if NOISE_MIN not in nights or NOISE_SPREAD not in nights:
            continue
        series = nights.droplevel(0)
        # An alert held from before: judge the nights since it was raised against the baseline
        # it was raised with (the lookback may by now hold only leak nights); otherwise replay
        # the lookback, which rebuilds the baseline and any alarm.
        held = active.get(int(uid))
        if held is not None and held.params.get("baseline_db") is not None:
            since = pd.Timestamp(held.params.get("since") or first.isoformat())
            walked = acoustic_nights(series[series.index >= since], settings_of[int(uid)],
                                     held_baseline_db=float(held.params["baseline_db"]))
        else:
            walked = acoustic_nights(series, settings_of[int(uid)])
        verdicts[int(uid)] = {v.night: v for v in walked}
    changes = 0
    nights = sorted({n for v in verdicts.values() for n in v if n >= pd.Timestamp(first)})
    for night in nights:
        tonight = {uid: v[night] for uid, v in verdicts.items() if night in v}
        observed = min(ctx.now, max(reported[(uid, night)] for uid in tonight).to_pydatetime())
        kept: set[int] = set()
        for cluster in clusters(sensors, tonight, settings_of):
            anchors = [uid for uid in cluster.members + cluster.corroborating if uid in active]
            anchor = anchors[0] if anchors else cluster.loudest
            previous = active.get(anchor)
            kept.add(anchor)
            if previous is not None and not any(tonight[u].loud for u in cluster.members):
                continue  # held, not heard tonight: no new occurrence, findings unchanged
            detected_at = (previous.params.get("detected_at") if previous is not None
                           else observed.isoformat())
            v = tonight[cluster.loudest]
            params = {
                "pipe": cluster.pipe, "detected_at": detected_at,
                "position_m": cluster.position_m,
                "loudest": sensors[cluster.loudest].device_id,
                "excess_db": {sensors[u].device_id: round(x, 1)
                              for u, x in cluster.excess_db.items()},
                "corroborated_by": [sensors[u].device_id for u in cluster.corroborating],
                "baseline_db": (previous.params.get("baseline_db") if previous is not None
                                else tonight[anchor].baseline_db),
                "night": night.date().isoformat(),
                "since": (previous.params.get("since") if previous is not None
                          else night.date().isoformat()),
                "detail_fr": _detail_fr(cluster.pipe, cluster.position_m,
                                        v.excess_db or 0.0, len(cluster.corroborating)),
            }
            severity = "medium" if len(cluster.members) + len(cluster.corroborating) > 1 \
                else "low"
            raise_alert(conn, device=anchor, alert_type=ALERT_TYPE, severity=severity,
                        now=observed, settings=ctx.settings, source=SOURCE, params=params,
                        observed_at=observed)
            changes += previous is None
            active[anchor] = _Active(anchor, params)
        for uid in [u for u in active if u not in kept]:
            if clear_alert(conn, device_uid=uid, alert_type=ALERT_TYPE, now=observed,
                           settings=ctx.settings, source=SOURCE, observed_at=observed):
                changes += 1
            del active[uid]
        conn.commit()
    return changes


def _detail_fr(pipe: str, position: float | None, excess: float, corroborating: int) -> str:
    where = f" vers {position:.0f} m" if position is not None else ""
    also = f", confirmée par {corroborating} capteur(s) voisin(s)" if corroborating else ""
    return (f"bruit de nuit +{excess:.1f} dB sur la conduite {pipe}{where}{also}"
            .replace(".", ","))


# --- night flow ----------------------------------------------------------------------------
def _night_flow(ctx: JobContext, base: LeakSettings, first: date, start: datetime,
                end: datetime) -> int:
    conn = ctx.conn
    devices = _devices(conn, METER_KIND)
    if not devices:
        return 0
    settings_of = _settings_of(devices, base)
    frame = _readings(conn, [d["uid"] for d in devices], [FLOW], start, end)
    if frame.empty:
        return 0
    local_hour = pd.to_datetime(frame["ts"], utc=True).dt.tz_convert(ZONE).dt.hour
    frame = frame[(local_hour >= FLOW_WINDOW[0]) & (local_hour < FLOW_WINDOW[1])].copy()
    frame["night"] = night_of(frame["ts"])
    active = _active(conn, [d["uid"] for d in devices])
    changes = 0
    for uid, rows in frame.groupby("uid"):
        uid = int(uid)
        minimums = night_minimums(rows.set_index("night")["value"])
        reported = rows.groupby("night")["ts"].max()
        previous = active.get(uid)
        held = None if previous is None else previous.params.get("baseline_m3h")
        if previous is not None and held is not None:  # as for the loggers: since raised
            since = pd.Timestamp(previous.params.get("since") or first.isoformat())
            walked = flow_nights(minimums[minimums.index >= since], settings_of[uid],
                                 held_baseline_m3h=float(held))
        else:
            walked = flow_nights(minimums, settings_of[uid])
        for v in walked:
            if v.night < pd.Timestamp(first):
                continue
            observed = min(ctx.now, reported[v.night].to_pydatetime())
            changes += _act_on_flow(ctx, uid, v, observed, previous)
            if v.alarm:
                previous = _Active(uid, {
                    "baseline_m3h": v.baseline_m3h,
                    "since": (previous.params.get("since") if previous
                              else v.night.date().isoformat()),
                    "detected_at": (previous.params.get("detected_at") if previous
                                    else observed.isoformat())})
            else:
                previous = None
        conn.commit()
    return changes


def _act_on_flow(ctx: JobContext, uid: int, v: FlowNight, observed: datetime,
                 previous: _Active | None) -> int:
    if v.alarm and previous is not None and not v.loud:
        return 0  # held, not seen tonight: no new occurrence, findings unchanged
    if v.alarm:
        params: Mapping[str, Any] = {
            "detected_at": (previous.params.get("detected_at") if previous
                            else observed.isoformat()),
            "since": previous.params.get("since") if previous else v.night.date().isoformat(),
            "baseline_m3h": v.baseline_m3h, "night_min_m3h": round(v.min_flow_m3h, 3),
            "leak_m3h": round(v.leak_m3h or 0.0, 3),
            "lost_m3_per_day": round(v.lost_m3_per_day or 0.0, 1),
            "night": v.night.date().isoformat(),
            "detail_fr": (f"débit de nuit +{v.leak_m3h or 0.0:.2f} m³/h, environ "
                          f"{v.lost_m3_per_day or 0.0:.0f} m³ perdus par jour").replace(".", ","),
        }
        raise_alert(ctx.conn, device=uid, alert_type=ALERT_TYPE, severity="medium",
                    now=observed, settings=ctx.settings, source=SOURCE, params=params,
                    observed_at=observed)
        return int(previous is None)
    if previous is not None:
        cleared = clear_alert(ctx.conn, device_uid=uid, alert_type=ALERT_TYPE, now=observed,
                              settings=ctx.settings, source=SOURCE, observed_at=observed)
        return int(cleared is not None)
    return 0


JOB = Job(NAME, INTERVAL, run,
          "water leaks: night noise of acoustic loggers, minimum night flow of district meters")
