"""End to end: a command to a simulated cabinet on the real broker is delivered, applied and
acknowledged through ingest, and the cabinet's readings then follow it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from commands import targets
from commands.delivery import MqttPublisher
from commands.service import dispatch_due, prepare, queue_command
from devices.catalogue import Channel
from devices.messages import format_ts
from devices.simulators.lighting import LightingCabinet
from devices.simulators.runner import run
from phare.settings import Settings
from tests.commands.conftest import ACTOR, POLICY, command_row, events
from tests.conftest import register_device, wait_for


@pytest.mark.slow
def test_a_cabinet_applies_commands_acknowledges_them_and_reports_the_new_level(
        conn: psycopg.Connection, settings: Settings, tenant: str, consumer,  # type: ignore[no-untyped-def]
        publisher: MqttPublisher) -> None:
    cabinet = LightingCabinet(tenant, "armoire-01", "Armoire place d'Armes", lat=45.0339,
                              lon=3.0933, seed=7)
    cabinet.interval = timedelta(seconds=1)  # a reading a second, for the test
    uid = register_device(conn, tenant, "armoire-01")
    start = datetime.now(UTC)
    stepping = threading.Event()
    outcome: dict[str, object] = {}

    def simulate() -> None:  # real time, as `phare demo` runs it
        try:
            outcome["stats"] = run([cabinet], mqtt_url=settings.mqtt_url, start=start,
                                   end=start + timedelta(seconds=8), step=timedelta(seconds=0.5),
                                   speed=1.0, on_progress=lambda done, total: stepping.set())
        except Exception as exc:  # surfaced below
            outcome["error"] = exc

    thread = threading.Thread(target=simulate)
    thread.start()
    try:
        assert stepping.wait(10), "the simulation did not start"
        device = targets.device(conn, scope=_scope(conn, tenant), tenant=tenant,
                                device_id="armoire-01")
        assert device is not None
        now = datetime.now(UTC)
        until = now + timedelta(hours=1)
        ids = []
        # On (whatever the sun does) and dimmed to 40 %, for an hour.
        for command_type, params in (("switch", {"on": True, "until": until}),
                                     ("set_dimming", {"level_pct": 40, "until": until})):
            order = prepare(command_type, params, expires=None, now=now, policy=POLICY)
            ids.append(queue_command(conn, device, order, now=now, actor=ACTOR))
        assert dispatch_due(conn, publisher, now, policy=POLICY).sent == 2
        wait_for(lambda: all(command_row(conn, i)["status"] == "applied" for i in ids), 10)
    finally:
        thread.join(30)
        # The cabinet's status is retained: clear it, or later tests' consumers receive it.
        publisher.client.publish(cabinet.topic(Channel.STATUS), b"", qos=1,
                                 retain=True).wait_for_publish(10)
    assert "error" not in outcome, outcome.get("error")

    switch, dimming = (command_row(conn, i) for i in ids)
    # The cabinet's own words: on, until when (it may have dimmed before or after switching on).
    assert switch["detail"]["output_on"] is True
    assert switch["detail"]["until"] == dimming["detail"]["until"] == format_ts(until)
    assert events(conn, ids[1]) == [("queued", "queued", 0), ("sent", "sent", 1),
                                    ("applied", "applied", 1)]
    applied_at = max(switch["acked_at"], dimming["acked_at"])

    def after(metric: str) -> list[float]:
        return [v for (v,) in conn.execute(
            "select value from readings where device_uid = %s and metric = %s and ts > %s "
            "order by ts", (uid, metric, applied_at))]

    # Readings published after the ack (ingested by the same consumer) show the new level.
    wait_for(lambda: len(after("dimming_pct")) >= 3, 10)
    assert set(after("dimming_pct")) == {40.0}
    assert set(after("output_on")) == {1.0}
    expected_w = cabinet.nominal_power_w(40)
    assert all(abs(w - expected_w) / expected_w < 0.02 for w in after("power_w"))
    # And the commands were audited: who asked, and the device's answers.
    actions = conn.execute("select action, count(*) from audit_log where action like 'command.%' "
                           "group by action order by action").fetchall()
    assert actions == [("command.ack", 2), ("command.create", 2)]


def _scope(conn: psycopg.Connection, tenant: str) -> frozenset[int]:
    row = conn.execute("select id from tenants where slug = %s", (tenant,)).fetchone()
    assert row is not None
    return frozenset({row[0]})
