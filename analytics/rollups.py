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

How a day is recomputed: one statement per marked hour (the hour's samples hashed into their
buckets; those of cumulative indexes also read in time order by one window), so that memory
stays that of one hour's groups; then the day's daily rows, hashed from the hourly ones. A day
marked for many devices is split in two uid ranges recomputed side by side over two
connections, the helper's transaction committing first (`roll_up_day` says why that is safe).
bench/jobs.py's day of 10,000 devices (8 M values, 1.7 M rollup rows) takes ~22 s at load 2.

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
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
_RECOMPUTED_TABLE = sql.SQL(
    "create temporary table rollup_recomputed (device_uid integer, metric text, "
    "bucket timestamptz, last float8, primary key (device_uid, metric, bucket)) on commit drop"
)
# One hour's buckets, from its marked samples (merged spans do not overlap: each sample once):
# hashed into groups, and those of cumulative indexes also read in time order. The job runs it
# hour by hour, in order: a day's groups at once would need far more memory. avg is
# sum / count, as PostgreSQL's avg computes it. Rows are inserted in primary key order.
#
# `delta`, for cumulative indexes: the steps between consecutive samples of the hour, a drop
# being a counter reset (the new value counts from zero), plus the step of its first sample
# from the latest sample before the hour. That one is the `last` of the series' bucket of the
# hour before when this transaction has just recomputed it (`rollup_recomputed`: the hour was
# marked for the device, so that bucket holds its latest samples); otherwise it is looked up in
# raw or, once raw has been dropped, in the previous hourly `last` (coalesce is lazy: the
# look-ups run only for those). No sample before: the first step is 0.
#
# The hour's cumulative buckets are added to `rollup_recomputed`, for the next hour and for
# `_MARK_FOLLOWING`.
_INSERT_HOURLY = sql.SQL("""
with {spans},
marked as materialized (
    select r.tenant_id, r.device_uid, r.metric, r.ts, r.value
    from spans s
    join readings r on r.ts >= s.hour and r.ts < s.hour + interval '1 hour'
                   and r.device_uid between s.lo and s.hi
    where r.ts >= %(start)s and r.ts < %(end)s
),
buckets as (
    select tenant_id, device_uid, metric, sum(value) as sum, min(value) as min,
           max(value) as max, count(*) as count, last(value, ts) as last
    from marked
    group by tenant_id, device_uid, metric
),
series as (
    select device_uid, metric, first(value, ts) as first,
           sum(case when prev is null then 0 when value >= prev then value - prev
                    else value end) as steps
    from (select device_uid, metric, ts, value,
                 lag(value) over (partition by device_uid, metric order by ts) as prev
          from marked where metric = any(%(cumulative)s)) w
    group by device_uid, metric
),
hourly as (
    insert into readings_hourly
        (tenant_id, device_uid, metric, bucket, avg, min, max, count, last, delta, computed_at)
    select b.tenant_id, b.device_uid, b.metric, %(hour)s, b.sum / b.count, b.min, b.max,
           b.count, b.last,
           case when b.metric = any(%(cumulative)s) then c.steps + (
               select case when x.prev is null then 0 when c.first >= x.prev
                           then c.first - x.prev else c.first end
               from (select coalesce(
                   p.last,
                   (select r.value from readings r
                    where r.device_uid = b.device_uid and r.metric = b.metric
                      and r.ts < %(hour)s order by r.ts desc limit 1),
                   (select h.last from readings_hourly h
                    where h.device_uid = b.device_uid and h.metric = b.metric
                      and h.bucket < %(hour)s order by h.bucket desc limit 1)) as prev
                     offset 0) x)
           end,
           %(now)s
    from buckets b
    left join series c on c.device_uid = b.device_uid and c.metric = b.metric
    left join rollup_recomputed p
           on p.device_uid = b.device_uid and p.metric = b.metric
          and p.bucket = %(hour)s::timestamptz - interval '1 hour'
    order by b.device_uid, b.metric
    returning device_uid, metric, bucket, last
),
kept as (
    insert into rollup_recomputed
    select device_uid, metric, bucket, last from hourly where metric = any(%(cumulative)s)
)
select count(*) from hourly
""").format(spans=_SPANS)
# Cumulative buckets whose `last` changed (or appeared, or vanished): the next bucket with data
# of the same series steps from a different value, so it is marked unless already recomputed
# (when the series has a recomputed bucket the hour after, that is the next one: no look-up).
_MARK_FOLLOWING = sql.SQL("""
with {spans},
recomputed as (
    select d.device_uid, d.metric, d.bucket, d.last,
           lead(d.bucket) over (partition by d.device_uid, d.metric order by d.bucket) as next
    from rollup_recomputed d
),
changed as (
    select c.device_uid, c.metric, c.bucket
    from recomputed c
    left join rollup_previous p
           on p.device_uid = c.device_uid and p.metric = c.metric and p.bucket = c.bucket
    where p.last is distinct from c.last
      and c.next is distinct from c.bucket + interval '1 hour'
    union
    select p.device_uid, p.metric, p.bucket from rollup_previous p
    where not exists (select 1 from rollup_recomputed d where d.device_uid = p.device_uid
                      and d.metric = p.metric and d.bucket = p.bucket)
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


# For the day's transaction: an hour's samples and groups are held, sorted and hashed in memory
# (tens of MB) rather than spilled to disk. Hash aggregation sizes its groups by the planner's
# guess for TimescaleDB's first/last states, far above their real size: it would spill an
# hour's groups with 18 MB in use, hence the larger multiplier. The statements are too short
# for JIT compilation to pay back (it took seconds per statement).
_SETTINGS = (sql.SQL("set local work_mem = '128MB'"), sql.SQL("set local hash_mem_multiplier = 8"),
             sql.SQL("set local jit = off"))


def _span_arrays(spans: Sequence[Span]) -> dict[str, list[Any]]:
    return {"hours": [s.hour for s in spans], "lo": [s.uid_min for s in spans],
            "hi": [s.uid_max for s in spans]}


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
                raw_horizon: datetime | None,
                helper: psycopg.Connection | None = None) -> DayResult:
    """Recomputes the rollups of the Paris day containing `day` from its pending marks.

    Runs in the caller's transaction, which must be READ COMMITTED (the default): the marks are
    taken first so that the rows of every mark taken are visible to the statements after it.

    With `helper` (another connection, idle), a day marked for many devices is split in two
    uid ranges recomputed side by side, the upper one in the helper's own transaction, which
    commits before this function returns: if the caller's transaction then fails, its marks
    stay and the whole day is recomputed again (recomputing is idempotent). If the helper's
    part fails, the error is raised here and the caller must roll back.
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
    hours = len({s.hour for s in spans})
    split = _split_point(conn, spans, window) if helper is not None else None
    if split is None or helper is None:
        hourly, daily, following = _recompute(conn, spans, window, now)
    else:
        lower = [Span(s.hour, s.uid_min, min(s.uid_max, split - 1)) for s in spans
                 if s.uid_min < split]
        upper = [Span(s.hour, max(s.uid_min, split), s.uid_max) for s in spans
                 if s.uid_max >= split]
        _ensure_chunks(helper, window)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollups") as pool:
            other = pool.submit(_recompute_and_commit, helper, upper, window, now)
            try:
                mine = _recompute(conn, lower, window, now)
            finally:
                theirs = other.result()  # waits; raises the helper's error, if any
        hourly, daily = mine[0] + theirs[0], mine[1] + theirs[1]
        following = mine[2] + theirs[2]
    return DayResult(local_day, hours, hourly, daily, following, len(skipped))


# A day is split for two connections only when it is marked for this many devices or more
# (a few late devices are not worth a second transaction).
SPLIT_MIN_UIDS = 1000


def _split_point(conn: psycopg.Connection, spans: Sequence[Span],
                 window: Mapping[str, Any]) -> int | None:
    """The uid that splits the day's marked samples in two halves, or None if not worth it.

    Estimated from the hour marked for the widest range of devices (one hour of samples).
    """
    widest = max(spans, key=lambda s: s.uid_max - s.uid_min)
    if widest.uid_max - widest.uid_min + 1 < SPLIT_MIN_UIDS:
        return None
    row = conn.execute(
        "select percentile_disc(0.5) within group (order by device_uid) from readings "
        "where ts >= %(hour)s and ts < %(hour)s::timestamptz + interval '1 hour' "
        "and ts >= %(start)s and ts < %(end)s and device_uid between %(lo)s and %(hi)s",
        {**window, "hour": widest.hour, "lo": widest.uid_min, "hi": widest.uid_max}).fetchone()
    if row is None or row[0] is None or row[0] <= widest.uid_min:
        return None
    return int(row[0])


# Rows that create the day's rollup chunks, deleted in the transaction that inserts them.
_PLACEHOLDER_UID = -(2**31)
_CHUNKS = (
    sql.SQL("insert into readings_hourly (tenant_id, device_uid, metric, bucket, avg, min, max, "
            "count, last, computed_at) values (0, %(uid)s, '', %(start)s, 0, 0, 0, 0, 0, now()), "
            "(0, %(uid)s, '', %(end)s::timestamptz - interval '1 hour', 0, 0, 0, 0, 0, now())"),
    sql.SQL("insert into readings_daily (tenant_id, device_uid, metric, bucket, avg, min, max, "
            "count, last, computed_at) values (0, %(uid)s, '', %(start)s, 0, 0, 0, 0, 0, now())"),
    sql.SQL("delete from readings_hourly where device_uid = %(uid)s"),
    sql.SQL("delete from readings_daily where device_uid = %(uid)s"),
)


def _ensure_chunks(helper: psycopg.Connection, window: Mapping[str, Any]) -> None:
    """Creates (and commits) the chunks the day's rollups go to, if they are missing.

    A chunk created by an uncommitted transaction blocks every other transaction that writes to
    it: were the caller's transaction to create one, the helper would wait for it, and it for the
    helper. Hence the helper creates them first, in a transaction of its own.
    """
    for statement in _CHUNKS:
        helper.execute(statement, {**window, "uid": _PLACEHOLDER_UID})
    helper.commit()


def _recompute_and_commit(conn: psycopg.Connection, spans: Sequence[Span],
                          window: Mapping[str, Any], now: datetime) -> tuple[int, int, list[int]]:
    try:
        # The helper never waits for the caller's transaction (which waits for it): should it
        # ever, it gives up and the day is retried by the next run.
        conn.execute("set local lock_timeout = '60s'")
        result = _recompute(conn, spans, window, now)
        conn.commit()
        return result
    except BaseException:
        if not conn.broken:
            conn.rollback()
        raise


def _recompute(conn: psycopg.Connection, spans: Sequence[Span], window: Mapping[str, Any],
               now: datetime) -> tuple[int, int, list[int]]:
    """Recomputes the hourly rows of `spans` (merged, of one day) and the day's daily rows of
    their devices; returns (hourly rows, daily rows, ids of the following marks added)."""
    for setting in _SETTINGS:
        conn.execute(setting)
    params = {**window, "now": now, "cumulative": sorted(CUMULATIVE_METRICS),
              **_span_arrays(spans)}
    conn.execute(_PREVIOUS_TABLE)
    conn.execute(_SAVE_PREVIOUS, params)
    conn.execute(_DELETE_HOURLY, params)
    conn.execute(_RECOMPUTED_TABLE)
    hourly = 0
    for hour in sorted({s.hour for s in spans}):
        row = conn.execute(_INSERT_HOURLY, {
            **params, **_span_arrays([s for s in spans if s.hour == hour]), "hour": hour,
        }).fetchone()
        hourly += row[0] if row is not None else 0
    conn.execute("analyze rollup_recomputed")
    following = [row[0] for row in conn.execute(_MARK_FOLLOWING, params).fetchall()]
    ranges = merge_ranges(spans)
    daily_params = {**window, "now": now, "lo": [r[0] for r in ranges],
                    "hi": [r[1] for r in ranges]}
    conn.execute(_DELETE_DAILY, daily_params)
    # The planner's guess of the day's groups is far too low: it would sort every hourly row
    # of the day (on disk) where hashing them takes a third of the time.
    conn.execute("set local enable_sort = off")
    daily = conn.execute(_INSERT_DAILY, daily_params).rowcount
    conn.execute("drop table rollup_previous")
    conn.execute("drop table rollup_recomputed")
    return hourly, daily, following
