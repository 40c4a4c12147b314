"""The job runner (analytics/runner.py): due jobs, recorded runs, failures, the worker loop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics.job import Job, JobContext
from analytics.registry import JOBS
from analytics.runner import MIN_SLEEP, Runner
from phare import db
from phare.settings import Settings
from tests.analytics.conftest import Clock, insert

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def returning(rows: int, name: str = "count", every: timedelta = timedelta(minutes=10)) -> Job:
    return Job(name, every, lambda ctx: rows, f"returns {rows}")


def failing(ctx: JobContext) -> int:
    raise RuntimeError("the detector is broken\nDETAIL: a line that may quote a row")


def runs(conn: psycopg.Connection) -> list[tuple[str, str, int, str | None]]:
    return conn.execute("select job, status, rows, error from job_runs order by id").fetchall()


def test_runs_are_recorded_and_a_failing_job_does_not_stop_the_others(
        job_settings: Settings, job_conn: psycopg.Connection) -> None:
    jobs = {"boom": Job("boom", timedelta(hours=1), failing, "fails"), "count": returning(7)}
    records = Runner(job_settings, jobs=jobs, clock=Clock(NOW)).run_due()
    assert [(r.job, r.status, r.rows) for r in records] == [("boom", "failed", 0),
                                                           ("count", "ok", 7)]
    assert runs(job_conn) == [
        ("boom", "failed", 0, "RuntimeError: the detector is broken"),
        ("count", "ok", 7, None)]
    started = job_conn.execute("select started_at, finished_at from job_runs").fetchall()
    assert started == [(NOW, NOW), (NOW, NOW)]


def test_a_failed_job_keeps_nothing_of_its_transaction(job_settings: Settings,
                                                       job_conn: psycopg.Connection) -> None:
    def half_done(ctx: JobContext) -> int:
        ctx.conn.execute("insert into job_state (job, watermark, updated_at) "
                         "values ('half', %s, %s)", (ctx.now, ctx.now))
        raise ValueError("halfway")

    Runner(job_settings, jobs={"half": Job("half", timedelta(hours=1), half_done, "")},
           clock=Clock(NOW)).run_due()
    assert job_conn.execute("select count(*) from job_state").fetchone() == (0,)
    assert runs(job_conn) == [("half", "failed", 0, "ValueError: halfway")]


def test_a_job_runs_again_once_its_interval_has_passed(job_settings: Settings,
                                                       job_conn: psycopg.Connection) -> None:
    clock = Clock(NOW)
    runner = Runner(job_settings, jobs={"count": returning(1)}, clock=clock)
    assert len(runner.run_due()) == 1
    clock.advance(timedelta(minutes=9))
    assert runner.run_due() == []
    clock.advance(timedelta(minutes=1))
    assert len(runner.run_due()) == 1
    # A new worker (a restart) knows from the database that the job just ran.
    assert Runner(job_settings, jobs={"count": returning(1)}, clock=clock).run_due() == []


def test_the_loop_sleeps_until_the_next_job_is_due_and_stops_when_told(
        job_settings: Settings, job_conn: psycopg.Connection) -> None:
    """The wait is faked: it moves the clock instead of sleeping."""
    clock = Clock(NOW)
    jobs = {"often": returning(1, "often", timedelta(minutes=10)),
            "rarely": returning(2, "rarely", timedelta(hours=1))}
    stop = threading.Event()
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.advance(timedelta(seconds=seconds))
        if len(waits) == 7:
            stop.set()
        return stop.is_set()

    Runner(job_settings, jobs=jobs, clock=clock).run_forever(stop, wait)
    assert waits == [600.0] * 7
    # Cycles at 0, 10, ... 60 minutes; the hourly job at 0 and 60.
    assert [job for job, *_ in runs(job_conn)] == \
        ["often", "rarely"] + ["often"] * 5 + ["often", "rarely"]


def test_the_loop_never_spins(job_settings: Settings) -> None:
    """A due job held by another worker: the loop waits a little rather than retrying at once."""
    stop = threading.Event()
    waits: list[float] = []
    held = {"held": Job("held", timedelta(minutes=10), lambda ctx: 0, "")}
    with db.connect(job_settings, autocommit=True) as other:
        other.execute("select pg_advisory_lock(7405114, hashtext(%s))",
                      (f"{job_settings.database_schema}:held",))

        def wait(seconds: float) -> bool:
            waits.append(seconds)
            stop.set()
            return True

        Runner(job_settings, jobs=held, clock=Clock(NOW)).run_forever(stop, wait)
    assert waits == [MIN_SLEEP.total_seconds()]


def test_a_job_running_in_another_worker_is_skipped(job_settings: Settings,
                                                    job_conn: psycopg.Connection) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(ctx: JobContext) -> int:
        started.set()
        assert release.wait(10)
        return 1

    jobs = {"slow": Job("slow", timedelta(minutes=10), slow, "")}
    first = threading.Thread(target=Runner(job_settings, jobs=jobs, clock=Clock(NOW)).run_due)
    first.start()
    try:
        assert started.wait(10)
        assert Runner(job_settings, jobs=jobs, clock=Clock(NOW)).run_due() == []
    finally:
        release.set()
        first.join(10)
    assert runs(job_conn) == [("slow", "ok", 1, None)]


def test_a_stop_request_ends_the_rollup_run_between_days(
        job_settings: Settings, job_conn: psycopg.Connection, device: int) -> None:
    insert(job_conn, device, "power_w", [(NOW - timedelta(days=d), 1.0) for d in range(3)])
    asked = {"n": 0}

    def should_stop() -> bool:
        asked["n"] += 1
        return asked["n"] > 2  # once by the runner, once per day by the job

    records = Runner(job_settings, jobs={"rollups": JOBS["rollups"]}, clock=Clock(NOW),
                     should_stop=should_stop).run_due()
    assert [(r.job, r.status) for r in records] == [("rollups", "ok")]
    days = job_conn.execute("select count(*) from readings_daily").fetchone()
    assert days == (1,)


def test_the_registry_runs_rollups_before_retention() -> None:
    names = list(JOBS)
    assert names.index("rollups") < names.index("retention")
    assert all(job.interval >= timedelta(minutes=1) and job.description
               for job in JOBS.values())


@pytest.mark.parametrize("name", list(JOBS))
def test_every_registered_job_runs_on_an_empty_database(job_settings: Settings,
                                                        job_conn: psycopg.Connection,
                                                        name: str) -> None:
    records = Runner(job_settings, jobs={name: JOBS[name]}, clock=Clock(NOW)).run_due()
    assert [(r.job, r.status, r.error) for r in records] == [(name, "ok", None)]
