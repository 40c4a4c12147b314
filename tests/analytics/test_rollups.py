"""The rollup job (analytics/jobs/rollups.py, analytics/rollups.py) on a real TimescaleDB."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from analytics.job import read_watermark, write_watermark
from analytics.rollups import (
    CUMULATIVE_METRICS,
    MAX_UID,
    RETENTION_JOB,
    ROLLUPS_JOB,
    Span,
    covered_until,
    mark_dirty,
    merge_ranges,
    merge_spans,
    paris_day,
)
from devices.catalogue import KINDS
from tests.analytics.conftest import Jobs, insert
from tests.conftest import register_device

# A Monday in winter: Paris is UTC+1, its day 2026-03-02 is [03-01 23:00Z, 03-02 23:00Z).
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)  # when the job runs, well after the data


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def hourly(conn: psycopg.Connection, uid: int, metric: str) -> dict[datetime, dict[str, Any]]:
    return _rows(conn, "readings_hourly", uid, metric)


def daily(conn: psycopg.Connection, uid: int, metric: str) -> dict[datetime, dict[str, Any]]:
    return _rows(conn, "readings_daily", uid, metric)


def _rows(conn: psycopg.Connection, table: str, uid: int,
          metric: str) -> dict[datetime, dict[str, Any]]:
    columns = ("avg", "min", "max", "count", "last", "delta", "computed_at")
    query = f"select bucket, {', '.join(columns)} from {table} "  # noqa: S608 (test constants)
    rows = conn.execute(query + "where device_uid = %s and metric = %s order by bucket",
                        (uid, metric)).fetchall()
    return {row[0]: dict(zip(columns, row[1:], strict=True)) for row in rows}


def values(row: dict[str, Any]) -> dict[str, Any]:
    """A rollup row without its computation time."""
    return {k: v for k, v in row.items() if k != "computed_at"}


def test_hourly_rollup_matches_a_hand_computation(job_conn: psycopg.Connection, device: int,
                                                  jobs: Jobs) -> None:
    insert(job_conn, device, "power_w", [(at(0), 100.0), (at(1 / 3), 300.0), (at(2 / 3), 200.0),
                                         (at(1 + 50 / 60), 50.0)])
    jobs.run("rollups", LATER)
    rows = hourly(job_conn, device, "power_w")
    assert list(rows) == [at(0), at(1)]
    assert values(rows[at(0)]) == {"avg": pytest.approx(200.0), "min": 100.0, "max": 300.0,
                                   "count": 3, "last": 200.0, "delta": None}
    assert values(rows[at(1)]) == {"avg": 50.0, "min": 50.0, "max": 50.0, "count": 1,
                                   "last": 50.0, "delta": None}
    assert rows[at(0)]["computed_at"] == LATER


def test_cumulative_delta_counts_a_reset_from_zero_and_a_gap_in_the_later_bucket(
        job_conn: psycopg.Connection, device: int, jobs: Jobs) -> None:
    insert(job_conn, device, "energy_kwh", [
        (at(0), 100.0), (at(0.5), 110.0),      # 10:00: first sample, then +10        -> 10
        (at(1), 115.0), (at(1.5), 3.0),        # 11:00: +5, reset to 3 (counts 3)
        (at(1.75), 8.0),                       #        +5                            -> 13
        (at(4.25), 20.0),                      # 14:15 after a gap: +12, all in 14:00 -> 12
    ])
    jobs.run("rollups", LATER)
    rows = hourly(job_conn, device, "energy_kwh")
    assert list(rows) == [at(0), at(1), at(4)]
    assert [rows[h]["delta"] for h in rows] == [pytest.approx(10), pytest.approx(13),
                                                pytest.approx(12)]
    assert [rows[h]["last"] for h in rows] == [110.0, 8.0, 20.0]
    day = daily(job_conn, device, "energy_kwh")
    assert list(day) == [datetime(2026, 3, 1, 23, tzinfo=UTC)]  # Paris midnight, UTC+1
    assert values(day[datetime(2026, 3, 1, 23, tzinfo=UTC)]) == {
        "avg": pytest.approx((100 + 110 + 115 + 3 + 8 + 20) / 6), "min": 3.0, "max": 115.0,
        "count": 6, "last": 20.0, "delta": pytest.approx(35)}


def test_a_bucket_steps_from_the_last_sample_before_it(job_conn: psycopg.Connection,
                                                       device: int, jobs: Jobs) -> None:
    """The first sample of an hour counts from the previous hour's last sample, even a day back."""
    insert(job_conn, device, "energy_kwh", [(at(0), 100.0), (at(25.5), 130.0), (at(25.75), 131.0)])
    jobs.run("rollups", LATER)
    rows = hourly(job_conn, device, "energy_kwh")
    assert rows[at(0)]["delta"] == 0
    assert rows[at(25)]["delta"] == pytest.approx(31)


def test_daily_rollups_follow_europe_paris_days(job_conn: psycopg.Connection, device: int,
                                                jobs: Jobs) -> None:
    winter = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)   # 23:30 in Paris (UTC+1)
    summer = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)   # 23:30 in Paris (UTC+2)
    insert(job_conn, device, "power_w", [(winter, 1.0), (winter + timedelta(hours=1), 2.0),
                                         (summer, 3.0), (summer + timedelta(hours=1), 4.0)])
    jobs.run("rollups", datetime(2026, 7, 3, tzinfo=UTC))
    day = daily(job_conn, device, "power_w")
    assert {b: r["avg"] for b, r in day.items()} == {
        datetime(2026, 3, 1, 23, tzinfo=UTC): 1.0, datetime(2026, 3, 2, 23, tzinfo=UTC): 2.0,
        datetime(2026, 6, 30, 22, tzinfo=UTC): 3.0, datetime(2026, 7, 1, 22, tzinfo=UTC): 4.0}


def test_late_row_recomputes_its_bucket_and_leaves_the_others_untouched(
        job_conn: psycopg.Connection, device: int, jobs: Jobs) -> None:
    insert(job_conn, device, "power_w", [(at(h), 10.0 * (h + 1)) for h in range(5)])
    jobs.run("rollups", LATER)
    before = hourly(job_conn, device, "power_w")
    day = paris_day(T0)[0]
    assert daily(job_conn, device, "power_w")[day]["count"] == 5

    insert(job_conn, device, "power_w", [(at(1.5), 1000.0)])  # late, in the 11:00 bucket
    second = LATER + timedelta(hours=1)
    jobs.run("rollups", second)
    after = hourly(job_conn, device, "power_w")
    assert values(after[at(1)]) == {"avg": pytest.approx(510.0), "min": 20.0, "max": 1000.0,
                                    "count": 2, "last": 1000.0, "delta": None}
    assert after[at(1)]["computed_at"] == second
    assert {b: r for b, r in after.items() if b != at(1)} == \
        {b: r for b, r in before.items() if b != at(1)}  # computed_at included: not recomputed
    assert daily(job_conn, device, "power_w")[day]["count"] == 6
    assert daily(job_conn, device, "power_w")[day]["max"] == 1000.0


def test_late_row_between_two_buckets_moves_consumption_to_its_own(
        job_conn: psycopg.Connection, device: int, jobs: Jobs) -> None:
    """The next bucket of the series steps from the late row: it is recomputed as well."""
    insert(job_conn, device, "energy_kwh", [(at(0), 90.0), (at(0.8), 100.0), (at(2.2), 110.0),
                                            (at(3.5), 111.0)])
    jobs.run("rollups", LATER)
    assert hourly(job_conn, device, "energy_kwh")[at(2)]["delta"] == pytest.approx(10)
    before = hourly(job_conn, device, "energy_kwh")

    insert(job_conn, device, "energy_kwh", [(at(1.5), 104.0)])  # late, in an empty hour
    jobs.run("rollups", LATER + timedelta(hours=1))
    after = hourly(job_conn, device, "energy_kwh")
    assert after[at(1)]["delta"] == pytest.approx(4)
    assert after[at(2)]["delta"] == pytest.approx(6)
    assert after[at(0)] == before[at(0)] and after[at(3)] == before[at(3)]
    assert sum(r["delta"] for r in after.values()) == pytest.approx(21)


def test_running_twice_changes_nothing(job_conn: psycopg.Connection, device: int,
                                       jobs: Jobs) -> None:
    insert(job_conn, device, "power_w", [(at(h / 4), float(h)) for h in range(20)])
    insert(job_conn, device, "energy_kwh", [(at(h / 4), 5.0 * h) for h in range(20)])
    assert jobs.run("rollups", LATER) > 0
    snapshot = [hourly(job_conn, device, m) | daily(job_conn, device, m)
                for m in ("power_w", "energy_kwh")]
    assert jobs.run("rollups", LATER + timedelta(hours=2)) == 0
    assert [hourly(job_conn, device, m) | daily(job_conn, device, m)
            for m in ("power_w", "energy_kwh")] == snapshot
    assert job_conn.execute("select count(*) from rollup_dirty").fetchone() == (0,)


def test_a_stopped_run_resumes_where_it_stopped(job_conn: psycopg.Connection, device: int,
                                                jobs: Jobs) -> None:
    """Stopped after one day, the job keeps that day; the next run does the other days."""
    insert(job_conn, device, "power_w", [(at(24 * d), float(d)) for d in range(3)])
    jobs.run("rollups", LATER, stop_after_days=1)
    assert list(hourly(job_conn, device, "power_w")) == [at(0)]
    assert read_watermark(job_conn, ROLLUPS_JOB) == LATER - timedelta(hours=1)
    # Rollups are complete only up to the first day still marked.
    assert covered_until(job_conn, device_uid=device, start=at(0),
                         end=LATER) == paris_day(at(24))[0]

    jobs.run("rollups", LATER + timedelta(minutes=30))
    assert list(hourly(job_conn, device, "power_w")) == [at(0), at(24), at(48)]
    assert covered_until(job_conn, device_uid=device, start=at(0), end=LATER) == LATER


def test_rows_nobody_marked_are_swept_after_the_watermark(job_conn: psycopg.Connection,
                                                          device: int, jobs: Jobs) -> None:
    """Rows written by hand (not through ingest) are rolled up if they are newer than the
    watermark; before it, only marked rows are."""
    insert(job_conn, device, "power_w", [(at(0), 1.0)], mark=False)
    jobs.run("rollups", at(0.5))
    assert read_watermark(job_conn, ROLLUPS_JOB) == at(0)
    insert(job_conn, device, "power_w", [(at(1.5), 2.0), (at(2.5), 3.0)], mark=False)
    jobs.run("rollups", at(3.25))
    assert {b: r["avg"] for b, r in hourly(job_conn, device, "power_w").items()} == {
        at(0): 1.0, at(1): 2.0, at(2): 3.0}
    assert read_watermark(job_conn, ROLLUPS_JOB) == at(3)


def test_late_data_before_the_raw_horizon_is_not_rolled_up(
        job_conn: psycopg.Connection, device: int, jobs: Jobs,
        caplog: pytest.LogCaptureFixture) -> None:
    """Raw readings before the retention horizon are gone: a recomputation would lose them."""
    insert(job_conn, device, "power_w", [(at(0), 1.0), (at(1), 2.0)])
    jobs.run("rollups", LATER)
    before = hourly(job_conn, device, "power_w")
    write_watermark(job_conn, RETENTION_JOB, at(2), now=LATER)
    insert(job_conn, device, "power_w", [(at(0.5), 7.0)])
    with caplog.at_level(logging.WARNING):
        jobs.run("rollups", LATER + timedelta(hours=1))
    assert hourly(job_conn, device, "power_w") == before
    assert "before the raw retention horizon" in caplog.text
    assert job_conn.execute("select count(*) from rollup_dirty").fetchone() == (0,)


def test_devices_are_rolled_up_apart(job_conn: psycopg.Connection, device: int,
                                     tenant_slug: str, jobs: Jobs) -> None:
    other = register_device(job_conn, tenant_slug, "armoire-2")
    insert(job_conn, device, "power_w", [(at(0), 1.0)])
    insert(job_conn, other, "power_w", [(at(0.5), 3.0)])
    jobs.run("rollups", LATER)
    assert hourly(job_conn, device, "power_w")[at(0)]["avg"] == 1.0
    assert hourly(job_conn, other, "power_w")[at(0)]["avg"] == 3.0


def test_mark_dirty_writes_one_mark_per_hour_with_the_devices_seen(
        job_conn: psycopg.Connection) -> None:
    plus_0530 = timezone(timedelta(hours=5, minutes=30))
    rows = [(at(0.1), 1, 7, "power_w", 1.0), (at(0.2), 1, 3, "power_w", 1.0),
            (at(0.9), 1, 12, "energy_kwh", 1.0),
            # 16:00 at +05:30 is 10:30 UTC: the 10:00 UTC hour.
            (datetime(2026, 3, 2, 16, 0, tzinfo=plus_0530), 1, 5, "power_w", 1.0),
            (at(-30), 2, 40, "power_w", 1.0)]
    assert mark_dirty(job_conn, rows) == 2
    assert mark_dirty(job_conn, []) == 0
    marks = job_conn.execute("select hour, uid_min, uid_max from rollup_dirty order by hour")
    assert marks.fetchall() == [(at(-30), 40, 40), (at(0), 3, 12)]


def test_rollups_cover_nothing_before_the_first_run(job_conn: psycopg.Connection,
                                                    device: int) -> None:
    assert covered_until(job_conn, device_uid=device, start=at(0), end=LATER) is None


def test_pending_marks_of_other_devices_do_not_reduce_coverage(
        job_conn: psycopg.Connection, device: int, jobs: Jobs) -> None:
    insert(job_conn, device, "power_w", [(at(0), 1.0)])
    jobs.run("rollups", LATER)
    mark_dirty(job_conn, [(at(5), 1, device + 1, "power_w", 1.0)])
    assert covered_until(job_conn, device_uid=device, start=at(0), end=LATER) == \
        LATER - timedelta(hours=1)
    mark_dirty(job_conn, [(at(5), 1, device, "power_w", 1.0)])
    assert covered_until(job_conn, device_uid=device, start=at(0), end=LATER) == at(5)


def test_cumulative_metric_names_mean_the_same_in_every_kind() -> None:
    """Rollups tell a cumulative index by its name alone."""
    for kind in KINDS.values():
        for metric in kind.metrics:
            assert metric.cumulative == (metric.name in CUMULATIVE_METRICS), (kind.name, metric)
    assert MAX_UID == 2**31 - 1


def test_marks_are_merged_per_hour_and_into_uid_ranges() -> None:
    h0, h1 = at(0), at(1)
    spans = [Span(h0, 5, 9), Span(h1, 1, 2), Span(h0, 1, 3), Span(h0, 10, 12), Span(h0, 20, 20)]
    assert merge_spans(spans) == [Span(h0, 1, 3), Span(h0, 5, 12), Span(h0, 20, 20),
                                  Span(h1, 1, 2)]
    assert merge_ranges(spans) == [(1, 3), (5, 12), (20, 20)]


def _all_rollups(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select 'h', device_uid, metric, bucket, avg, min, max, count, last, delta "
        "from readings_hourly union all "
        "select 'd', device_uid, metric, bucket, avg, min, max, count, last, delta "
        "from readings_daily order by 1, 2, 3, 4").fetchall()


def _many_devices(job_conn: psycopg.Connection, tenant_slug: str) -> list[int]:
    """Six cabinets with power and a cumulative index (resets, gaps, a day boundary)."""
    uids = [register_device(job_conn, tenant_slug, f"armoire-{i}") for i in range(6)]
    for n, uid in enumerate(uids):
        insert(job_conn, uid, "power_w", [(at(h / 4), 100.0 * n + h) for h in range(0, 60, 3)])
        index = [(at(h / 4), 10.0 * n + 2.0 * h) for h in range(0, 60, 2) if h % 17]
        index[n + 3] = (index[n + 3][0], 1.0)  # a counter reset
        insert(job_conn, uid, "energy_kwh", index)
    return uids


def test_two_connections_give_the_rollups_of_one(job_conn: psycopg.Connection, tenant_slug: str,
                                                 jobs: Jobs,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A day marked for many devices is split between two connections: same rows as with one."""
    from analytics import rollups as module
    from analytics.jobs import rollups as job_module

    uids = _many_devices(job_conn, tenant_slug)
    monkeypatch.setattr(module, "SPLIT_MIN_UIDS", 2)
    parts: list[list[Span]] = []
    helper_part = module._recompute_and_commit

    def spy(conn: psycopg.Connection, spans: list[Span], *args: Any) -> Any:
        parts.append(spans)
        return helper_part(conn, spans, *args)

    monkeypatch.setattr(module, "_recompute_and_commit", spy)
    written = jobs.run("rollups", LATER)
    assert parts and all(s.uid_min > uids[0] for part in parts for s in part)  # split for real
    split = _all_rollups(job_conn)
    assert {row[1] for row in split} == set(uids)

    # Back to before the first run: the sweep marks every hour again.
    job_conn.execute("truncate readings_hourly, readings_daily, rollup_dirty, job_state")
    monkeypatch.setattr(job_module, "CONNECTIONS", 1)
    parts.clear()
    assert jobs.run("rollups", LATER) == written
    assert not parts
    single = _all_rollups(job_conn)
    assert [r[:4] for r in single] == [r[:4] for r in split]
    assert [r[4:] for r in single] == [pytest.approx(r[4:]) for r in split]


def test_a_failing_helper_keeps_the_marks_for_the_next_run(
        job_conn: psycopg.Connection, tenant_slug: str, jobs: Jobs,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper's part fails: the day is rolled back, its marks stay, the next run does it."""
    from analytics import rollups as module

    uids = _many_devices(job_conn, tenant_slug)
    monkeypatch.setattr(module, "SPLIT_MIN_UIDS", 2)

    def broken(*args: Any) -> Any:
        raise RuntimeError("helper lost")

    monkeypatch.setattr(module, "_recompute_and_commit", broken)
    with pytest.raises(RuntimeError, match="helper lost"):
        jobs.run("rollups", LATER)
    assert job_conn.execute("select count(*) from rollup_dirty").fetchone() != (0,)
    assert covered_until(job_conn, device_uid=uids[0], start=at(0), end=LATER) == at(0)
    monkeypatch.undo()
    jobs.run("rollups", LATER + timedelta(minutes=10))
    assert {r[1] for r in _all_rollups(job_conn)} == set(uids)
    assert job_conn.execute("select count(*) from rollup_dirty").fetchone() == (0,)
