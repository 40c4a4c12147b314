"""The ingest consumer end to end: a real Mosquitto, a real TimescaleDB, messages counted."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as mqtt
import pytest

from tests.conftest import env_for, register_device, wait_for


def publisher(broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish_all(client, messages):
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)


def reading(ts: datetime, seq: int, **metrics) -> bytes:
    return orjson.dumps({"ts": ts.isoformat(), "seq": seq, "metrics": metrics})


def device_row(conn, tenant, device_id, columns):
    """Columns of one device of this test's tenant (device ids repeat across tenants)."""
    # `columns` are literals written in the tests, never input.
    query = f"select {columns} from devices d join tenants t on t.id = d.tenant_id "  # noqa: S608
    return conn.execute(query + "where t.slug = %s and d.id = %s", (tenant, device_id)).fetchone()


def count(conn, sql, *params):
    return conn.execute(sql, params).fetchone()[0]


def stored_values(conn, tenant):
    return count(conn, "select count(*) from readings r join tenants t on t.id = r.tenant_id "
                       "where t.slug = %s", tenant)


def rejections(conn, tenant):
    return conn.execute(
        "select reason, detail from rejected_messages r join tenants t on t.id = r.tenant_id "
        "where t.slug = %s order by r.id", (tenant,)).fetchall()


def test_paho_readings_are_stored_and_resends_are_idempotent(broker, consumer, conn, tenant):
    register_device(conn, tenant, "armoire-1")
    client = publisher(broker)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    messages = [(f"phare/v1/{tenant}/armoire-1/telemetry",
                 reading(t0 + timedelta(minutes=i), i, power_w=100.0 + i, output_on=True))
                for i in range(50)]
    publish_all(client, messages + messages[:10])  # ten resent
    wait_for(lambda: stored_values(conn, tenant) >= 100)
    time.sleep(0.3)
    assert stored_values(conn, tenant) == 100  # 50 messages x 2 metrics, resends stored once
    rows = conn.execute(
        "select value from readings r join devices d on d.uid = r.device_uid "
        "join tenants t on t.id = d.tenant_id "
        "where t.slug = %s and d.id = 'armoire-1' and metric = 'power_w' order by ts",
        (tenant,)).fetchall()
    assert [r[0] for r in rows] == [100.0 + i for i in range(50)]
    client.disconnect()


def test_mosquitto_pub_unknown_device_and_garbage(broker, consumer, conn, tenant):
    """A third-party client: good readings stored, the rest rejected with reasons, consumer alive."""
    register_device(conn, tenant, "capteur-7", kind="acoustic_leak_sensor")
    ts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()

    def pub(device, payload):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                        "-t", f"phare/v1/{tenant}/{device}/telemetry", "-m", payload], check=True)

    pub("capteur-7", f'{{"ts": "{ts}", "metrics": {{"noise_min_db": 24.5}}}}')
    pub("inconnu-1", f'{{"ts": "{ts}", "metrics": {{"noise_min_db": 30}}}}')
    pub("capteur-7", "ceci n'est pas du JSON")
    pub("capteur-7", f'{{"ts": "{ts}", "metrics": {{"noise_min_db": NaN, "temperature_c": 11}}}}')
    ts2 = (datetime.now(UTC) - timedelta(minutes=4)).isoformat()
    pub("capteur-7", f'{{"ts": "{ts2}", "metrics": {{"noise_min_db": 25.0}}}}')  # after garbage

    wait_for(lambda: stored_values(conn, tenant) >= 3 and len(rejections(conn, tenant)) >= 3)
    assert stored_values(conn, tenant) == 3
    reasons = rejections(conn, tenant)
    assert [r[0] for r in reasons] == ["unknown_device", "invalid_json", "invalid_value"]
    assert "device 'inconnu-1' is not registered" in reasons[0][1]
    assert "metric 'noise_min_db'" in reasons[2][1]
    assert consumer._writer_thread.is_alive()


def test_events_and_status(broker, consumer, conn, tenant):
    register_device(conn, tenant, "detecteur-1", kind="hazard_detector")
    client = publisher(broker)
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    publish_all(client, [
        (f"phare/v1/{tenant}/detecteur-1/event",
         orjson.dumps({"ts": ts, "type": "test", "active": True, "detail": {"by": "maintenance"}})),
        (f"phare/v1/{tenant}/detecteur-1/status", b'{"online": true, "fw": "1.4.2"}'),
    ])
    wait_for(lambda: count(conn, "select count(*) from events e join devices d on d.uid = "
                                 "e.device_uid join tenants t on t.id = d.tenant_id "
                                 "where t.slug = %s and d.id = 'detecteur-1' and e.type = 'test'",
                           tenant))
    wait_for(lambda: device_row(conn, tenant, "detecteur-1", "online, firmware, last_seen is not null")
             == (True, "1.4.2", True))
    client.disconnect()


def test_device_registered_after_rejection_is_accepted_within_two_seconds(
        broker, consumer, conn, tenant):
    client = publisher(broker)
    topic = f"phare/v1/{tenant}/nouveau/telemetry"
    ts = datetime.now(UTC) - timedelta(minutes=1)
    publish_all(client, [(topic, reading(ts, 1, power_w=1.0))])
    wait_for(lambda: rejections(conn, tenant))
    register_device(conn, tenant, "nouveau")
    time.sleep(2.0)
    publish_all(client, [(topic, reading(ts + timedelta(seconds=1), 2, power_w=2.0))])
    wait_for(lambda: stored_values(conn, tenant) == 1, timeout=5)
    client.disconnect()


@pytest.mark.slow
def test_sigterm_drains_and_nothing_is_lost(broker, settings, conn, tenant):
    """`phare ingest` exits 0 on SIGTERM; what it had not acknowledged is redelivered later."""
    register_device(conn, tenant, "armoire-2")
    env = env_for(settings, PHARE_INGEST_CLIENT_ID=f"drain-{uuid.uuid4().hex[:6]}")
    cmd = [sys.executable, "-c", "from phare.cli import main; main()", "ingest"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = publisher(broker)
    t0 = datetime.now(UTC) - timedelta(days=1)
    messages = [(f"phare/v1/{tenant}/armoire-2/telemetry",
                 reading(t0 + timedelta(seconds=i), i, power_w=float(i))) for i in range(3000)]
    time.sleep(2)  # connected and subscribed
    publish_all(client, messages[:1500])
    proc.send_signal(signal.SIGTERM)
    publish_all(client, messages[1500:])  # published while it drains: kept by the broker
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
    assert b"ingest stopped" in out
    # Same client id again: the persistent session delivers what was not acknowledged.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: stored_values(conn, tenant) >= 3000, timeout=30)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert stored_values(conn, tenant) == 3000
    client.disconnect()


def test_last_will_marks_the_device_offline(broker, consumer, conn, tenant):
    register_device(conn, tenant, "armoire-lw")
    topic = f"phare/v1/{tenant}/armoire-lw/status"
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:6]}")
    device.will_set(topic, b'{"online": false}', qos=1, retain=True)
    device.connect("127.0.0.1", broker.port, keepalive=5)
    device.loop_start()
    device.publish(topic, b'{"online": true, "fw": "2.0.1"}', qos=1, retain=True).wait_for_publish(5)
    wait_for(lambda: device_row(conn, tenant, "armoire-lw", "online") == (True,))
    device.socket().close()  # the device vanishes without a DISCONNECT: the broker sends its will
    device.loop_stop()
    wait_for(lambda: device_row(conn, tenant, "armoire-lw", "online, firmware") == (False, "2.0.1"),
             timeout=20)
    # Clear the retained status, which every later subscriber would otherwise receive.
    client = publisher(broker)
    publish_all(client, [(topic, b"")])
    client.disconnect()
