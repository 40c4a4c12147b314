"""Runs the scheduled jobs: each due job once (`phare worker --once`), or forever (`phare worker`).

A job is due when it has never run or its last run started at least its interval ago
(`job_runs`, so a restarted worker does not rerun everything). Every run is recorded, ok or
failed; a failing job is logged and recorded, and the other jobs run all the same. Two workers
may run side by side: a job runs in one of them at a time (a session advisory lock per job).
Time comes from an injected clock, so tests run jobs at any instant without sleeping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import psycopg

from analytics.job import Job, JobContext
from analytics.registry import JOBS
from phare import db
from phare.errors import DatabaseUnavailable
from phare.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Between two cycles the worker sleeps until the next job is due, but at least this long (a due
# job may be held by another worker) and at most this long after a database failure.
MIN_SLEEP = timedelta(seconds=5)
RETRY_SLEEP = timedelta(seconds=30)
# Key space of the jobs' advisory locks (two-int form, apart from the migrations' lock).
_LOCK_CLASS = 7_405_114
_ERROR_CHARS = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run of a job, as recorded in `job_runs`."""

    job: str
    started_at: datetime
    finished_at: datetime
    rows: int
    status: Literal["ok", "failed"]
    error: str | None = None


def describe(exc: BaseException) -> str:
    """The error as recorded: its type and the first line of its message (no detail lines,
    which may quote rows)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:_ERROR_CHARS] if first else type(exc).__name__


class Runner:
    """Runs the jobs of `jobs` against the database of `settings`, at the instants of `clock`."""

    def __init__(self, settings: Settings, *, jobs: Mapping[str, Job] | None = None,
                 clock: Clock = utc_now, should_stop: Callable[[], bool] = lambda: False) -> None:
        self.settings = settings
        self.jobs = JOBS if jobs is None else jobs
        self.clock = clock
        self.should_stop = should_stop

    def run_due(self) -> list[RunRecord]:
        """Runs every due job once, in registry order; returns the runs (failed ones included)."""
        records, _ = self.cycle()
        return records

    def cycle(self) -> tuple[list[RunRecord], timedelta]:
        """Runs the due jobs; returns their runs and how long until the next job is due."""
        records: list[RunRecord] = []
        try:
            with db.connect(self.settings) as conn:
                for job in self._due(conn, self.clock()):
                    if self.should_stop():
                        break
                    record = self._run(conn, job)
                    if record is not None:
                        records.append(record)
                wait = self._until_next(conn, self.clock())
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"the database went away: {describe(exc)}") from exc
        return records, wait

    def run_forever(self, stop: threading.Event,
                    wait: Callable[[float], bool] | None = None) -> None:
        """Runs due jobs, sleeps until the next is due, again, until `stop` is set.

        `wait(seconds)` sleeps and returns True when stopped (default: `stop.wait`).
        """
        wait = wait or stop.wait
        while not stop.is_set():
            try:
                _, delay = self.cycle()
            except DatabaseUnavailable as exc:
                log.error("worker: %s; retrying in %d s", exc, RETRY_SLEEP.total_seconds())
                delay = RETRY_SLEEP
            if wait(max(delay, MIN_SLEEP).total_seconds()):
                break

    def _last_starts(self, conn: psycopg.Connection) -> dict[str, datetime]:
        rows = conn.execute(
            "select job, max(started_at) from job_runs where job = any(%s) group by job",
            (list(self.jobs),),
        ).fetchall()
        conn.commit()
        return {job: started for job, started in rows}

    def _due(self, conn: psycopg.Connection, now: datetime) -> list[Job]:
        last = self._last_starts(conn)
        return [job for name, job in self.jobs.items()
                if name not in last or last[name] + job.interval <= now]

    def _until_next(self, conn: psycopg.Connection, now: datetime) -> timedelta:
        last = self._last_starts(conn)
        waits = [last[name] + job.interval - now if name in last else timedelta(0)
                 for name, job in self.jobs.items()]
        return max(min(waits, default=MIN_SLEEP), timedelta(0))

    def _run(self, conn: psycopg.Connection, job: Job) -> RunRecord | None:
        """Runs one job under its lock and records the run; None if another worker holds it."""
        lock = (_LOCK_CLASS, f"{self.settings.database_schema}:{job.name}")
        row = conn.execute("select pg_try_advisory_lock(%s, hashtext(%s))", lock).fetchone()
        conn.commit()
        if row is None or not row[0]:
            log.info("job %s is running in another worker; skipped", job.name)
            return None
        try:
            record = self._execute(conn, job)
            self._record(conn, record)
            return record
        finally:
            if not conn.broken:
                conn.execute("select pg_advisory_unlock(%s, hashtext(%s))", lock)
                conn.commit()

    def _execute(self, conn: psycopg.Connection, job: Job) -> RunRecord:
        started = self.clock()
        job_log = logging.getLogger(f"analytics.jobs.{job.name}")
        context = JobContext(conn=conn, settings=self.settings, now=started, log=job_log,
                             should_stop=self.should_stop)
        log.info("job %s: started", job.name)
        try:
            rows = job.function(context)
            conn.commit()
        except Exception as exc:  # any job's failure is recorded; the other jobs still run
            log.error("job %s failed: %s", job.name, describe(exc), exc_info=exc)
            if not conn.broken:
                conn.rollback()
            return RunRecord(job.name, started, self.clock(), 0, "failed", describe(exc))
        finished = self.clock()
        log.info("job %s: ok, %d rows", job.name, rows)
        return RunRecord(job.name, started, finished, rows, "ok")

    def _record(self, conn: psycopg.Connection, record: RunRecord) -> None:
        try:
            conn.execute(
                "insert into job_runs (job, started_at, finished_at, rows, status, error) "
                "values (%s, %s, %s, %s, %s, %s)",
                (record.job, record.started_at, record.finished_at, record.rows, record.status,
                 record.error),
            )
            conn.commit()
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot record the run of job {record.job}: {exc}") from exc
