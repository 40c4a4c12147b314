"""The lean socket publisher against the real test broker: every message arrives in order
with its QoS 1 acknowledged, retained ones stay retained, and a broker that is not there is
a clear error."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from devices.simulators.errors import BrokerError
from devices.simulators.wire import Publisher
from tests.conftest import free_port, wait_for


def subscriber(url_port: int, topic: str) -> tuple[mqtt.Client, list[tuple[str, bytes, bool]]]:
    got: list[tuple[str, bytes, bool]] = []
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:6]}")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
    client.on_message = lambda c, u, m: got.append((m.topic, bytes(m.payload), bool(m.retain)))
    client.connect("127.0.0.1", url_port)
    client.loop_start()
    assert ready.wait(10)
    return client, got


def test_every_message_arrives_in_order_and_is_acknowledged(broker):
    root = f"wire/{uuid.uuid4().hex[:8]}"
    client, got = subscriber(broker.port, f"{root}/#")
    try:
        n = 12_000  # several windows
        topics = [f"{root}/d{i % 37}/telemetry" for i in range(n)]
        payloads = [b'{"i":%d,"pad":"%s"}' % (i, b"x" * (i % 300)) for i in range(n)]
        publisher = Publisher(broker.url, "wire-test", window=1000)
        publisher.connect()
        publisher.publish(topics, payloads, [False] * n)
        publisher.flush()
        assert publisher.acked == publisher.sent == n
        publisher.close()
        wait_for(lambda: len(got) >= n, timeout=30)
        assert [(t, p) for t, p, _ in got] == list(zip(topics, payloads, strict=True))
    finally:
        client.loop_stop()
        client.disconnect()


def test_retained_messages_are_kept_for_later_subscribers(broker):
    topic = f"wire/{uuid.uuid4().hex[:8]}/status"
    publisher = Publisher(broker.url, "wire-retain")
    publisher.connect()
    publisher.publish([topic], [b'{"online":true}'], [True])
    publisher.flush()
    publisher.close()
    client, got = subscriber(broker.port, topic)
    try:
        wait_for(lambda: got, timeout=10)
        assert got == [(topic, b'{"online":true}', True)]
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_broker_that_is_not_there_is_a_clear_error():
    with pytest.raises(BrokerError, match="cannot reach the MQTT broker"):
        Publisher(f"mqtt://127.0.0.1:{free_port()}", "nobody", timeout=2).connect()
    with pytest.raises(ValueError, match="mqtt://host"):
        Publisher("http://127.0.0.1:1883", "x")
