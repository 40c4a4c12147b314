"""The public lighting job: tomorrow night's schedule of every cabinet, and cabinet faults.

Schedules: for each lighting cabinet, the coming night's steps (`analytics/lighting.py`: the
astronomical clock and the default policy; the cabinet's metadata `safety`,
`lighting_category`, `closing`), checked against the arrêté du 27 décembre 2018. A compliant
schedule is queued as a `set_schedule` command, only when its steps differ from the last
`set_schedule` queued for the cabinet (so hourly runs queue it once); its energy prediction,
night and check go in the command's `detail`. A schedule that fails the check is not sent: the
cabinet keeps its own clock, and the job logs the French reason.

Faults, from the readings since the last run (at most `MAX_WINDOW`): door open and breaker
trip arrive as events and become alerts in the rules engine; this job adds what only the
power shows, as `cabinet_fault` alerts with conditions of their own:

- `lamp_failure_power`: at night, the median power is below what the commanded level should
  draw by more than one luminaire's watts at that level (at least `MIN_SAMPLES` readings);
- `daytime_burning`: the sun is up (with `SUN_MARGIN` around sunrise and sunset) and the
  output is on or the power exceeds the controller's standby plus one luminaire.

A condition seen normal again in a later window is cleared.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.lifecycle import clear_alert, raise_alert
from analytics.job import Job, JobContext, read_watermark, write_watermark
from analytics.lighting import (
    LOSSES,
    PARIS,
    Cabinet,
    Policy,
    check,
    predict,
    schedule,
    sun_times,
)
from commands.errors import InvalidCommand
from commands.service import Policy as CommandPolicy
from commands.service import prepare, queue_command
from commands.targets import Target
from phare.tenancy import Actor

NAME = "lighting"
INTERVAL = timedelta(hours=1)
KIND = "lighting_cabinet"
ALERT_TYPE = "cabinet_fault"
SOURCE = f"analytics:{NAME}"
ACTOR = Actor(f"job:{NAME}")
MAX_WINDOW = timedelta(hours=24)
MIN_SAMPLES = 3
SUN_MARGIN = timedelta(minutes=30)  # the astronomical clock and the light sensor disagree a bit
LAMP = "lamp_failure_power"
DAYLIGHT = "daytime_burning"


@dataclass(frozen=True, slots=True)
class _Cabinet:
    target: Target
    spec: Cabinet


def _cabinets(conn: psycopg.Connection) -> list[_Cabinet]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select d.uid, d.tenant_id, t.slug as tenant, d.id, d.kind, d.model, d.dev_eui, "
            "d.lorawan_id, d.metadata, d.online, d.last_seen, "
            "st_y(d.location::geometry) as lat, st_x(d.location::geometry) as lon "
            "from devices d join tenants t on t.id = d.tenant_id "
            "where d.kind = %s and d.location is not null order by d.uid", (KIND,)).fetchall()
    out = []
    for r in rows:
        lat, lon = r.pop("lat"), r.pop("lon")
        r["metadata"] = r["metadata"] or {}
        out.append(_Cabinet(Target(**r), Cabinet.from_metadata(lat, lon, r["metadata"])))
    return out


def coming_night(spec: Cabinet, now: datetime, policy: Policy) -> date:
    """The evening (local date) of the next night to begin after `now`."""
    today = now.astimezone(PARIS).date()
    sunset, _ = sun_times(spec.lat, spec.lon, today)
    return today if now < sunset + policy.dusk_offset else today + timedelta(days=1)


def run(ctx: JobContext) -> int:
    """Queues the changed schedules and acts on cabinet faults; returns commands + alert
    changes."""
    cabinets = _cabinets(ctx.conn)
    changes = _schedules(ctx, cabinets)
    changes += _faults(ctx, cabinets)
    ctx.conn.commit()
    return changes


# --- schedules ---------------------------------------------------------------------------
def _last_steps(conn: psycopg.Connection, uid: int) -> Any:
    row = conn.execute("select params -> 'steps' from commands where device_uid = %s and "
                       "type = 'set_schedule' order by created_at desc limit 1",
                       (uid,)).fetchone()
    return None if row is None else row[0]


def _schedules(ctx: JobContext, cabinets: list[_Cabinet]) -> int:
    queued = 0
    policy = Policy()
    for cab in cabinets:
        if not cab.spec.luminaires:
            ctx.log.warning("lighting: %s/%s has no luminaires in its metadata; skipped",
                            cab.target.tenant, cab.target.id)
            continue
        night = coming_night(cab.spec, ctx.now, policy)
        steps = schedule(cab.spec, night, policy)
        verdict = check(cab.spec, night, steps)
        if not verdict.ok:
            ctx.log.warning("lighting: schedule of %s/%s for the night of %s not sent: %s",
                            cab.target.tenant, cab.target.id, night, "; ".join(verdict.reasons_fr))
            continue
        try:
            order = prepare("set_schedule", {"steps": [s.to_json() for s in steps]},
                            expires=steps[0].at, now=ctx.now, policy=CommandPolicy())
        except InvalidCommand as exc:
            ctx.log.warning("lighting: schedule of %s/%s refused: %s", cab.target.tenant,
                            cab.target.id, exc)
            continue
        if _last_steps(ctx.conn, cab.target.uid) == order.params["steps"]:
            continue
        command_id = queue_command(ctx.conn, cab.target, order, now=ctx.now, actor=ACTOR)
        detail = {"night": night.isoformat(), "prediction": predict(cab.spec, steps).to_json(),
                  "category": cab.spec.category, "safety": cab.spec.safety}
        ctx.conn.execute("update commands set detail = detail || %s where id = %s",
                         (Jsonb(detail), command_id))
        ctx.conn.commit()
        queued += 1
    return queued


# --- faults ------------------------------------------------------------------------------
def _readings(conn: psycopg.Connection, uids: list[int], start: datetime,
              end: datetime) -> dict[int, dict[datetime, dict[str, float]]]:
    rows = conn.execute(
        "select device_uid, ts, metric, value from readings where device_uid = any(%s) and "
        "metric in ('power_w', 'dimming_pct', 'output_on') and ts > %s and ts <= %s",
        (uids, start, end)).fetchall()
    out: dict[int, dict[datetime, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for uid, ts, metric, value in rows:
        out[uid][ts][metric] = float(value)
    return out


def sun_up(spec: Cabinet, t: datetime) -> bool:
    """Whether t is well inside daylight (SUN_MARGIN after sunrise, before sunset)."""
    day = t.astimezone(PARIS).date()
    sunset, _ = sun_times(spec.lat, spec.lon, day)
    _, sunrise = sun_times(spec.lat, spec.lon, day - timedelta(days=1))
    return sunrise + SUN_MARGIN <= t <= sunset - SUN_MARGIN


def judge(spec: Cabinet, samples: dict[datetime, dict[str, float]]) -> dict[str, bool | None]:
    """For each condition: True (seen), False (seen normal), None (nothing to judge)."""
    deficits: list[float] = []
    daylight: list[bool] = []
    for t, m in sorted(samples.items()):
        power = m.get("power_w")
        if power is None:
            continue
        if sun_up(spec, t):
            on = m.get("output_on", 0.0) >= 0.5
            daylight.append(on or power > spec.standby_w + spec.luminaire_w)
            continue
        level = m.get("dimming_pct")
        if level is not None and level > 0:
            expected = spec.installed_w * level / 100 * (1 + LOSSES) + spec.standby_w
            deficits.append((expected - power) / (spec.luminaire_w * level / 100))
    lamp = (statistics.median(deficits) > 1.0) if len(deficits) >= MIN_SAMPLES else None
    burning = (sum(daylight) >= 2) if daylight else None
    return {LAMP: lamp, DAYLIGHT: burning}


def _faults(ctx: JobContext, cabinets: list[_Cabinet]) -> int:
    conn = ctx.conn
    if not cabinets:
        return 0
    watermark = read_watermark(conn, NAME)
    start = max(watermark or ctx.now - MAX_WINDOW, ctx.now - MAX_WINDOW)
    readings = _readings(conn, [c.target.uid for c in cabinets], start, ctx.now)
    changes = 0
    for cab in cabinets:
        samples = readings.get(cab.target.uid)
        if not samples or not cab.spec.luminaires:
            continue
        observed = max(samples)
        for condition, seen in judge(cab.spec, samples).items():
            if seen:
                detail = ("puissance de nuit inférieure à l'attendu d'au moins un luminaire : "
                          "lampe(s) en panne probable(s)" if condition == LAMP
                          else "éclairage allumé en plein jour")
                change = raise_alert(conn, device=cab.target.uid, alert_type=ALERT_TYPE,
                                     severity="medium" if condition == LAMP else "low",
                                     now=ctx.now, settings=ctx.settings, source=SOURCE,
                                     text_key="generic", condition=condition,
                                     params={"condition": condition, "detail_fr": detail},
                                     observed_at=observed)
                changes += int(change.kind is not None)
            elif seen is False:
                cleared = clear_alert(conn, device_uid=cab.target.uid, alert_type=ALERT_TYPE,
                                      now=ctx.now, settings=ctx.settings, source=SOURCE,
                                      observed_at=observed, condition=condition)
                changes += int(cleared is not None and cleared.kind is not None)
    write_watermark(conn, NAME, ctx.now, now=ctx.now)
    conn.commit()
    return changes


JOB = Job(NAME, INTERVAL, run,
          "public lighting: next night's dimming schedule per cabinet, lamp failures and "
          "daytime burning")
