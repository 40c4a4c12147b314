"""MQTT credentials and ACLs: a real Mosquitto with deploy/mosquitto/secure.conf and the files
`phare.mqtt_auth.sync` writes from the devices table."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from phare import mqtt_auth
from phare.tenancy import add_tenant
from tests.conftest import ROOT, Broker, free_port, register_device

NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86


class SecureBroker(Broker):
    """A Mosquitto with the deployment's secure configuration and its passwd/acl files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.auth_dir = directory / "auth"
        conf = (ROOT / "deploy/mosquitto/secure.conf").read_text()
        conf = (conf.replace("@PORT@", str(self.port)).replace("@STATE_DIR@", str(directory))
                .replace("@AUTH_DIR@", str(self.auth_dir)))
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(conf)


@pytest.fixture
def secure_dir() -> Iterator[Path]:
    # Outside pytest's tmp tree and world-readable: mosquitto drops root privileges.
    directory = Path(tempfile.mkdtemp(prefix="phare-test-mqtt-secure-"))
    os.chmod(directory, 0o777)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


class Client:
    """A paho MQTT 5 client that records what it receives and how the broker answered."""

    def __init__(self, port: int, username: str | None, password: str | None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"test-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.put(rc)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def connect_result(self) -> ReasonCode:
        return self.connack.get(timeout=5)

    def subscribe(self, topic: str) -> None:
        granted: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.client.on_subscribe = lambda c, u, mid, rcs, p: granted.put(rcs)
        self.client.subscribe(topic, qos=1)
        assert granted.get(timeout=5)[0].value < 0x80, f"subscription to {topic} refused"

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publishes at QoS 1; the reason code of the broker's PUBACK."""
        acks: queue.Queue[ReasonCode] = queue.Queue()
        self.client.on_publish = lambda c, u, mid, rc, p: acks.put(rc)
        self.client.publish(topic, payload, qos=1)
        return acks.get(timeout=5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def secured(conn: psycopg.Connection, tenant: str, secure_dir: Path):  # type: ignore[no-untyped-def]
    """Two tenants (A: two devices, B: one), the credentials of their devices, a secure broker."""
    other = f"{tenant}-b"
    add_tenant(conn, other, f"Commune B de {tenant}", parent=tenant)
    for t, d in ((tenant, "cab-1"), (tenant, "cab-2"), (other, "cab-1")):
        register_device(conn, t, d)
    broker = SecureBroker(secure_dir)
    users = [u for u in mqtt_auth.device_usernames(conn) if u.split("/")[0] in (tenant, other)]
    result = mqtt_auth.sync(broker.auth_dir, users, mode=0o644)
    os.chmod(broker.auth_dir, 0o755)
    broker.start()
    clients: list[Client] = []

    def client(username: str | None, password: str | None = None, *,
               expect_ok: bool = True) -> Client:
        c = Client(broker.port, username, password)
        clients.append(c)
        if expect_ok:
            assert c.connect_result().value == 0
        return c

    yield broker, tenant, other, result.created, client
    for c in clients:
        c.close()
    broker.stop()


def test_hash_is_mosquittos_format() -> None:
    encoded = mqtt_auth.hash_password("secret", salt=b"0123456789ab")
    assert encoded.startswith("$7$101$MDEyMzQ1Njc4OWFi$")
    assert mqtt_auth.verify_password("secret", encoded)
    assert not mqtt_auth.verify_password("Secret", encoded)


def test_mosquitto_passwd_accepts_our_hash(tmp_path: Path) -> None:
    """A file we wrote, updated by mosquitto_passwd itself, keeps our entry readable."""
    exe = shutil.which("mosquitto_passwd")
    if exe is None:
        pytest.skip("mosquitto_passwd is not installed")
    mqtt_auth.sync(tmp_path, [])
    subprocess.run([exe, "-b", str(tmp_path / "passwd"), "extra", "pw"], check=True)
    entries = mqtt_auth.read_password_file(tmp_path / "passwd")
    assert set(mqtt_auth.SERVICE_ACLS) | {"extra"} == set(entries)
    assert mqtt_auth.verify_password("pw", entries["extra"])


def test_sync_keeps_existing_passwords_and_drops_removed_devices(tmp_path: Path) -> None:
    first = mqtt_auth.sync(tmp_path, ["a/d1", "a/d2"])
    assert set(first.created) == set(mqtt_auth.SERVICE_ACLS) | {"a/d1", "a/d2"}
    before = mqtt_auth.read_password_file(tmp_path / "passwd")

    second = mqtt_auth.sync(tmp_path, ["a/d1", "a/d3"], rotate=["phare-alerts"])
    assert set(second.created) == {"a/d3", "phare-alerts"}
    assert second.removed == ("a/d2",)
    after = mqtt_auth.read_password_file(tmp_path / "passwd")
    assert after["a/d1"] == before["a/d1"]
    assert after["phare-alerts"] != before["phare-alerts"]
    assert mqtt_auth.verify_password(second.created["a/d3"], after["a/d3"])
    with pytest.raises(mqtt_auth.MqttAuthError, match="no such MQTT user"):
        mqtt_auth.sync(tmp_path, [], rotate=["a/nobody"])


def test_device_publishes_only_under_its_own_topics(secured) -> None:  # type: ignore[no-untyped-def]
    broker, a, b, creds, client = secured
    ingest = client("phare-ingest", creds["phare-ingest"])
    ingest.subscribe("phare/v1/#")
    device = client(f"{a}/cab-1", creds[f"{a}/cab-1"])

    own = f"phare/v1/{a}/cab-1/telemetry"
    assert device.publish(own, b'{"ts": 1, "metrics": {}}').value == 0
    assert ingest.messages.get(timeout=5) == (own, b'{"ts": 1, "metrics": {}}')

    for topic in (f"phare/v1/{b}/cab-1/telemetry",   # another tenant's device of the same id
                  f"phare/v1/{a}/cab-2/telemetry",   # another device of its tenant
                  f"phare/v1/{a}/cab-1/cmd",         # commands come from the platform only
                  f"phare/v1/{a}/alerts"):
        assert device.publish(topic, b"forged").value == NOT_AUTHORIZED, topic
    # The status and cmd/ack topics are its own too.
    assert device.publish(f"phare/v1/{a}/cab-1/cmd/ack", b"{}").value == 0
    received = [ingest.messages.get(timeout=5)]
    time.sleep(0.3)  # anything forged would have arrived by now
    while not ingest.messages.empty():
        received.append(ingest.messages.get_nowait())
    assert received == [(f"phare/v1/{a}/cab-1/cmd/ack", b"{}")]


def test_device_reads_only_its_own_commands(secured) -> None:  # type: ignore[no-untyped-def]
    broker, a, b, creds, client = secured
    device = client(f"{a}/cab-1", creds[f"{a}/cab-1"])
    device.subscribe("phare/v1/#")  # granted, but the broker delivers only what it may read
    dispatcher = client("phare-commands", creds["phare-commands"])
    assert dispatcher.publish(f"phare/v1/{a}/cab-2/cmd", b"theirs").value == 0
    assert dispatcher.publish(f"phare/v1/{a}/cab-1/cmd", b"mine").value == 0
    assert device.messages.get(timeout=5) == (f"phare/v1/{a}/cab-1/cmd", b"mine")
    time.sleep(0.2)
    assert device.messages.empty()
    # The dispatcher publishes commands, not readings.
    assert dispatcher.publish(f"phare/v1/{a}/cab-1/telemetry", b"{}").value == NOT_AUTHORIZED


def test_alerts_service_writes_alerts_only(secured) -> None:  # type: ignore[no-untyped-def]
    broker, a, b, creds, client = secured
    ingest = client("phare-ingest", creds["phare-ingest"])
    ingest.subscribe(f"phare/v1/{a}/#")
    alerts = client("phare-alerts", creds["phare-alerts"])
    assert alerts.publish(f"phare/v1/{a}/alerts", b"{}").value == 0
    assert ingest.messages.get(timeout=5) == (f"phare/v1/{a}/alerts", b"{}")
    assert alerts.publish(f"phare/v1/{a}/cab-1/cmd", b"{}").value == NOT_AUTHORIZED


def test_wrong_password_and_anonymous_are_refused(secured) -> None:  # type: ignore[no-untyped-def]
    broker, a, b, creds, client = secured
    # Mosquitto 2.0 answers a bad password with "Not authorized" (0x87), later ones with 0x86.
    wrong = client(f"{a}/cab-1", creds[f"{b}/cab-1"], expect_ok=False)
    assert wrong.connect_result().value in (NOT_AUTHORIZED, BAD_CREDENTIALS)
    anonymous = client(None, expect_ok=False)
    assert anonymous.connect_result().value in (NOT_AUTHORIZED, BAD_CREDENTIALS)


def test_sighup_reloads_new_credentials(secured, conn: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    broker, a, b, creds, client = secured
    register_device(conn, a, "cab-3")
    users = [u for u in mqtt_auth.device_usernames(conn) if u.split("/")[0] in (a, b)]
    result = mqtt_auth.sync(broker.auth_dir, users, mode=0o644)
    assert set(result.created) == {f"{a}/cab-3"}
    assert mqtt_auth.reload(broker.directory / "mosquitto.pid") == broker.process.pid
    time.sleep(0.3)
    ingest = client("phare-ingest", creds["phare-ingest"])
    ingest.subscribe(f"phare/v1/{a}/#")
    device = client(f"{a}/cab-3", result.created[f"{a}/cab-3"])
    assert device.publish(f"phare/v1/{a}/cab-3/status", b"{}").value == 0
    assert ingest.messages.get(timeout=5) == (f"phare/v1/{a}/cab-3/status", b"{}")
