"""Fixtures of the analytics tests: a database schema of each test's own, devices, a clock.

Job state (watermarks, the dirty log, job runs) and rollups are platform-wide, not per tenant,
so each test gets a freshly migrated schema of its own rather than only a tenant.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import pytest

from analytics.job import JobContext
from analytics.jobs import retention, rollups
from analytics.rollups import mark_dirty
from phare import db
from phare.settings import Settings
from phare.tenancy import add_tenant
from tests.conftest import TEST_DATABASE_URL, register_device


@pytest.fixture
def job_settings(settings: Settings) -> Iterator[Settings]:
    """The session's settings on a schema of this test alone, migrated."""
    schema = f"{settings.database_schema}_{uuid.uuid4().hex[:8]}"
    isolated = settings.model_copy(update={"database_schema": schema})
    db.migrate(isolated)
    yield isolated
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture
def job_conn(job_settings: Settings) -> Iterator[psycopg.Connection]:
    with db.connect(job_settings, autocommit=True) as c:
        yield c


@pytest.fixture
def tenant_slug(job_conn: psycopg.Connection) -> str:
    slug = f"t{uuid.uuid4().hex[:10]}"
    add_tenant(job_conn, slug, f"Commune de test {slug}")
    return slug


@pytest.fixture
def device(job_conn: psycopg.Connection, tenant_slug: str) -> int:
    """A lighting cabinet (power_w, energy_kwh cumulative, ...); its uid."""
    return register_device(job_conn, tenant_slug, "armoire-1")


def insert(conn: psycopg.Connection, uid: int, metric: str,
           points: Iterable[tuple[datetime, float]], *, mark: bool = True) -> None:
    """Stores readings in one transaction, and marks them as `ingest/writer.py` does with its
    batches (`mark=False`: rows written by hand, which nobody marks)."""
    tenant_id = conn.execute("select tenant_id from devices where uid = %s", (uid,)).fetchone()
    assert tenant_id is not None
    rows = [(ts, tenant_id[0], uid, metric, value) for ts, value in points]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("insert into readings (ts, tenant_id, device_uid, metric, value) "
                        "values (%s, %s, %s, %s, %s)", rows)
        if mark:
            mark_dirty(conn, rows)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Jobs:
    """Runs the real jobs directly, at a given instant."""

    settings: Settings

    def run(self, job: str, now: datetime, *, stop_after_days: int | None = None) -> int:
        checks = {"n": 0}

        def should_stop() -> bool:
            checks["n"] += 1
            return stop_after_days is not None and checks["n"] > stop_after_days

        function = {"rollups": rollups.run, "retention": retention.run}[job]
        with db.connect(self.settings) as conn:
            return function(JobContext(conn=conn, settings=self.settings, now=now,
                                       log=logging.getLogger(f"analytics.jobs.{job}"),
                                       should_stop=should_stop))


@pytest.fixture
def jobs(job_settings: Settings) -> Jobs:
    return Jobs(job_settings)
