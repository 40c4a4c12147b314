"""`GET /jobs` and `GET /jobs/runs`: the scheduled jobs of `phare worker` and their runs.

Readable by any authenticated key, whatever its tenant: jobs are platform-wide and their state
and runs contain no tenant data (names, instants, counts, the first line of an error).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from analytics.registry import JOBS
from api.deps import Conn, CurrentPrincipal
from api.models import JobRunsPublic, JobsPublic
from api.queries.jobs import list_jobs, list_runs

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("")
def read_jobs(conn: Conn, principal: CurrentPrincipal) -> JobsPublic:
    """Every scheduled job: its interval, its watermark and its last run."""
    jobs = list_jobs(conn, jobs=JOBS)
    return JobsPublic(data=jobs, count=len(jobs))


@router.get("/runs")
def read_job_runs(
    conn: Conn,
    principal: CurrentPrincipal,
    job: Annotated[str | None, Query(description="only this job's runs, e.g. rollups")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JobRunsPublic:
    """The latest runs, newest first; `count` is how many runs match in all."""
    runs, total = list_runs(conn, job=job, limit=limit)
    return JobRunsPublic(data=runs, count=total)
