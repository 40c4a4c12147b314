"""A device's values of one metric over a time window, raw or averaged per bucket.

Buckets of whole hours are read from the hourly rollups where the rollup job has completed
them (and Europe/Paris day buckets from the daily rollups), from raw readings elsewhere: the
first bucket when the window starts inside it, and the recent buckets the job has not reached.
Both give the same averages, aligned on the same boundaries (analytics/rollups.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from analytics.rollups import DAILY_TIMEZONE, covered_until

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# (instant, value): rows as the database returns them; the route writes them out as JSON
# without building a model per point (a 30-day hourly answer has 720 of them).
Point = tuple[datetime, float]

_RAW = (
    "select ts, value from readings "
    "where device_uid = %(uid)s and metric = %(metric)s and ts >= %(start)s and ts < %(end)s "
    "order by ts limit %(limit)s"
)
# time_bucket aligns buckets on fixed boundaries (midnight UTC for days), whatever `start` is.
_BUCKETED = (
    "select time_bucket(%(bucket)s, ts) as b, avg(value) from readings "
    "where device_uid = %(uid)s and metric = %(metric)s and ts >= %(start)s and ts < %(end)s "
    "group by b order by b limit %(limit)s"
)
# Local days: boundaries at local midnight (23 or 25 hours around daylight saving changes).
_BUCKETED_LOCAL = (
    "select time_bucket(%(bucket)s, ts, %(tz)s) as b, avg(value) from readings "
    "where device_uid = %(uid)s and metric = %(metric)s and ts >= %(start)s and ts < %(end)s "
    "group by b order by b limit %(limit)s"
)
# Raw readings in [start, a) and [s, end), rollups in [a, s); a and s are bucket boundaries, so
# every bucket comes from one part alone.
_MIXED = """
select b, sum(total) / sum(n) from (
    select {tb_ts} as b, sum(value) as total, count(*) as n from readings
    where device_uid = %(uid)s and metric = %(metric)s and ts >= %(start)s and ts < %(a)s
    group by 1
    union all
    select {tb_bucket} as b, sum(avg * count), sum(count) from {table}
    where device_uid = %(uid)s and metric = %(metric)s and bucket >= %(a)s and bucket < %(s)s
    group by 1
    union all
    select {tb_ts} as b, sum(value), count(*) from readings
    where device_uid = %(uid)s and metric = %(metric)s and ts >= %(s)s and ts < %(end)s
    group by 1
) parts
group by b order by b limit %(limit)s
"""


def local_days(bucket: timedelta | None, tz: str) -> bool:
    """Whether buckets are whole days of a time zone other than UTC."""
    return bucket is not None and tz != "UTC" and bucket >= DAY and not bucket % DAY


def _rollup_table(bucket: timedelta, tz: str) -> str | None:
    if local_days(bucket, tz):
        return "readings_daily" if tz == DAILY_TIMEZONE else None
    if bucket >= HOUR and not bucket % HOUR:
        return "readings_hourly"
    return None


def _time_bucket(column: sql.Composable, local: bool) -> sql.Composed:
    if local:
        return sql.SQL("time_bucket(%(bucket)s, {}, %(tz)s)").format(column)
    return sql.SQL("time_bucket(%(bucket)s, {})").format(column)


# time_bucket's origin for fixed-width buckets of timestamptz (a Monday, midnight UTC).
ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)


def bucket_floor(instant: datetime, bucket: timedelta) -> datetime:
    """What time_bucket(bucket, instant) answers, for a fixed-width bucket aligned on UTC."""
    return ORIGIN + (instant - ORIGIN) // bucket * bucket


def _boundaries(conn: psycopg.Connection, params: dict[str, Any], *,
                local: bool) -> tuple[datetime, datetime]:
    """(a, s): the first bucket boundary at or after `start`, the last one at or before `cut`.

    Computed here for UTC-aligned buckets (one round trip less per request: the readings
    bench), by the database for local days (their length varies with daylight saving)."""
    if not local:
        start, bucket = params["start"], params["bucket"]
        first_b = bucket_floor(start, bucket)
        return (start if first_b == start else first_b + bucket), bucket_floor(params["cut"],
                                                                               bucket)
    first = _time_bucket(sql.Placeholder("start"), local)
    # Local days last 23 to 25 hours: two hours past the next boundary is safely inside the
    # next bucket.
    after = (sql.SQL("time_bucket(%(bucket)s, {} + %(bucket)s + interval '2 hours', %(tz)s)")
             if local else sql.SQL("{} + %(bucket)s")).format(first)
    query = sql.SQL("select {first}, {after}, {cut}").format(
        first=first, after=after, cut=_time_bucket(sql.Placeholder("cut"), local))
    row = conn.execute(query, params).fetchone()
    assert row is not None
    first_b, next_b, s = row
    return (params["start"] if first_b == params["start"] else next_b), s


def read_points(
    conn: psycopg.Connection, *, device_uid: int, metric: str, start: datetime, end: datetime,
    bucket: timedelta | None, limit: int, tz: str = "UTC",
) -> tuple[list[Point], bool]:
    """Up to `limit` points in [start, end) by time, and whether more remain after them."""
    params: dict[str, Any] = {"uid": device_uid, "metric": metric, "start": start, "end": end,
                              "bucket": bucket, "limit": limit + 1, "tz": tz}
    local = local_days(bucket, tz)
    query: sql.SQL | sql.Composed = sql.SQL(_RAW)
    if bucket is not None:
        query = sql.SQL(_BUCKETED_LOCAL if local else _BUCKETED)
        table = _rollup_table(bucket, tz)
        covered = covered_until(conn, device_uid=device_uid, start=start, end=end) \
            if table is not None else None
        if table is not None and covered is not None and min(covered, end) > start:
            params["cut"] = min(covered, end)
            params["a"], params["s"] = _boundaries(conn, params, local=local)
            if params["a"] < params["s"]:
                query = sql.SQL(_MIXED).format(
                    tb_ts=_time_bucket(sql.Identifier("ts"), local),
                    tb_bucket=_time_bucket(sql.Identifier("bucket"), local),
                    table=sql.Identifier(table))
    rows: list[Point] = conn.execute(query, params).fetchall()
    return rows[:limit], len(rows) > limit


def resume_after(last: datetime, bucket: timedelta | None, tz: str = "UTC") -> datetime:
    """Where the next page starts: just past the last point's instant, or at the next bucket."""
    if bucket is None:
        return last + timedelta(microseconds=1)
    if local_days(bucket, tz):
        zone = ZoneInfo(tz)
        day = last.astimezone(zone).date() + timedelta(days=bucket.days)
        return datetime.combine(day, time(), zone).astimezone(UTC)
    return last + bucket
