"""The runner: registration through the API, publication and commands over a real broker."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import paho.mqtt.client as mqtt
import pytest

from devices.catalogue import NATIVE_TOPIC_RE, TOPIC_ROOT, Channel
from devices.simulators.errors import BrokerError, RegistrationError
from devices.simulators.fleet import build_fleet
from devices.simulators.runner import RunStats, register, run
from tests.conftest import free_port, wait_for


class Listener:
    """A plain paho client recording what the broker delivers on a topic filter."""

    def __init__(self, url_port: int, topic_filter: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"listener-{uuid.uuid4().hex[:8]}")
        self.client.on_message = lambda c, u, msg: self.messages.append(msg)
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect("127.0.0.1", url_port)
        self.client.loop_start()
        self.client.subscribe(topic_filter, qos=1)
        assert self._subscribed.wait(10), "listener did not subscribe"

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def check_contract_shape(channel: str, doc: object) -> None:
    items = doc if isinstance(doc, list) and channel != "status" else [doc]
    for item in items:
        assert isinstance(item, dict)
        assert datetime.fromisoformat(item["ts"]).tzinfo is not None
        if channel == "telemetry":
            assert set(item) == {"ts", "seq", "metrics"}
            assert isinstance(item["seq"], int) and item["seq"] >= 0
            assert item["metrics"] and all(
                isinstance(v, int | float) for v in item["metrics"].values())
        elif channel == "event":
            assert set(item) == {"ts", "type", "active", "detail"}
            assert isinstance(item["active"], bool) and isinstance(item["detail"], dict)
        elif channel == "status":
            assert item["online"] is True and isinstance(item["fw"], str)
        else:
            raise AssertionError(f"a device published on {channel}")


def test_run_publishes_every_message_on_its_topic_with_the_contract_shape(broker):
    tenant = f"sim-{uuid.uuid4().hex[:10]}"
    fleet = build_fleet([tenant], seed=21)
    ids = {d.device_id: d.kind for d in fleet}
    listener = Listener(broker.port, f"{TOPIC_ROOT}/#")
    progress: list[tuple[int, int]] = []
    end = now_minute()

    def mine() -> list[mqtt.MQTTMessage]:
        return [m for m in listener.messages if m.topic.split("/")[2] == tenant]

    try:
        stats = run(fleet, mqtt_url=broker.url, start=end - timedelta(hours=6), end=end,
                    step=timedelta(minutes=15), speed=None,
                    on_progress=lambda done, total: progress.append((done, total)))
        total = sum(stats.messages.values())
        wait_for(lambda: len(mine()) >= total)
    finally:
        listener.close()
    assert isinstance(stats, RunStats) and stats.steps == 25
    assert progress == [(i, 25) for i in range(1, 26)]
    assert total > 20 * 25 / 2 and len(mine()) == total
    by_kind: Counter[str] = Counter()
    for msg in mine():
        match = NATIVE_TOPIC_RE.match(msg.topic)
        assert match, msg.topic
        assert match["device"] in ids
        by_kind[ids[match["device"]]] += 1
        check_contract_shape(match["channel"], json.loads(msg.payload))
    assert by_kind == stats.messages
    assert stats.channels[Channel.STATUS] == len(fleet)

    # Status is retained: a newcomer learns every device is online.
    late = Listener(broker.port, f"{TOPIC_ROOT}/{tenant}/+/status")
    try:
        wait_for(lambda: len(late.messages) == len(fleet))
        assert all(m.retain for m in late.messages)
    finally:
        late.close()


def test_cabinets_answer_commands_during_a_run(broker):
    tenant = f"sim-{uuid.uuid4().hex[:10]}"
    fleet = build_fleet([tenant], seed=4, per_tenant={"lighting_cabinet": 2,
                                                       "acoustic_leak_sensor": 1})
    listener = Listener(broker.port, f"{TOPIC_ROOT}/{tenant}/+/cmd/ack")
    stepping = threading.Event()
    outcome: dict[str, object] = {}
    end = now_minute()

    def simulate() -> None:
        try:  # three simulated hours in about four seconds
            outcome["stats"] = run(fleet, mqtt_url=broker.url, start=end - timedelta(hours=3),
                                   end=end, step=timedelta(minutes=5), speed=2700,
                                   on_progress=lambda done, total: stepping.set())
        except Exception as exc:  # surfaced by the test below
            outcome["error"] = exc

    thread = threading.Thread(target=simulate)
    thread.start()
    try:
        assert stepping.wait(10), "the run did not start"
        cmd_topic = f"{TOPIC_ROOT}/{tenant}/armoire-01/cmd"
        listener.publish(cmd_topic, b"not json")  # ignored: nobody to answer
        listener.publish(cmd_topic, json.dumps({
            "id": "c-1", "type": "set_dimming", "params": {"level_pct": 70},
            "ts": datetime.now(UTC).isoformat()}).encode())
        listener.publish(f"{TOPIC_ROOT}/{tenant}/armoire-02/cmd", json.dumps({
            "id": "c-2", "type": "reboot", "params": {}}).encode())
        listener.publish(f"{TOPIC_ROOT}/{tenant}/armoire-02/cmd", json.dumps({
            "id": "c-3", "type": "switch", "params": []}).encode())
        wait_for(lambda: len(listener.messages) == 3)
    finally:
        thread.join(30)
        listener.close()
    assert "error" not in outcome, outcome.get("error")
    acks = {json.loads(m.payload)["id"]: (m.topic, json.loads(m.payload))
            for m in listener.messages}
    assert acks["c-1"][0] == f"{TOPIC_ROOT}/{tenant}/armoire-01/cmd/ack"
    assert acks["c-1"][1]["status"] == "applied" and "until" in acks["c-1"][1]["detail"]
    assert acks["c-2"][1]["status"] == "rejected"
    assert acks["c-2"][1]["detail"]["reason"] == "unknown_command"
    assert acks["c-3"][1]["detail"]["reason"] == "invalid_command"
    stats = outcome["stats"]
    assert isinstance(stats, RunStats) and stats.commands == 3


def test_register_sends_each_spec_and_accepts_created_or_existing():
    """The HTTP API is faked with httpx.MockTransport: this checks what the runner sends and
    how it reads the answers; registration itself is the API's to test."""
    fleet = build_fleet(["saint-flour"], seed=1, per_tenant={"lighting_cabinet": 3})
    sent = []

    def api(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = json.loads(request.content)
        status = 409 if body["id"] == "armoire-02" else 201
        return httpx.Response(status, json=body)

    result = register(fleet, "http://phare.test/", "k-123", transport=httpx.MockTransport(api))
    assert (result.created, result.existing) == (2, 1)
    assert [str(r.url) for r in sent] == ["http://phare.test/api/v1/devices"] * 3
    assert {r.headers["authorization"] for r in sent} == {"Bearer k-123"}
    assert [json.loads(r.content) for r in sent] == [d.spec for d in fleet]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        pytest.param(httpx.Response(422, json={"detail": "location: lat out of range"}),
                     "HTTP 422: location: lat out of range", id="invalid"),
        pytest.param(httpx.Response(403, json={"detail": "tenant outside the key's scope"}),
                     "HTTP 403: tenant outside the key's scope", id="forbidden"),
        pytest.param(httpx.Response(500, text="Internal Server Error"),
                     "HTTP 500: Internal Server Error", id="server-error"),
    ],
)
def test_register_raises_with_the_apis_message(answer, words):
    """The HTTP API is faked with httpx.MockTransport, to give each refusal."""
    fleet = build_fleet(["saint-flour"], seed=1, per_tenant={"lighting_cabinet": 1})
    with pytest.raises(RegistrationError, match="saint-flour/armoire-01") as exc:
        register(fleet, "http://phare.test", "k", transport=httpx.MockTransport(lambda r: answer))
    assert words in str(exc.value)


def test_register_reports_an_unreachable_api():
    fleet = build_fleet(["saint-flour"], seed=1, per_tenant={"lighting_cabinet": 1})
    with pytest.raises(RegistrationError, match="cannot reach the API"):
        register(fleet, f"http://127.0.0.1:{free_port()}", "k", timeout=2)


NOW = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "speed"),
    [
        pytest.param(NOW - timedelta(hours=1), NOW + timedelta(minutes=11), None,
                     id="flat-out-ends-in-the-future"),
        pytest.param(NOW - timedelta(minutes=10), NOW + timedelta(hours=1), 10.0,
                     id="accelerated-outruns-the-clock"),
        pytest.param(NOW + timedelta(minutes=11), NOW + timedelta(hours=1), 1.0,
                     id="real-time-starts-in-the-future"),
    ],
)
def test_run_refuses_timestamps_that_ingest_would_reject(start, end, speed):
    fleet = build_fleet(["saint-flour"], seed=1, per_tenant={"lighting_cabinet": 1})
    with pytest.raises(ValueError, match="in the future"):  # before any connection
        run(fleet, mqtt_url="mqtt://127.0.0.1:1", start=start, end=end,
            step=timedelta(minutes=10), speed=speed, now=NOW)


@pytest.mark.parametrize(
    ("start", "end", "speed"),
    [
        pytest.param(NOW - timedelta(days=2), NOW, None, id="flat-out-until-now"),
        pytest.param(NOW, NOW + timedelta(hours=1), 1.0, id="real-time-from-now"),
        pytest.param(NOW - timedelta(hours=2), NOW + timedelta(hours=1), 1.5,
                     id="accelerated-catching-up"),
    ],
)
def test_run_accepts_periods_that_stay_behind_the_clock(start, end, speed):
    from devices.simulators.runner import _timeline

    times = _timeline(start, end, timedelta(minutes=10), speed, NOW)
    assert times[0] == start and times[-1] == end


def test_run_reports_an_unreachable_broker():
    fleet = build_fleet(["saint-flour"], seed=1, per_tenant={"lighting_cabinet": 1})
    end = now_minute()
    with pytest.raises(BrokerError, match="cannot reach the MQTT broker"):
        run(fleet, mqtt_url=f"mqtt://127.0.0.1:{free_port()}", start=end - timedelta(hours=1),
            end=end, step=timedelta(minutes=10), speed=None)
