"""No loss, no duplicates when things fail: each test counts stored rows against messages sent.

The database outage is a real network cut between the consumer and the real PostgreSQL
(tests/tcpproxy.py), not a mock.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from pydantic import SecretStr

from ingest.consumer import Consumer
from tests.conftest import Broker, env_for, register_device, wait_for
from tests.ingest.test_consumer import publish_all, publisher, reading, rejections, stored_values
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow


def messages_for(tenant, device, n, start=None, metrics=2):
    t0 = start or datetime.now(UTC) - timedelta(days=2)
    return [(f"phare/v1/{tenant}/{device}/telemetry",
             reading(t0 + timedelta(seconds=i), i, **{f"m{k}": float(i) for k in range(metrics)}))
            for i in range(n)]


def test_database_outage_spools_to_disk_then_writes_everything_once(settings, broker, conn, tenant):
    register_device(conn, tenant, "armoire-db")
    url = urlsplit(settings.database_url.get_secret_value())
    proxy = TcpProxy(url.hostname, url.port or 5432)
    proxied = urlunsplit(url._replace(netloc=f"{url.username}:{url.password}@127.0.0.1:{proxy.port}"))
    spool_dir = Path(tempfile.mkdtemp(prefix="phare-spool-"))
    consumer = Consumer(settings.model_copy(update={
        "database_url": SecretStr(proxied), "ingest_client_id": f"outage-{uuid.uuid4().hex[:6]}",
        "ingest_spool_dir": spool_dir, "ingest_queue_max_messages": 500}))
    consumer.start()
    try:
        assert consumer.wait_connected()
        client = publisher(broker)
        msgs = messages_for(tenant, "armoire-db", 3000)
        publish_all(client, msgs[:500])
        wait_for(lambda: stored_values(conn, tenant) == 1000)

        proxy.cut()  # the database goes away
        publish_all(client, msgs[500:2500])  # 2000 messages, 4x the in-memory queue
        wait_for(lambda: consumer.stats.spooled >= 2000, timeout=30)
        assert stored_values(conn, tenant) == 1000
        assert any(spool_dir.rglob("segment-*.bin"))  # on disk, not in memory

        proxy.restore()  # back: the spool is written, then new messages
        publish_all(client, msgs[2500:])
        wait_for(lambda: stored_values(conn, tenant) >= 6000, timeout=60)
        time.sleep(0.5)
        assert stored_values(conn, tenant) == 6000
        assert not any(spool_dir.rglob("segment-*.bin"))
        assert consumer.stats.db_errors >= 1
        client.disconnect()
    finally:
        consumer.stop()
        proxy.close()


def test_sigkill_mid_stream_loses_nothing_and_stores_once(settings, broker, conn, tenant):
    register_device(conn, tenant, "armoire-kill")
    env = env_for(settings, PHARE_INGEST_CLIENT_ID=f"kill-{uuid.uuid4().hex[:6]}")
    cmd = [sys.executable, "-c", "from phare.cli import main; main()", "ingest"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = publisher(broker)
    try:
        # Started and subscribed once a first message (resent until then) is stored.
        warmup = messages_for(tenant, "armoire-kill", 1, start=datetime(2026, 1, 1, tzinfo=UTC))

        def warmed_up():
            publish_all(client, warmup)
            return stored_values(conn, tenant) == 2

        wait_for(warmed_up, timeout=30, interval=0.5)
        msgs = messages_for(tenant, "armoire-kill", 6000)
        infos = [client.publish(t, p, qos=1) for t, p in msgs]
        wait_for(lambda: stored_values(conn, tenant) > 2000, timeout=30)
        proc.send_signal(signal.SIGKILL)  # mid-stream
        proc.wait(10)
        killed_at = stored_values(conn, tenant)
        for info in infos:
            info.wait_for_publish(30)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: stored_values(conn, tenant) >= 12002, timeout=60)
        time.sleep(1)
        assert killed_at < 12002  # it really was killed mid-stream
        assert stored_values(conn, tenant) == 12002  # everything, once
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        client.disconnect()


def test_broker_restart_reconnects_without_crash(settings, conn, tenant):
    directory = Path(tempfile.mkdtemp(prefix="phare-test-mqtt-"))
    directory.chmod(0o777)
    own = Broker(directory)
    own.start()
    register_device(conn, tenant, "armoire-broker")
    consumer = Consumer(settings.model_copy(update={
        "mqtt_url": own.url, "ingest_client_id": f"restart-{uuid.uuid4().hex[:6]}"}))
    consumer.start()
    try:
        assert consumer.wait_connected()
        msgs = messages_for(tenant, "armoire-broker", 400)
        client = publisher(own)
        publish_all(client, msgs[:200])
        wait_for(lambda: stored_values(conn, tenant) == 400)
        client.disconnect()
        own.stop()
        wait_for(lambda: not consumer._connected.is_set())
        own.start()  # same port, persistent sessions restored from disk
        assert consumer.wait_connected(30), "consumer did not reconnect"
        client = publisher(own)
        publish_all(client, msgs[200:])
        wait_for(lambda: stored_values(conn, tenant) == 800)
        assert consumer._writer_thread.is_alive()
        client.disconnect()
    finally:
        consumer.stop()
        own.stop()


def test_poison_message_does_not_block_the_others(settings, broker, consumer, conn, tenant):
    """A message the database refuses is rejected alone; its batch neighbours are stored."""
    register_device(conn, tenant, "detecteur-p", kind="hazard_detector")
    # A real refusal by PostgreSQL, in this session's schema only.
    conn.execute("alter table events add constraint refuse_poison check (type <> 'poison-pill')")
    try:
        client = publisher(broker)
        ts = datetime.now(UTC) - timedelta(minutes=5)
        msgs = messages_for(tenant, "detecteur-p", 100, start=ts - timedelta(hours=1))
        poison = (f"phare/v1/{tenant}/detecteur-p/event",
                  f'{{"ts": "{ts.isoformat()}", "type": "poison-pill"}}'.encode())
        publish_all(client, msgs[:50] + [poison] + msgs[50:])
        wait_for(lambda: stored_values(conn, tenant) == 200 and rejections(conn, tenant))
        reasons = rejections(conn, tenant)
        assert [r[0] for r in reasons] == ["storage_error"]
        assert "refuse_poison" in reasons[0][1]
        client.disconnect()
    finally:
        conn.execute("alter table events drop constraint refuse_poison")
