"""Hourly and daily rollups of `readings`: what they hold, and how they stay right with late data.

What they hold
--------------
`readings_hourly` (UTC hours) and `readings_daily` (Europe/Paris days: officials think in local
days; a daily `bucket` is the instant the local day starts, 23:00 or 22:00 UTC the day before).
Per (device, metric, bucket): avg, min, max, count, last (the value at the latest ts), and for
cumulative indexes (`Metric.cumulative` in the catalogue) `delta`, the consumption in the bucket:
the sum of the steps between consecutive samples, each step counted in the bucket of its later
sample (after a gap, the consumption lands where the meter is read again), a drop counted as a
counter reset (the new value counts from zero). Daily rows are computed from hourly ones:
Paris offsets are whole hours, so every UTC hour lies in exactly one Paris day.

Which buckets to recompute: the design and its trade-off
--------------------------------------------------------
Ingest does not record when a row arrived; late data (device backlogs, replays, imports) can land
in any old hour; a per-row trigger on `readings` would tax the hot path (~100k rows/s).

- Rescanning "the last N hours" is cheap but silently misses anything later than N.
- Watching chunks (row counts, pg_stat n_tup_ins per chunk) is approximate (statistics are
  asynchronous and reset after a crash) and costs a whole-day rescan for one late row.
- Chosen: **a dirty log written by ingest once per batch.** `mark_dirty(conn, rows)` inserts, in
  the batch's own transaction, one `rollup_dirty` row per UTC hour the batch touches, with the
  range of device uids seen in that hour: a single INSERT of one or two rows per batch (a few a
  second at 100k rows/s), plus one pass over the batch's rows in Python (~6 ms for 30,000
  rows, ~2 % of one core at 100k rows/s). The line for `ingest/writer.py` is in `mark_dirty`.

The rollup job consumes the log one Europe/Paris day at a time (its unit of work, one transaction
each): it deletes the day's marks, recomputes the marked (hour, uid range) buckets from raw, then
the day's daily rows from the hourly ones. This needs no lock: a mark commits atomically with its
rows, so a mark that the DELETE sees belongs to a committed batch, whose rows the statements that
follow (newer snapshots, READ COMMITTED) see too; a mark of a batch still in flight is invisible
to the DELETE, stays in the log and is processed by the next run.

The job's watermark (`job_state`, job "rollups") is a time sweep for rows nobody marked (history
from before the job existed, rows inserted by hand): each run marks every hour from the watermark
to the current one, then moves the watermark to the start of the hour ten minutes ago (in-flight
batches around an hour boundary are swept again). Rollups are complete before
min(watermark, earliest pending mark) - `covered_until` - which is where the API reads them and
before which retention may drop raw chunks. A stopped or failed run loses nothing: unprocessed
marks stay in the log.

Costs and limits: a uid *range* per hour over-marks when one batch holds late data of two distant
devices for the same hour (the devices between them are recomputed, harmlessly); live data marks
every device of the current hour, which each run recomputes. A cumulative bucket's delta depends
on the sample before it: when a recomputed bucket's `last` changes, the next bucket with data of
that series is marked too (its own `last` is unchanged, so this never cascades). A late row older
than the raw retention horizon (its day already dropped) cannot be rolled up: it is logged and
dropped with its chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from devices.catalogue import KINDS

log = logging.getLogger(__name__)

# Job names, shared by the jobs and by whoever asks whether rollups cover a period.
ROLLUPS_JOB = "rollups"
RETENTION_JOB = "retention"

DAILY_TIMEZONE = "Europe/Paris"
_DAILY_ZONE = ZoneInfo(DAILY_TIMEZONE)
HOUR = timedelta(hours=1)
MAX_UID = 2**31 - 1

CUMULATIVE_METRICS = frozenset(
    m.name for kind in KINDS.values() for m in kind.metrics if m.cumulative
)


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """An hour to recompute for the devices uid_min..uid_max."""

    hour: datetime
    uid_min: int
    uid_max: int


# --- marking ----------------------------------------------------------------------------
_MARK = (
    "insert into rollup_dirty (hour, uid_min, uid_max) "
    "select * from unnest(%s::timestamptz[], %s::integer[], %s::integer[])"
)


def mark_dirty(conn: psycopg.Connection, rows: Iterable[Sequence[Any]]) -> int:
    """Marks the hours and devices of `rows` for the rollup job; returns the marks written.

    `rows` are readings as ingest writes them: (ts, tenant_id, device_uid, metric, value).
    Call it in the transaction that inserts them - in `ingest/writer.py`, `Writer._write`, right
    after `result.values_stored = self._copy_readings(rows)`:

        if result.values_stored: mark_dirty(conn, rows)

    (with `from analytics.rollups import mark_dirty` among the imports).
    """
    spans: dict[float, list[int]] = {}
    for row in rows:
        key = row[0].timestamp() // 3600
        uid = row[2]
        span = spans.get(key)
        if span is None:
            spans[key] = [uid, uid]
        elif uid < span[0]:
            span[0] = uid
        elif uid > span[1]:
            span[1] = uid
    if not spans:
        return 0
    hours = [datetime.fromtimestamp(key * 3600, UTC) for key in spans]
    conn.execute(_MARK, (hours, [s[0] for s in spans.values()], [s[1] for s in spans.values()]))
    return len(spans)


def mark_hours(conn: psycopg.Connection, hours: Sequence[datetime]) -> None:
    """Marks whole hours, every device (the sweep, or after importing rows by hand)."""
    if hours:
        conn.execute(_MARK, (list(hours), [0] * len(hours), [MAX_UID] * len(hours)))


# --- coverage ---------------------------------------------------------------------------
def covered_until(conn: psycopg.Connection, *, device_uid: int, start: datetime,
                  end: datetime) -> datetime | None:
    """Until when, within [start, end), the device's rollups are complete; None if never rolled up.

    Rollups are complete before the rollup job's watermark, except from the earliest hour still
    marked for this device.
    """
    row = conn.execute(
        "select (select watermark from job_state where job = %(job)s), "
        "(select min(hour) from rollup_dirty where hour >= time_bucket('1 hour', %(start)s) "
        " and hour < %(end)s and %(uid)s between uid_min and uid_max)",
        {"job": ROLLUPS_JOB, "start": start, "end": end, "uid": device_uid},
    ).fetchone()
    if row is None or row[0] is None:
        return None
    watermark, pending = row
    return watermark if pending is None else min(watermark, pending)


def rolled_up_before(conn: psycopg.Connection) -> datetime | None:
    """Before when every device's rollups are complete (for retention); None if never rolled up."""
    row = conn.execute(
        "select (select watermark from job_state where job = %s), "
        "(select min(hour) from rollup_dirty)",
        (ROLLUPS_JOB,),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    watermark, pending = row
    return watermark if pending is None else min(watermark, pending)


# --- days -------------------------------------------------------------------------------
def hour_floor(instant: datetime) -> datetime:
    """The start of the UTC hour that contains `instant`."""
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def paris_day(instant: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the Europe/Paris day that contains `instant`."""
    day = instant.astimezone(_DAILY_ZONE).date()
    start = datetime.combine(day, time(), _DAILY_ZONE)
    end = datetime.combine(day + timedelta(days=1), time(), _DAILY_ZONE)
    return start.astimezone(UTC), end.astimezone(UTC)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """The same hours and devices in as few spans as possible (overlaps and neighbours joined)."""
    merged: list[Span] = []
    for span in sorted(spans):
        last = merged[-1] if merged else None
        if last is not None and last.hour == span.hour and span.uid_min <= last.uid_max + 1:
            merged[-1] = Span(last.hour, last.uid_min, max(last.uid_max, span.uid_max))
        else:
            merged.append(span)
    return merged


def merge_ranges(spans: Iterable[Span]) -> list[tuple[int, int]]:
    """The uid ranges of `spans`, whatever their hours, joined."""
    ranges: list[tuple[int, int]] = []
    for lo, hi in sorted((s.uid_min, s.uid_max) for s in spans):
        if ranges and lo <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], hi))
        else:
            ranges.append((lo, hi))
    return ranges


# --- recomputing one day ------------------------------------------------------------------
# The marked spans and their uid ranges, as tables, from array parameters.
_SPANS = sql.SQL(
    "spans as (select * from unnest(%(hours)s::timestamptz[], %(lo)s::integer[], "
    "%(hi)s::integer[]) as s(hour, lo, hi))"
)
_RANGES = sql.SQL(
    "ranges as (select * from unnest(%(lo)s::integer[], %(hi)s::integer[]) as g(lo, hi))"
)

_TAKE_MARKS = sql.SQL(
    "delete from rollup_dirty where hour >= %(start)s and hour < %(end)s "
    "returning hour, uid_min, uid_max"
)
_PREVIOUS_TABLE = sql.SQL(
    "create temporary table rollup_previous "
    "(device_uid integer, metric text, bucket timestamptz, last float8) on commit drop"
)
# The `last` of the cumulative buckets about to be recomputed, to see which ones change.
_SAVE_PREVIOUS = sql.SQL(
    "with {spans} insert into rollup_previous select h.device_uid, h.metric, h.bucket, h.last "
    "from readings_hourly h join spans s on h.bucket = s.hour "
    "and h.device_uid between s.lo and s.hi "
    "where h.metric = any(%(cumulative)s) and h.bucket >= %(start)s and h.bucket < %(end)s"
).format(spans=_SPANS)
_DELETE_HOURLY = sql.SQL(
    "with {spans} delete from readings_hourly h using spans s "
    "where h.bucket = s.hour and h.device_uid between s.lo and s.hi "
    "and h.bucket >= %(start)s and h.bucket < %(end)s"
).format(spans=_SPANS)
# A step is the difference between a sample and the one before it; a drop is a counter reset,
# the new value counting from zero. Only cumulative buckets read their samples in order (an
# index range scan each), so the other metrics are aggregated without sorting. The first sample
# of a bucket steps from the latest sample before the bucket: raw, or, once raw has been
# dropped, the previous hourly `last` (looked up for that first sample only: coalesce is lazy).
_INSERT_HOURLY = sql.SQL("""
with {spans},
buckets as (
    select r.tenant_id, r.device_uid, r.metric, s.hour as bucket, avg(r.value) as avg,
           min(r.value) as min, max(r.value) as max, count(*) as count, last(r.value, r.ts) as last
    from spans s
    join readings r on r.ts >= s.hour and r.ts < s.hour + interval '1 hour'
                   and r.device_uid between s.lo and s.hi
    where r.ts >= %(start)s and r.ts < %(end)s
    group by r.tenant_id, r.device_uid, r.metric, s.hour
)
insert into readings_hourly
    (tenant_id, device_uid, metric, bucket, avg, min, max, count, last, delta, computed_at)
select b.tenant_id, b.device_uid, b.metric, b.bucket, b.avg, b.min, b.max, b.count, b.last,
       case when b.metric = any(%(cumulative)s) then (
           select sum(case when w.prev is null then 0 when w.value >= w.prev then w.value - w.prev
                           else w.value end)
           from (
               select r.value, coalesce(lag(r.value) over (order by r.ts), (
                   select coalesce(
                       (select p.value from readings p
                        where p.device_uid = b.device_uid and p.metric = b.metric
                          and p.ts < b.bucket order by p.ts desc limit 1),
                       (select h.last from readings_hourly h
                        where h.device_uid = b.device_uid and h.metric = b.metric
                          and h.bucket < b.bucket order by h.bucket desc limit 1)))) as prev
               from readings r
               where r.device_uid = b.device_uid and r.metric = b.metric
                 and r.ts >= b.bucket and r.ts < b.bucket + interval '1 hour') w)
       end,
       %(now)s
from buckets b
""").format(spans=_SPANS)
# Cumulative buckets whose `last` changed (or appeared, or vanished): the next bucket with data
# of the same series steps from a different value, so it is marked unless already recomputed.
_MARK_FOLLOWING = sql.SQL("""
with {spans},
changed as (
    select h.device_uid, h.metric, h.bucket
    from readings_hourly h
    join spans s on h.bucket = s.hour and h.device_uid between s.lo and s.hi
    left join rollup_previous p
           on p.device_uid = h.device_uid and p.metric = h.metric and p.bucket = h.bucket
    where h.metric = any(%(cumulative)s) and h.bucket >= %(start)s and h.bucket < %(end)s
      and p.last is distinct from h.last
    union
    select p.device_uid, p.metric, p.bucket from rollup_previous p
    where not exists (select 1 from readings_hourly h where h.device_uid = p.device_uid
                      and h.metric = p.metric and h.bucket = p.bucket)
),
following as (
    select distinct c.device_uid, time_bucket('1 hour', n.ts) as hour
    from changed c
    cross join lateral (
        select r.ts from readings r
        where r.device_uid = c.device_uid and r.metric = c.metric
          and r.ts >= c.bucket + interval '1 hour'
        order by r.ts limit 1) n
)
insert into rollup_dirty (hour, uid_min, uid_max)
select f.hour, f.device_uid, f.device_uid from following f
where not exists (select 1 from spans s where s.hour = f.hour
                  and f.device_uid between s.lo and s.hi)
returning id
""").format(spans=_SPANS)
_DELETE_DAILY = sql.SQL(
    "with {ranges} delete from readings_daily d using ranges g "
    "where d.bucket = %(start)s and d.device_uid between g.lo and g.hi"
).format(ranges=_RANGES)
_INSERT_DAILY = sql.SQL("""
with {ranges}
insert into readings_daily
    (tenant_id, device_uid, metric, bucket, avg, min, max, count, last, delta, computed_at)
select h.tenant_id, h.device_uid, h.metric, %(start)s, sum(h.avg * h.count) / sum(h.count),
       min(h.min), max(h.max), sum(h.count), last(h.last, h.bucket), sum(h.delta), %(now)s
from readings_hourly h
join ranges g on h.device_uid between g.lo and g.hi
where h.bucket >= %(start)s and h.bucket < %(end)s
group by h.tenant_id, h.device_uid, h.metric
""").format(ranges=_RANGES)


@dataclass(frozen=True, slots=True)
class DayResult:
    """What recomputing one Paris day did."""

    day: date                # the Europe/Paris day
    hours: int               # hours recomputed (with their uid ranges)
    hourly_rows: int
    daily_rows: int
    following: list[int]     # ids of the marks it added (next buckets of changed series)
    skipped_hours: int       # marked hours older than the raw retention horizon


def roll_up_day(conn: psycopg.Connection, day: datetime, *, now: datetime,
                raw_horizon: datetime | None) -> DayResult:
    """Recomputes the rollups of the Paris day containing `day` from its pending marks.

    Runs in the caller's transaction, which must be READ COMMITTED (the default): the marks are
    taken first so that the rows of every mark taken are visible to the statements after it.
    """
    start, end = paris_day(day)
    local_day = start.astimezone(_DAILY_ZONE).date()
    window = {"start": start, "end": end}
    taken = [Span(*row) for row in conn.execute(_TAKE_MARKS, window).fetchall()]
    skipped = {s.hour for s in taken if raw_horizon is not None and s.hour < raw_horizon}
    if skipped:
        log.warning("rollups: late data in %d hour(s) from %s, before the raw retention horizon "
                    "%s: not rolled up (the raw days around it are gone); it will be dropped",
                    len(skipped), min(skipped).isoformat(), raw_horizon)
    spans = merge_spans(s for s in taken if s.hour not in skipped)
    if not spans:
        return DayResult(local_day, 0, 0, 0, [], len(skipped))
    params = {**window, "now": now, "cumulative": sorted(CUMULATIVE_METRICS),
              "hours": [s.hour for s in spans], "lo": [s.uid_min for s in spans],
              "hi": [s.uid_max for s in spans]}
    conn.execute(_PREVIOUS_TABLE)
    conn.execute(_SAVE_PREVIOUS, params)
    conn.execute(_DELETE_HOURLY, params)
    hourly = conn.execute(_INSERT_HOURLY, params).rowcount
    following = [row[0] for row in conn.execute(_MARK_FOLLOWING, params).fetchall()]
    ranges = merge_ranges(spans)
    daily_params = {**window, "now": now, "lo": [r[0] for r in ranges],
                    "hi": [r[1] for r in ranges]}
    conn.execute(_DELETE_DAILY, daily_params)
    daily = conn.execute(_INSERT_DAILY, daily_params).rowcount
    conn.execute("drop table rollup_previous")
    return DayResult(local_day, len({s.hour for s in spans}), hourly, daily, following,
                     len(skipped))
