"""A device's values of one metric over a time window, raw or averaged per bucket."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from api.models import ReadingPoint

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


def read_points(
    conn: psycopg.Connection, *, device_uid: int, metric: str, start: datetime, end: datetime,
    bucket: timedelta | None, limit: int,
) -> tuple[list[ReadingPoint], bool]:
    """Up to `limit` points in [start, end) by time, and whether more remain after them."""
    params = {"uid": device_uid, "metric": metric, "start": start, "end": end,
              "bucket": bucket, "limit": limit + 1}
    rows = conn.execute(_RAW if bucket is None else _BUCKETED, params).fetchall()
    points = [ReadingPoint(ts=ts, value=value) for ts, value in rows[:limit]]
    return points, len(rows) > limit


def resume_after(last: ReadingPoint, bucket: timedelta | None) -> datetime:
    """Where the next page starts: just past the last point, or at the next bucket."""
    return last.ts + (bucket if bucket is not None else timedelta(microseconds=1))
