"""What a scheduled job is, what it is given to run, and where it keeps its watermark."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from phare.settings import Settings


@dataclass(frozen=True, slots=True)
class JobContext:
    """Everything one run of a job may use.

    `conn` is not in autocommit: a job commits its own transactions, one per chunk of work,
    so that an interrupted or failed run keeps what it finished. `now` is the run's instant,
    from the worker's injected clock: jobs never read the wall clock themselves.
    """

    conn: psycopg.Connection
    settings: Settings
    now: datetime
    log: logging.Logger
    should_stop: Callable[[], bool] = lambda: False  # the worker was asked to stop: return soon


# A job's body: does the work due at `ctx.now`, returns how many rows it wrote or dropped.
JobFunction = Callable[[JobContext], int]


@dataclass(frozen=True, slots=True)
class Job:
    """A registered job: run `function` every `interval`."""

    name: str
    interval: timedelta
    function: JobFunction
    description: str


def read_watermark(conn: psycopg.Connection, job: str) -> datetime | None:
    """The job's watermark, or None before its first run."""
    row = conn.execute("select watermark from job_state where job = %s", (job,)).fetchone()
    return None if row is None else row[0]


def write_watermark(conn: psycopg.Connection, job: str, watermark: datetime, *,
                    now: datetime) -> None:
    """Stores the job's watermark (in the caller's transaction)."""
    conn.execute(
        "insert into job_state (job, watermark, updated_at) values (%s, %s, %s) "
        "on conflict (job) do update set watermark = excluded.watermark, "
        "updated_at = excluded.updated_at",
        (job, watermark, now),
    )
