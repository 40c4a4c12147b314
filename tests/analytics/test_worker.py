"""`phare worker` (contract §4), run as an operator runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

import analytics.runner
from analytics.job import Job
from phare.cli import app
from phare.settings import Settings
from tests.analytics.conftest import insert
from tests.conftest import env_for, wait_for

PHARE = [sys.executable, "-c", "from phare.cli import main; main()"]


def test_worker_once_runs_every_due_job_then_exits_0(job_settings: Settings,
                                                      job_conn: psycopg.Connection,
                                                      device: int) -> None:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    insert(job_conn, device, "power_w", [(start + timedelta(hours=h), float(h)) for h in range(30)])
    out = subprocess.run([*PHARE, "worker", "--once"], env=env_for(job_settings),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "rollups: ok" in out.stdout and "retention: ok" in out.stdout
    assert "rollups: day" in out.stderr  # a progress line per day processed
    assert job_conn.execute("select count(*) from readings_hourly").fetchone() == (30,)
    ran = job_conn.execute("select job, status from job_runs order by id").fetchall()
    assert ("rollups", "ok") in ran and ("retention", "ok") in ran
    assert ran.index(("rollups", "ok")) < ran.index(("retention", "ok"))

    again = subprocess.run([*PHARE, "worker", "--once"], env=env_for(job_settings),
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "no job due" in again.stdout


def test_worker_once_exits_1_and_says_why_when_a_job_fails(
        job_settings: Settings, job_conn: psycopg.Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, to put a failing job in the registry."""
    def broken(ctx: object) -> int:
        raise RuntimeError("no model for this territory")

    jobs = {"broken": Job("broken", timedelta(hours=1), broken, ""),
            **analytics.runner.JOBS}
    monkeypatch.setattr(analytics.runner, "JOBS", jobs)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # keep pytest's own handlers
    result = CliRunner().invoke(app, ["worker", "--once"], env=env_for(job_settings))
    assert result.exit_code == 1
    assert "error: job broken failed: RuntimeError: no model for this territory" in result.output
    assert "rollups: ok" in result.output
    statuses: dict[str, str] = dict(job_conn.execute("select job, status from job_runs").fetchall())
    assert statuses["broken"] == "failed" and statuses["rollups"] == "ok"


@pytest.mark.slow
def test_worker_runs_until_sigterm_then_exits_0(job_settings: Settings,
                                                job_conn: psycopg.Connection) -> None:
    worker = subprocess.Popen([*PHARE, "worker"], env=env_for(job_settings),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: job_conn.execute(
            "select count(*) from job_runs where job in ('rollups', 'retention')").fetchone()
            == (2,), timeout=30)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0, worker.stderr.read() if worker.stderr else ""
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
