"""Shared fixtures: a real PostgreSQL/TimescaleDB database and a real Mosquitto broker.

The database is `PHARE_TEST_DATABASE_URL` (default: the `phare_test` database that
`make setup` creates). Each test session recreates Phare's schema in it; each test works in
its own tenant, so tests never see each other's rows. The broker is a Mosquitto process
started for the session from deploy/mosquitto/phare.conf on a free port.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from phare import db
from phare.settings import Settings
from phare.tenancy import add_tenant, create_api_key

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get(
    "PHARE_TEST_DATABASE_URL", "postgresql://phare:phare@127.0.0.1:5432/phare_test"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A Mosquitto process with Phare's configuration, which tests may stop and restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        conf = (ROOT / "deploy/mosquitto/phare.conf").read_text()
        conf = conf.replace("@PORT@", str(self.port)).replace("@STATE_DIR@", str(directory))
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(conf)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([exe, "-c", str(self.conf)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    # Outside pytest's private tmp tree: mosquitto drops root privileges to write its files.
    directory = Path(tempfile.mkdtemp(prefix="phare-test-mqtt-"))
    os.chmod(directory, 0o777)
    b = Broker(directory)
    b.start()
    yield b
    b.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a schema of this session alone in the test database, and the broker."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    s = Settings(database_url=TEST_DATABASE_URL, database_schema=schema, mqtt_url=broker.url,
                 ingest_client_id=f"phare-test-{uuid.uuid4().hex[:8]}",
                 ingest_batch_max_seconds=0.05, ingest_metrics_port=0,
                 ingest_spool_dir=tmp_path_factory.mktemp("spool"))
    db.migrate(s)
    yield s
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'drop schema if exists "{schema}" cascade')


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `phare` subprocess that uses the same database schema and broker."""
    return {**os.environ,
            "PHARE_DATABASE_URL": settings.database_url.get_secret_value(),
            "PHARE_DATABASE_SCHEMA": settings.database_schema,
            "PHARE_MQTT_URL": settings.mqtt_url,
            "PHARE_INGEST_SPOOL_DIR": str(settings.ingest_spool_dir),
            "PHARE_INGEST_METRICS_PORT": "0", **extra}


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    with db.connect(settings, autocommit=True) as c:
        yield c


_counter = itertools.count()


@pytest.fixture
def tenant(conn: psycopg.Connection) -> str:
    """A fresh tenant of this test alone."""
    slug = f"t{uuid.uuid4().hex[:10]}{next(_counter)}"
    add_tenant(conn, slug, f"Commune de test {slug}")
    return slug


@pytest.fixture
def admin_key(conn: psycopg.Connection, tenant: str) -> str:
    return create_api_key(conn, tenant, "admin")


def register_device(conn: psycopg.Connection, tenant: str, device_id: str,
                    kind: str = "lighting_cabinet", **extra: str) -> int:
    """Registers a device directly in the database; returns its uid."""
    row = conn.execute(
        "insert into devices (tenant_id, id, kind, name, location, dev_eui, lorawan_id, model) "
        "select id, %s, %s, %s, 'SRID=4326;POINT(3.09 45.03)', %s, %s, %s from tenants "
        "where slug = %s returning uid",
        (device_id, kind, f"Device {device_id}", extra.get("dev_eui"), extra.get("lorawan_id"),
         extra.get("model"), tenant),
    ).fetchone()
    assert row is not None
    return int(row[0])


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Polls `predicate` until it returns a truthy value; fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")
        time.sleep(interval)


@pytest.fixture
def consumer(settings: Settings):  # type: ignore[no-untyped-def]
    """A running ingest consumer with its own MQTT session."""
    from ingest.consumer import Consumer

    c = Consumer(settings.model_copy(update={"ingest_client_id": f"ingest-{uuid.uuid4().hex[:8]}"}))
    c.start()
    assert c.wait_connected(10), "consumer did not connect to the test broker"
    time.sleep(0.1)  # let the subscription settle before tests publish
    yield c
    c.stop()
