"""Scheduled jobs and their runs. Platform-wide: job state and runs hold no tenant data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from analytics.job import Job
from api.models import JobPublic, JobRunPublic

_RUN_COLUMNS = sql.SQL("id, job, started_at, finished_at, rows, status, error")


def list_jobs(conn: psycopg.Connection, *, jobs: Mapping[str, Job]) -> list[JobPublic]:
    """Every registered job with its watermark and last run, in registry order."""
    names = list(jobs)
    watermarks: dict[str, datetime | None] = dict(conn.execute(
        "select job, watermark from job_state where job = any(%s)", (names,)).fetchall())
    query = sql.SQL("select distinct on (job) {} from job_runs where job = any(%s) "
                    "order by job, started_at desc, id desc").format(_RUN_COLUMNS)
    with conn.cursor(row_factory=dict_row) as cur:
        last = {row["job"]: JobRunPublic(**row) for row in cur.execute(query, (names,))}
    return [JobPublic(name=job.name, description=job.description,
                      interval_seconds=int(job.interval.total_seconds()),
                      watermark=watermarks.get(job.name), last_run=last.get(job.name))
            for job in jobs.values()]


def list_runs(conn: psycopg.Connection, *, job: str | None,
              limit: int) -> tuple[list[JobRunPublic], int]:
    """The latest `limit` runs (of `job`, or of every job), newest first, and how many match."""
    where = sql.SQL("where job = %(job)s" if job is not None else "")
    params = {"job": job, "limit": limit}
    query = sql.SQL("select {} from job_runs {} order by started_at desc, id desc "
                    "limit %(limit)s").format(_RUN_COLUMNS, where)
    with conn.cursor(row_factory=dict_row) as cur:
        runs = [JobRunPublic(**row) for row in cur.execute(query, params)]
    row = conn.execute(sql.SQL("select count(*) from job_runs {}").format(where), params).fetchone()
    return runs, int(row[0]) if row is not None else 0
