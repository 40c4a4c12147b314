"""End to end: the lighting analytics compute a night's schedule, the dispatcher sends it over
the real broker, a simulated cabinet applies and acknowledges it, and the power it then reports
(stored by the real ingest) follows the schedule's steps.

The night is one of three days ago, lived by the cabinet at 3,600× (a simulated hour a second),
so that its readings are in the past as ingest requires; the job and the dispatcher get that
day's noon as their injected clock."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from analytics.job import JobContext
from analytics.jobs import lighting as lighting_job
from commands.delivery import MqttPublisher
from commands.service import dispatch_due
from devices.catalogue import Channel
from devices.simulators.lighting import LightingCabinet
from devices.simulators.runner import run
from phare import db
from phare.settings import Settings
from tests.commands.conftest import POLICY, command_row
from tests.conftest import register_device, wait_for


@pytest.mark.slow
def test_a_schedule_from_the_analytics_is_applied_and_followed_by_a_simulated_cabinet(
        conn: psycopg.Connection, settings: Settings, tenant: str, consumer,  # type: ignore[no-untyped-def]
        publisher: MqttPublisher) -> None:
    day = (datetime.now(UTC) - timedelta(days=3)).date()
    noon = datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)
    cabinet = LightingCabinet(tenant, "armoire-plan", "Armoire du plan d'éclairage",
                              lat=45.03, lon=3.09, seed=11)
    cabinet.interval = timedelta(minutes=5)
    uid = register_device(conn, tenant, "armoire-plan")  # located at 45.03 N, 3.09 E
    conn.execute("update devices set metadata = %s where uid = %s", (Jsonb(cabinet.metadata), uid))

    stepping = threading.Event()
    outcome: dict[str, object] = {}

    def live_the_night() -> None:
        try:
            run([cabinet], mqtt_url=settings.mqtt_url, start=noon, end=noon + timedelta(hours=22),
                step=timedelta(minutes=5), speed=3600.0,
                on_progress=lambda done, total: stepping.set())
        except Exception as exc:  # surfaced below
            outcome["error"] = exc

    thread = threading.Thread(target=live_the_night)
    thread.start()
    try:
        assert stepping.wait(10), "the simulation did not start"
        with db.connect(settings) as job_conn:
            lighting_job.run(JobContext(conn=job_conn, settings=settings, now=noon,
                                        log=logging.getLogger("test")))
        row = conn.execute("select id, params from commands where device_uid = %s and "
                           "type = 'set_schedule'", (uid,)).fetchone()
        assert row is not None, "the lighting job queued no schedule for the cabinet"
        command_id, params = row
        assert dispatch_due(conn, publisher, noon, policy=POLICY).sent >= 1
        wait_for(lambda: command_row(conn, command_id)["status"] == "applied", 15)
    finally:
        thread.join(60)
        publisher.client.publish(cabinet.topic(Channel.STATUS), b"", qos=1,
                                 retain=True).wait_for_publish(10)
    assert "error" not in outcome, outcome.get("error")

    steps = [(datetime.fromisoformat(s["at"]), int(s["level_pct"])) for s in params["steps"]]
    assert len(steps) >= 3 and len({level for _, level in steps}) >= 2  # a real plan, not flat
    last_step = steps[-1][0]
    wait_for(lambda: conn.execute(
        "select count(*) from readings where device_uid = %s and metric = 'power_w' and ts > %s",
        (uid, last_step)).fetchone()[0] > 0, 30)
    checked = 0
    for (at, level), (until, _) in zip(steps, steps[1:] + [(last_step + timedelta(hours=1), 0)],
                                       strict=True):
        rows = conn.execute(
            "select ts, metric, value from readings where device_uid = %s and ts > %s and ts < %s "
            "and metric in ('dimming_pct', 'power_w') order by ts",
            (uid, at + timedelta(minutes=1), until - timedelta(minutes=1))).fetchall()
        for _, metric, value in rows:
            if metric == "dimming_pct":
                assert value == level, (at, level, value)
            elif level > 0:
                expected = cabinet.nominal_power_w(level)
                assert abs(value - expected) / expected < 0.05, (at, level, value, expected)
            else:
                assert value < 20, (at, value)
            checked += 1
    assert checked > 20  # readings in every step of the night were compared
