"""`phare simulate` with the vectorised engine, end to end in process: devices registered in
the database, half a day published to the test broker, stored by a real ingest consumer,
every value and event there, nothing rejected, and the ground truth labelled; a paced run."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from devices.simulators.runner import publish
from devices.simulators.scenario import dump
from devices.simulators.simulate import SimulateOptions, choose_engine, period, prepare, simulate
from devices.simulators.vector.engine import batches
from tests.conftest import wait_for

from .territory import scenario


def test_a_vectorised_run_is_stored_whole_by_ingest(settings, conn, consumer, tmp_path):
    prefix = f"v{uuid.uuid4().hex[:6]}"
    path = tmp_path / "territory.yaml"
    path.write_text(dump(scenario(prefix)))
    now = datetime.now(UTC).replace(microsecond=0)
    options = SimulateOptions(scenario=str(path), days=0.5, engine="vector", now=now,
                              labels_path=tmp_path / "labels.jsonl")
    said: list[str] = []
    outcome = simulate(settings, options, said.append)
    assert any("vectorised engine" in line for line in said), said
    start, end = period(0.5, None, options.step, now)
    expected = sum(b.values for b in batches(prepare(str(path), start, end), start, end,
                                             options.step))
    assert outcome.messages > 500 and expected > 5000

    def stored() -> int:
        return conn.execute("select count(*) from readings r join devices d on d.uid = r.device_uid "
                            "join tenants t on t.id = d.tenant_id where t.slug like %s",
                            (f"{prefix}%",)).fetchone()[0]

    wait_for(lambda: stored() == expected or None, timeout=60)
    rejected = conn.execute("select count(*) from rejected_messages r join tenants t "
                            "on t.id = r.tenant_id where t.slug like %s", (f"{prefix}%",)).fetchone()[0]
    assert rejected == 0
    events = conn.execute("select count(*) from events e join tenants t on t.id = e.tenant_id "
                          "where t.slug like %s", (f"{prefix}%",)).fetchone()[0]
    assert events > 0
    assert outcome.labels and {x.tenant for x in outcome.labels} <= {f"{prefix}-c"}


def test_auto_takes_the_vectorised_engine_for_large_territories_at_max_speed():
    fast = SimulateOptions(scenario="large:2000")
    assert choose_engine(fast, 2000) == "vector"
    assert choose_engine(fast, 200) == "objects"
    assert choose_engine(SimulateOptions(speed=60.0), 5000) == "objects"  # paced: commands
    assert choose_engine(SimulateOptions(engine="objects"), 5000) == "objects"
    assert choose_engine(SimulateOptions(engine="vector"), 10) == "vector"
    assert timedelta(0) < SimulateOptions().step


def test_a_paced_vectorised_run_goes_through_paho_at_its_pace(broker):
    """A real-time factor: batches published step by step (paho's link), none lost."""
    prefix = f"p{uuid.uuid4().hex[:6]}"
    got: list[str] = []
    ready = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{prefix}")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe(f"phare/v1/{prefix}-c/#", qos=1)
    sub.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
    sub.on_message = lambda c, u, m: got.append(m.topic)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    try:
        assert ready.wait(10)
        now = datetime.now(UTC).replace(microsecond=0)
        step = timedelta(minutes=15)
        start, end = period(0.1, 8640.0, step, now)  # 2.4 simulated hours in a second
        sim = prepare(scenario(prefix), start, end)
        expected = sum(len(b) for b in batches(prepare(scenario(prefix), start, end), start, end, step))
        began = time.monotonic()
        stats = publish(batches(sim, start, end, step), mqtt_url=broker.url, start=start, end=end,
                        step=step, speed=8640.0, now=now)
        assert time.monotonic() - began >= 0.9  # paced: (end - start) / speed
        assert sum(stats.messages.values()) == expected and stats.steps == 10
        wait_for(lambda: len(got) >= expected, timeout=20)
        assert len(got) == expected
    finally:
        sub.loop_stop()
        sub.disconnect()


def test_an_unknown_engine_is_refused_with_the_known_ones():
    from devices.simulators.errors import ScenarioError

    with pytest.raises(ScenarioError, match="unknown engine 'fast': one of auto, objects, vector"):
        choose_engine(SimulateOptions(engine="fast"), 10)
