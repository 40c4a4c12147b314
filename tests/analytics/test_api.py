"""What the API shows of the jobs: `GET /jobs`, `GET /jobs/runs`, and bucketed readings served
from the rollups (api/routes/jobs.py, api/queries/readings.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from analytics.job import Job
from analytics.registry import JOBS
from analytics.runner import Runner
from api.main import create_app
from phare.settings import Settings
from phare.tenancy import create_api_key
from tests.analytics.conftest import Clock, Jobs, insert

T0 = datetime(2026, 3, 2, tzinfo=UTC)   # Paris days start at 23:00 UTC (winter time)
DAYS = 8
LATER = T0 + timedelta(days=DAYS + 1)
ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)  # time_bucket's origin
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def api(job_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(job_settings)) as client:
        yield client


@pytest.fixture
def key(job_conn: psycopg.Connection, tenant_slug: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(job_conn, tenant_slug, 'viewer')}"}


# --- jobs ---------------------------------------------------------------------------------
def test_jobs_need_a_key(api: TestClient) -> None:
    assert api.get("/api/v1/jobs").status_code == 401
    assert api.get("/api/v1/jobs/runs").status_code == 401


def test_jobs_show_their_interval_watermark_and_last_run(api: TestClient, key: dict[str, str],
                                                         job_settings: Settings,
                                                         job_conn: psycopg.Connection,
                                                         device: int) -> None:
    body = api.get("/api/v1/jobs", headers=key).json()
    assert body["count"] == len(JOBS)
    assert [j["name"] for j in body["data"]] == list(JOBS)
    rollups = next(j for j in body["data"] if j["name"] == "rollups")
    assert rollups["interval_seconds"] == 600 and rollups["description"]
    assert rollups["watermark"] is None and rollups["last_run"] is None

    insert(job_conn, device, "power_w", [(T0, 1.0)])
    now = T0 + timedelta(hours=5, minutes=30)
    Runner(job_settings, jobs={"rollups": JOBS["rollups"]}, clock=Clock(now)).run_due()
    body = api.get("/api/v1/jobs", headers=key).json()
    rollups = next(j for j in body["data"] if j["name"] == "rollups")
    assert rollups["watermark"] == "2026-03-02T05:00:00Z"
    assert rollups["last_run"]["status"] == "ok"
    assert rollups["last_run"]["started_at"] == "2026-03-02T05:30:00Z"
    assert rollups["last_run"]["rows"] == 2  # one hourly row, one daily row


def test_job_runs_newest_first_by_job_with_a_limit(api: TestClient, key: dict[str, str],
                                                   job_settings: Settings) -> None:
    boom = Job("boom", timedelta(minutes=5), lambda ctx: 1 // 0, "fails")
    jobs = {"rollups": JOBS["rollups"], "retention": JOBS["retention"], "boom": boom}
    clock = Clock(T0)
    for _ in range(3):
        Runner(job_settings, jobs=jobs, clock=clock).run_due()
        clock.advance(timedelta(hours=2))
    body = api.get("/api/v1/jobs/runs", headers=key).json()
    assert body["count"] == 9 and len(body["data"]) == 9
    assert body["data"][0]["started_at"] == "2026-03-02T04:00:00Z"
    assert body["data"][-1]["started_at"] == "2026-03-02T00:00:00Z"
    only = api.get("/api/v1/jobs/runs", params={"job": "boom", "limit": 2}, headers=key).json()
    assert only["count"] == 3
    assert [(r["job"], r["status"], r["error"]) for r in only["data"]] == \
        [("boom", "failed", "ZeroDivisionError: integer division or modulo by zero")] * 2
    assert api.get("/api/v1/jobs/runs", params={"limit": 0}, headers=key).status_code == 422


# --- readings from rollups ----------------------------------------------------------------
def power(i: int) -> float:
    return float((i * 37) % 101)


@pytest.fixture
def series(job_conn: psycopg.Connection, device: int) -> list[tuple[datetime, float]]:
    """Eight days of power_w every 10 minutes."""
    points = [(T0 + timedelta(minutes=10 * i), power(i)) for i in range(DAYS * 144)]
    insert(job_conn, device, "power_w", points)
    return points


def z(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def get(api: TestClient, key: dict[str, str], tenant: str, **params: Any) -> list[tuple[str, float]]:
    """Every point of a query, following `next`."""
    url: str | None = f"/api/v1/devices/{tenant}/armoire-1/readings"
    query: dict[str, Any] | None = {"metric": "power_w", **params}
    points: list[tuple[str, float]] = []
    while url is not None:
        r = api.get(url, params=query, headers=key)
        assert r.status_code == 200, r.text
        points += [(p["ts"], p["value"]) for p in r.json()["data"]]
        url, query = r.json()["next"], None
    return points


def same(points: list[tuple[str, float]]) -> list[tuple[str, Any]]:
    """`points`, with values compared to the float rounding (sums in another order)."""
    return [(ts, pytest.approx(value)) for ts, value in points]


def expected(points: list[tuple[datetime, float]], start: datetime, end: datetime,
             bucket: timedelta, local: bool = False) -> list[tuple[str, Any]]:
    """Averages per bucket, computed in Python: buckets from time_bucket's origin, or local days."""
    sums: dict[datetime, list[float]] = {}
    for ts, value in points:
        if start <= ts < end:
            if local:
                day = ts.astimezone(PARIS).date()
                b = datetime.combine(day, time(), PARIS).astimezone(UTC)
            else:
                b = ORIGIN + (ts - ORIGIN) // bucket * bucket
            sums.setdefault(b, []).append(value)
    return [(z(b), pytest.approx(sum(v) / len(v))) for b, v in sorted(sums.items())]


QUERIES = [
    pytest.param({"bucket": "1h"}, id="1h"),
    pytest.param({"bucket": "3h"}, id="3h"),
    pytest.param({"bucket": "1d"}, id="1d-utc"),
    pytest.param({"bucket": "1d", "tz": "Europe/Paris"}, id="1d-paris"),
    pytest.param({"bucket": "2d", "tz": "Europe/Paris"}, id="2d-paris"),
    pytest.param({"bucket": "1h", "limit": 7}, id="1h-pages"),
]
WINDOWS = [
    pytest.param((T0, T0 + timedelta(days=DAYS)), id="aligned"),
    pytest.param((T0 + timedelta(minutes=25), T0 + timedelta(days=DAYS, hours=-3, minutes=-5)),
                 id="unaligned"),
]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("query", QUERIES)
def test_bucketed_readings_from_rollups_equal_the_same_query_from_raw(
        api: TestClient, key: dict[str, str], tenant_slug: str, job_conn: psycopg.Connection,
        device: int, series: list[tuple[datetime, float]], jobs: Jobs,
        query: dict[str, Any], window: tuple[datetime, datetime]) -> None:
    params = {**query, "from": z(window[0]), "to": z(window[1])}
    from_raw = get(api, key, tenant_slug, **params)
    assert len(from_raw) > 3

    jobs.run("rollups", LATER)
    assert get(api, key, tenant_slug, **params) == same(from_raw)
    # Raw readings gone from the middle of the window: the answer is the rollups'.
    job_conn.execute("delete from readings where device_uid = %s and ts >= %s and ts < %s",
                     (device, T0 + timedelta(days=3), T0 + timedelta(days=4)))
    assert get(api, key, tenant_slug, **params) == same(from_raw)


def test_buckets_under_an_hour_are_always_raw(api: TestClient, key: dict[str, str],
                                              tenant_slug: str, job_conn: psycopg.Connection,
                                              device: int, series: list[tuple[datetime, float]],
                                              jobs: Jobs) -> None:
    jobs.run("rollups", LATER)
    job_conn.execute("delete from readings where device_uid = %s and ts < %s",
                     (device, T0 + timedelta(hours=1)))
    points = get(api, key, tenant_slug, bucket="30m", **{"from": z(T0), "to": z(T0 + timedelta(hours=2))})
    assert [ts for ts, _ in points] == ["2026-03-02T01:00:00Z", "2026-03-02T01:30:00Z"]


def test_paris_days_start_at_local_midnight(api: TestClient, key: dict[str, str],
                                            tenant_slug: str, job_conn: psycopg.Connection,
                                            series: list[tuple[datetime, float]],
                                            jobs: Jobs) -> None:
    window = {"from": z(T0), "to": z(T0 + timedelta(days=DAYS))}
    for run in (False, True):
        if run:
            jobs.run("rollups", LATER)
        points = get(api, key, tenant_slug, bucket="1d", tz="Europe/Paris", **window)
        assert points == expected(series, T0, T0 + timedelta(days=DAYS), timedelta(days=1),
                                  local=True)
        assert points[1][0] == "2026-03-02T23:00:00Z"
    # Whole local days are the daily rollups' own buckets: they answer without the hourly ones
    # (the window starts and ends inside a local day: those two come from raw readings).
    job_conn.execute("delete from readings_hourly")
    job_conn.execute("delete from readings")
    assert get(api, key, tenant_slug, bucket="1d", tz="Europe/Paris", **window) == points[1:-1]


def test_recent_and_late_data_not_yet_rolled_up_are_read_raw(
        api: TestClient, key: dict[str, str], tenant_slug: str, job_conn: psycopg.Connection,
        device: int, series: list[tuple[datetime, float]], jobs: Jobs) -> None:
    jobs.run("rollups", T0 + timedelta(days=5, minutes=20))   # rollups up to day 5, 00:00
    late = [(T0 + timedelta(days=2, hours=7, minutes=5), 5000.0)]
    insert(job_conn, device, "power_w", late)                  # marked, not rolled up yet
    everything = series + late
    end = T0 + timedelta(days=DAYS)
    for bucket, width in (("1h", timedelta(hours=1)), ("1d", timedelta(days=1))):
        points = get(api, key, tenant_slug, bucket=bucket, **{"from": z(T0), "to": z(end)})
        assert points == expected(everything, T0, end, width)


def test_rollups_answer_for_days_whose_raw_readings_were_dropped(
        api: TestClient, key: dict[str, str], tenant_slug: str, job_conn: psycopg.Connection,
        job_settings: Settings, series: list[tuple[datetime, float]]) -> None:
    window = {"from": z(T0), "to": z(T0 + timedelta(days=DAYS))}
    from_raw = get(api, key, tenant_slug, bucket="1d", **window)
    jobs = Jobs(job_settings.model_copy(update={"retention_raw_days": 5}))
    jobs.run("rollups", LATER)
    assert jobs.run("retention", LATER) == 4
    assert job_conn.execute("select min(ts) from readings").fetchone() == \
        (T0 + timedelta(days=4),)
    assert get(api, key, tenant_slug, bucket="1d", **window) == same(from_raw)
