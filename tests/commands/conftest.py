"""Fixtures of the commands tests: a database schema of each test's own, the dispatcher's real
MQTT connection, a listener on the broker, devices, and a policy with known timeouts.

The dispatcher works on every tenant's commands at once (it is platform-wide, like the jobs), so
each test gets a freshly migrated schema: `settings` is overridden here, and with it `conn`,
`tenant` and the ingest `consumer`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from psycopg.types.json import Jsonb

from commands import targets
from commands.delivery import MqttPublisher
from commands.service import Policy
from phare import db
from phare.settings import Settings
from phare.tenancy import Actor
from tests.conftest import TEST_DATABASE_URL, register_device

POLICY = Policy(ack_timeout=timedelta(seconds=60), lorawan_ack_timeout=timedelta(minutes=10),
                backoff=2.0, max_attempts=3, default_ttl=timedelta(hours=1))
ACTOR = Actor("cli:tests")


@pytest.fixture
def settings(settings: Settings) -> Iterator[Settings]:
    """The session's settings on a schema of this test alone, migrated."""
    schema = f"{settings.database_schema}_c{uuid.uuid4().hex[:8]}"
    isolated = settings.model_copy(update={"database_schema": schema})
    db.migrate(isolated)
    yield isolated
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'drop schema if exists "{schema}" cascade')


class Listener:
    """A plain paho client recording what the broker delivers on some topic filters."""

    def __init__(self, port: int, *filters: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"listener-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(f, 1) for f in filters])
        assert self._subscribed.wait(10), "listener did not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(msg)

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listener(broker) -> Iterator[Listener]:  # type: ignore[no-untyped-def]
    """Everything published on native command topics and network servers' downlink topics."""
    lst = Listener(broker.port, "phare/v1/+/+/cmd", "v3/#", "application/#")
    yield lst
    lst.close()


@pytest.fixture
def publisher(settings: Settings) -> Iterator[MqttPublisher]:
    with MqttPublisher(settings, client_id=f"cmd-test-{uuid.uuid4().hex[:8]}") as p:
        yield p


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def target(conn: psycopg.Connection, tenant: str, device_id: str, *,
           kind: str = "lighting_cabinet", metadata: dict[str, Any] | None = None,
           online: bool | None = None, last_seen: datetime | None = None, **extra: str) -> targets.Target:
    """Registers a device (with metadata and a state, if given) and returns it as a Target."""
    uid = register_device(conn, tenant, device_id, kind, **extra)
    conn.execute("update devices set metadata = %s, online = %s, last_seen = %s where uid = %s",
                 (Jsonb(metadata or {}), online, last_seen, uid))
    row = conn.execute("select tenant_id from devices where uid = %s", (uid,)).fetchone()
    assert row is not None
    found = targets.device(conn, scope=frozenset({row[0]}), tenant=tenant, device_id=device_id)
    assert found is not None
    return found


def command_row(conn: psycopg.Connection, command_id: uuid.UUID) -> dict[str, Any]:
    row = conn.execute(
        "select status, attempts, sent_at, acked_at, next_attempt_at, last_error, detail "
        "from commands where id = %s", (command_id,)).fetchone()
    assert row is not None
    keys = ("status", "attempts", "sent_at", "acked_at", "next_attempt_at", "last_error", "detail")
    return dict(zip(keys, row, strict=True))


def events(conn: psycopg.Connection, command_id: uuid.UUID) -> list[tuple[str, str, int]]:
    """(event, status, attempt) of a command's history, oldest first."""
    return [tuple(r) for r in conn.execute(  # type: ignore[misc]
        "select event, status, attempt from command_events where command_id = %s order by at, id",
        (command_id,))]
