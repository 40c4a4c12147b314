"""The retention job (analytics/jobs/retention.py): old raw chunks go, once rolled up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics.job import read_watermark
from analytics.jobs import retention
from analytics.rollups import RETENTION_JOB, ROLLUPS_JOB
from phare.settings import Settings
from tests.analytics.conftest import Jobs, insert

DAYS = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 6)]   # one raw chunk each
NOW = datetime(2026, 1, 6, 6, 0, tzinfo=UTC)
# Kept for 2 days: raw older than 2026-01-04 06:00 may go, i.e. the chunks of Jan 1st to 3rd.
KEPT_DAYS = 2


def chunk_days(conn: psycopg.Connection) -> list[datetime]:
    rows = conn.execute(
        "select range_start from timescaledb_information.chunks "
        "where format('%I.%I', hypertable_schema, hypertable_name)::regclass "
        "= 'readings'::regclass order by range_start").fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def short_jobs(job_settings: Settings) -> Jobs:
    return Jobs(job_settings.model_copy(update={"retention_raw_days": KEPT_DAYS}))


@pytest.fixture
def five_days(job_conn: psycopg.Connection, device: int) -> int:
    for day in DAYS:
        insert(job_conn, device, "energy_kwh", [(day + timedelta(hours=12), day.day * 10.0)])
    assert chunk_days(job_conn) == DAYS
    return device


def test_drops_only_old_chunks_once_rolled_up(job_conn: psycopg.Connection, five_days: int,
                                              short_jobs: Jobs) -> None:
    assert short_jobs.run("retention", NOW) == 0, "never rolled up: nothing may go"
    assert chunk_days(job_conn) == DAYS

    short_jobs.run("rollups", NOW)
    assert short_jobs.run("retention", NOW) == 3
    assert chunk_days(job_conn) == DAYS[3:]
    assert read_watermark(job_conn, RETENTION_JOB) == DAYS[3]
    # The rollups of the dropped days stay.
    hourly = job_conn.execute("select bucket, last, delta from readings_hourly "
                              "where device_uid = %s order by bucket", (five_days,)).fetchall()
    assert [(b.day, last) for b, last, _ in hourly] == [(d.day, d.day * 10.0) for d in DAYS]
    assert job_conn.execute("select count(*) from readings_daily").fetchone() == (5,)
    assert short_jobs.run("retention", NOW) == 0  # idempotent


def test_keeps_what_the_rollups_have_not_reached(job_conn: psycopg.Connection, five_days: int,
                                                 short_jobs: Jobs) -> None:
    short_jobs.run("rollups", DAYS[1] + timedelta(hours=18))  # watermark: Jan 2nd, 17:00
    assert read_watermark(job_conn, ROLLUPS_JOB) == DAYS[1] + timedelta(hours=17)
    assert short_jobs.run("retention", NOW) == 1
    assert chunk_days(job_conn) == DAYS[1:]


def test_keeps_days_with_late_data_waiting_for_the_rollups(
        job_conn: psycopg.Connection, five_days: int, short_jobs: Jobs) -> None:
    short_jobs.run("rollups", NOW)
    insert(job_conn, five_days, "energy_kwh", [(DAYS[1] + timedelta(hours=15), 25.0)])
    assert short_jobs.run("retention", NOW) == 1
    assert chunk_days(job_conn) == DAYS[1:]

    short_jobs.run("rollups", NOW + timedelta(minutes=5))
    assert short_jobs.run("retention", NOW + timedelta(minutes=5)) == 2
    assert chunk_days(job_conn) == DAYS[3:]
    # The late row was rolled up before its day went.
    row = job_conn.execute("select last from readings_hourly where device_uid = %s "
                           "and bucket = %s", (five_days, DAYS[1] + timedelta(hours=15)))
    assert row.fetchone() == (25.0,)


def test_late_data_arriving_during_the_drop_keeps_the_chunk(
        job_conn: psycopg.Connection, five_days: int, short_jobs: Jobs,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The mark of a row committed while retention decided is seen after the drop, which is
    then undone. (The race is simulated: the pending mark is hidden from the first check.)"""
    short_jobs.run("rollups", NOW)
    insert(job_conn, five_days, "energy_kwh", [(DAYS[0] + timedelta(hours=15), 15.0)])
    monkeypatch.setattr(retention, "rolled_up_before", lambda conn: NOW - timedelta(hours=1))
    assert short_jobs.run("retention", NOW) == 0
    assert chunk_days(job_conn) == DAYS
    assert read_watermark(job_conn, RETENTION_JOB) is None
