"""The rollup job: brings `readings_hourly` and `readings_daily` up to date.

Each run sweeps the hours since its watermark into the dirty log, then recomputes the marked
buckets one Europe/Paris day at a time, oldest first, one transaction and one log line per day
(a day marked for many devices is shared with a second connection, see `roll_up_day`).
The design (dirty log, watermark, late data) is explained in `analytics/rollups.py`.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime, timedelta

import psycopg

from analytics.job import Job, JobContext, read_watermark, write_watermark
from analytics.rollups import HOUR, RETENTION_JOB, ROLLUPS_JOB, hour_floor, mark_hours, roll_up_day
from phare import db
from phare.errors import DatabaseUnavailable

INTERVAL = timedelta(minutes=10)
# A day marked for many devices is recomputed over two connections side by side, one per half
# of the devices (analytics/rollups.py, `roll_up_day`): the database does the work on two cores.
CONNECTIONS = 2
# The watermark trails the clock by this much, so that rows committed just after their hour
# ended are swept again even when nobody marked them.
SWEEP_GRACE = timedelta(minutes=10)


def sweep(ctx: JobContext) -> datetime | None:
    """Marks every hour from the watermark to the current one; returns the new watermark.

    Before the first run the watermark is the hour of the oldest reading (None: no readings).
    """
    conn = ctx.conn
    watermark = read_watermark(conn, ROLLUPS_JOB)
    if watermark is None:
        row = conn.execute("select time_bucket('1 hour', min(ts)) from readings").fetchone()
        watermark = row[0] if row is not None else None
    if watermark is None:
        conn.commit()
        return None
    current = hour_floor(ctx.now)
    hours = []
    hour = watermark
    while hour <= current:
        hours.append(hour)
        hour += HOUR
    mark_hours(conn, hours)
    new_watermark = max(watermark, hour_floor(ctx.now - SWEEP_GRACE))
    write_watermark(conn, ROLLUPS_JOB, new_watermark, now=ctx.now)
    conn.commit()
    if len(hours) > 2:
        ctx.log.info("rollups: %d hours to sweep from %s", len(hours), hours[0].isoformat())
    return new_watermark


def run(ctx: JobContext) -> int:
    """Sweeps, then recomputes every marked day; returns the rollup rows written."""
    with ExitStack() as stack:
        helper = None
        if CONNECTIONS > 1:
            try:
                helper = stack.enter_context(db.connect(ctx.settings))
            except DatabaseUnavailable as exc:
                ctx.log.warning("rollups: no second connection (%s): one connection only", exc)
        return _run(ctx, helper)


def _run(ctx: JobContext, helper: psycopg.Connection | None) -> int:
    conn = ctx.conn
    sweep(ctx)
    row = conn.execute("select coalesce(max(id), 0) from rollup_dirty").fetchone()
    # Marks that ingest adds while this run works wait for the next run, so that the run ends
    # even under continuous ingest. Marks the run adds itself (next buckets of a series) are its
    # own work.
    last_id = int(row[0]) if row is not None else 0
    own: list[int] = []
    written = days = 0
    while True:
        row = conn.execute("select min(hour) from rollup_dirty where id <= %s or id = any(%s)",
                           (last_id, own)).fetchone()
        if row is None or row[0] is None:
            break
        if ctx.should_stop():
            ctx.log.info("rollups: stopping after %d day(s); the next run resumes", days)
            break
        horizon = read_watermark(conn, RETENTION_JOB)
        result = roll_up_day(conn, row[0], now=ctx.now, raw_horizon=horizon, helper=helper)
        conn.commit()
        own.extend(result.following)
        written += result.hourly_rows + result.daily_rows
        days += 1
        ctx.log.info("rollups: day %s (Europe/Paris): %d hour(s) recomputed, %d hourly and "
                     "%d daily rows", result.day.isoformat(), result.hours, result.hourly_rows,
                     result.daily_rows)
    conn.commit()
    return written


JOB = Job(ROLLUPS_JOB, INTERVAL, run,
          "hourly (UTC) and daily (Europe/Paris) rollups of readings, late data included")
