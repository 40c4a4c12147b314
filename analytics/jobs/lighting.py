"""The public lighting job: the coming night's schedule of every cabinet, what the past
nights really used, and cabinet faults.

Schedules: for each lighting cabinet, the coming night's steps (`analytics/lighting.py`) under
the policy in force for its tenant (its own, else the nearest tenant above it that has one,
else the default; migration 0009) and the dark zones over it (of its tenant or above), made
compliant with the arrêté du 27 décembre 2018 for the cabinet's category (`comply`) and
checked. The schedule is queued as a `set_schedule` command, only when its steps differ from
the last `set_schedule` queued for the cabinet (so hourly runs queue it once); the night, the
prediction, the policy and its origin, the zones and the check (with what `comply` changed)
go in the command's `detail` (`analytics/lighting_store.py: Plan.detail`). A schedule that
still fails the check is not sent: the cabinet keeps its own clock, and the job logs why.

Measured energy: once a night is over (its last step at least `MEASURE_MARGIN` ago), each
applied schedule of the last `MEASURE_DAYS` days without a measurement gets one from the
cabinet's energy index (`detail.measured`: energy, saving, and their error against the
prediction); after `MEASURE_DAYS` without the readings it is marked unavailable.

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

import logging
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.lifecycle import clear_alert, raise_alert
from analytics.job import Job, JobContext, read_watermark, write_watermark
from analytics.lighting import LOSSES, PARIS, Cabinet, sun_times
from analytics.lighting_store import (
    DEFAULT,
    MEASURE_MARGIN,
    CabinetRow,
    cabinets,
    energy_index,
    measurement,
    plan,
    policies_in_force,
    steps_of,
    zones_by_cabinet,
)
from commands.errors import InvalidCommand
from commands.service import Order, check_target, prepare, queue_commands
from commands.service import Policy as CommandPolicy
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
MEASURE_DAYS = 3
LAMP = "lamp_failure_power"
DAYLIGHT = "daytime_burning"


def coming_night(spec: Cabinet, now: datetime) -> date:
    """The evening (local date) of the next night to begin after `now` (at sunset)."""
    today = now.astimezone(PARIS).date()
    sunset, _ = sun_times(spec.lat, spec.lon, today)
    return today if now < sunset else today + timedelta(days=1)


def run(ctx: JobContext) -> int:
    """Queues the changed schedules, measures the past nights and acts on cabinet faults;
    returns commands queued + nights measured + alert changes."""
    cabs = cabinets(ctx.conn)
    changes = queue_schedules(ctx.conn, cabs, now=ctx.now, log=ctx.log)
    changes += measure(ctx.conn, ctx.now)
    changes += _faults(ctx, cabs)
    ctx.conn.commit()
    return changes


# --- schedules ---------------------------------------------------------------------------
def _last_steps(conn: psycopg.Connection, uids: list[int]) -> dict[int, Any]:
    """The steps of the latest `set_schedule` queued for each cabinet."""
    return dict(conn.execute(
        "select distinct on (device_uid) device_uid, params -> 'steps' from commands "
        "where device_uid = any(%s) and type = 'set_schedule' "
        "order by device_uid, created_at desc", (uids,)).fetchall())


def queue_schedules(conn: psycopg.Connection, cabs: list[CabinetRow], *, now: datetime,
                    log: logging.Logger) -> int:
    """Queues the coming night's schedule of each cabinet whose steps changed; returns how
    many were queued."""
    policies = policies_in_force(conn)
    zones = zones_by_cabinet(conn)
    last = _last_steps(conn, [cab.uid for cab in cabs])
    orders: list[tuple[Target, Order]] = []
    details: list[dict[str, Any]] = []
    for cab in cabs:
        if not cab.spec.luminaires:
            log.warning("lighting: %s/%s has no luminaires in its metadata; skipped",
                        cab.tenant, cab.id)
            continue
        night = coming_night(cab.spec, now)
        p = plan(cab.spec, night, policies.get(cab.tenant_id, DEFAULT), zones.get(cab.uid, []))
        if not p.verdict.ok:
            log.warning("lighting: schedule of %s/%s for the night of %s not sent: %s",
                        cab.tenant, cab.id, night, "; ".join(p.verdict.reasons_fr))
            continue
        target = Target(**cab.row)
        try:
            order = prepare("set_schedule", {"steps": [s.to_json() for s in p.steps]},
                            expires=p.steps[0].at, now=now, policy=CommandPolicy())
            check_target(target, order, now=now)
        except InvalidCommand as exc:
            log.warning("lighting: schedule of %s/%s refused: %s", cab.tenant, cab.id, exc)
            continue
        if last.get(cab.uid) == order.params["steps"]:
            continue
        orders.append((target, order))
        details.append(p.detail(cab.spec))
    # One transaction for the lot: a few statements whatever the number of cabinets.
    ids = queue_commands(conn, orders, now=now, actor=ACTOR)
    if ids:
        conn.execute("update commands c set detail = c.detail || d.detail "
                     "from unnest(%s::uuid[], %s::jsonb[]) d(id, detail) where c.id = d.id",
                     (ids, [Jsonb(d) for d in details]))
    conn.commit()
    return len(ids)


def measure(conn: psycopg.Connection, now: datetime) -> int:
    """Adds `detail.measured` to the applied schedules whose night is over; returns how
    many nights were measured (or given up)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select id, device_uid, params, detail, created_at from commands "
            "where type = 'set_schedule' and status = 'applied' and detail ? 'prediction' "
            "and not detail ? 'measured' and created_at >= %s order by created_at",
            (now - timedelta(days=MEASURE_DAYS + 2),)).fetchall()
    done = 0
    for r in rows:
        steps = steps_of(r["params"])
        if len(steps) < 2 or steps[-1].at + MEASURE_MARGIN > now:
            continue
        result = measurement(steps, r["detail"]["prediction"],
                             energy_index(conn, r["device_uid"], steps[0].at, steps[-1].at))
        if result is None:
            if now - steps[-1].at < timedelta(days=MEASURE_DAYS):
                continue  # readings may still arrive (a backlog)
            result = {"unavailable": "relevés d'index d'énergie absents autour du début ou de "
                                     "la fin de la nuit"}
        conn.execute("update commands set detail = detail || %s where id = %s",
                     (Jsonb({"measured": result}), r["id"]))
        done += 1
    conn.commit()
    return done


# --- faults ------------------------------------------------------------------------------
_METRICS = ("power_w", "dimming_pct", "output_on")


def _readings(conn: psycopg.Connection, uids: list[int], start: datetime,
              end: datetime) -> dict[int, dict[datetime, dict[str, float]]]:
    # One row per sample with the three metrics side by side (a third of the rows to fetch).
    rows = conn.execute(
        "select device_uid, ts, max(value) filter (where metric = 'power_w'), "
        "max(value) filter (where metric = 'dimming_pct'), "
        "max(value) filter (where metric = 'output_on') "
        "from readings where device_uid = any(%s) and metric = any(%s) "
        "and ts > %s and ts <= %s group by device_uid, ts",
        (uids, list(_METRICS), start, end)).fetchall()
    out: dict[int, dict[datetime, dict[str, float]]] = defaultdict(dict)
    for uid, ts, *values in rows:
        out[uid][ts] = {m: v for m, v in zip(_METRICS, values, strict=True) if v is not None}
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


def _faults(ctx: JobContext, cabs: list[CabinetRow]) -> int:
    conn = ctx.conn
    if not cabs:
        return 0
    watermark = read_watermark(conn, NAME)
    start = max(watermark or ctx.now - MAX_WINDOW, ctx.now - MAX_WINDOW)
    uids = [c.uid for c in cabs]
    readings = _readings(conn, uids, start, ctx.now)
    # Only a cabinet with an active alert has anything to clear (most have none).
    active = {uid for (uid,) in conn.execute(
        "select device_uid from alerts where type = %s and status <> 'resolved' "
        "and device_uid = any(%s)", (ALERT_TYPE, uids))}
    changes = 0
    for cab in cabs:
        samples = readings.get(cab.uid)
        if not samples or not cab.spec.luminaires:
            continue
        observed = max(samples)
        for condition, seen in judge(cab.spec, samples).items():
            if seen:
                detail = ("puissance de nuit inférieure à l'attendu d'au moins un luminaire : "
                          "lampe(s) en panne probable(s)" if condition == LAMP
                          else "éclairage allumé en plein jour")
                change = raise_alert(conn, device=cab.uid, alert_type=ALERT_TYPE,
                                     severity="medium" if condition == LAMP else "low",
                                     now=ctx.now, settings=ctx.settings, source=SOURCE,
                                     text_key="generic", condition=condition,
                                     params={"condition": condition, "detail_fr": detail},
                                     observed_at=observed)
                changes += int(change.kind is not None)
            elif seen is False and cab.uid in active:
                cleared = clear_alert(conn, device_uid=cab.uid, alert_type=ALERT_TYPE,
                                      now=ctx.now, settings=ctx.settings, source=SOURCE,
                                      observed_at=observed, condition=condition)
                changes += int(cleared is not None and cleared.kind is not None)
    write_watermark(conn, NAME, ctx.now, now=ctx.now)
    conn.commit()
    return changes


JOB = Job(NAME, INTERVAL, run,
          "public lighting: next night's dimming schedule per cabinet (policy in force, dark "
          "zones, arrêté du 27/12/2018), measured energy of past nights, lamp failures and "
          "daytime burning")
