"""Running the dispatcher: the `commands` job of `phare worker`, and `phare commands dispatch`."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import psycopg

from analytics.job import JobContext
from analytics.registry import JOBS
from commands import worker
from commands.service import prepare, queue_command
from phare import db
from phare.settings import Settings
from tests.commands.conftest import ACTOR, POLICY, Listener, command_row, target
from tests.conftest import env_for, wait_for

PHARE = [sys.executable, "-c", "from phare.cli import main; main()"]


def test_the_commands_job_is_registered_and_sends_what_is_due(
        conn: psycopg.Connection, settings: Settings, tenant: str, listener: Listener) -> None:
    assert JOBS["commands"] is worker.JOB
    now = datetime.now(UTC)
    cabinet = target(conn, tenant, "armoire-1")
    command_id = queue_command(conn, cabinet, prepare("switch", {"on": True}, expires=None,
                                                      now=now, policy=POLICY),
                               now=now, actor=ACTOR)
    with db.connect(settings) as job_conn:
        ctx = JobContext(conn=job_conn, settings=settings, now=now,
                         log=logging.getLogger("test"))
        assert worker.run(ctx) == 1
    assert command_row(conn, command_id)["status"] == "sent"
    assert wait_for(lambda: listener.on(f"phare/v1/{tenant}/armoire-1/cmd"))


def test_phare_commands_dispatch_sends_at_once_and_stops_on_sigterm(
        conn: psycopg.Connection, settings: Settings, tenant: str, listener: Listener) -> None:
    cabinet = target(conn, tenant, "armoire-1")
    once = subprocess.run([*PHARE, "commands", "dispatch", "--once"], env=env_for(settings),
                          capture_output=True, text=True, timeout=60)
    assert once.returncode == 0, once.stderr
    assert once.stdout.startswith("0 sent, 0 sent again")

    # Its own rounds every 30 s: only the queueing's NOTIFY can make it send within a second.
    loop = subprocess.Popen([*PHARE, "commands", "dispatch"],
                            env=env_for(settings, PHARE_COMMANDS_DISPATCH_INTERVAL_S="30"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # listening
        now = datetime.now(UTC)
        command_id = queue_command(conn, cabinet, prepare("set_dimming", {"level_pct": 70},
                                                          expires=None, now=now, policy=POLICY),
                                   now=now, actor=ACTOR)
        wait_for(lambda: command_row(conn, command_id)["status"] == "sent", timeout=1.5)
        loop.send_signal(signal.SIGTERM)
        assert loop.wait(timeout=15) == 0
    finally:
        if loop.poll() is None:
            loop.kill()
            loop.wait()
    assert wait_for(lambda: listener.on(f"phare/v1/{tenant}/armoire-1/cmd"))
