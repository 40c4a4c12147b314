"""Several ingest workers share the load through an MQTT 5 shared subscription."""

from __future__ import annotations

import time
import uuid
import urllib.request

import pytest

from ingest.consumer import Consumer
from tests.conftest import free_port, register_device, wait_for
from tests.ingest.test_consumer import publish_all, publisher, stored_values
from tests.ingest.test_faults import messages_for

pytestmark = pytest.mark.slow


def test_two_workers_share_the_stream_and_store_everything_once(settings, broker, conn, tenant):
    register_device(conn, tenant, "armoire-s")
    group = f"g{uuid.uuid4().hex[:8]}"
    workers = [
        Consumer(settings.model_copy(update={"ingest_client_id": f"w{i}-{group}",
                                             "ingest_shared_group": group}))
        for i in range(2)
    ]
    for w in workers:
        w.start()
        assert w.wait_connected()
    time.sleep(0.2)
    try:
        client = publisher(broker)
        publish_all(client, messages_for(tenant, "armoire-s", 2000))
        wait_for(lambda: stored_values(conn, tenant) == 4000, timeout=30)
        received = [w.stats.received for w in workers]
        assert all(n > 200 for n in received), received  # both did real work
        assert sum(received) == 2000  # each message went to exactly one of them
        client.disconnect()
    finally:
        for w in workers:
            w.stop()


def test_metrics_endpoint_counts_messages_and_rejections(settings, broker, conn, tenant):
    register_device(conn, tenant, "armoire-m")
    port = free_port()
    consumer = Consumer(settings.model_copy(update={
        "ingest_client_id": f"metrics-{uuid.uuid4().hex[:6]}", "ingest_metrics_port": port}))
    consumer.start()
    try:
        assert consumer.wait_connected()
        time.sleep(0.1)
        client = publisher(broker)
        publish_all(client, messages_for(tenant, "armoire-m", 10)
                    + [(f"phare/v1/{tenant}/armoire-m/telemetry", b"{oops")])
        wait_for(lambda: consumer.stats.values_stored == 20 and consumer.idle)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert "phare_ingest_messages_received_total 11.0" in body
        assert "phare_ingest_values_stored_total 20.0" in body
        assert 'phare_ingest_rejected_total{reason="invalid_json"} 1.0' in body
        for name in ("phare_ingest_batch_seconds_count", "phare_ingest_queue_depth",
                     "phare_ingest_spool_bytes", "phare_ingest_db_write_errors_total"):
            assert name in body
        client.disconnect()
    finally:
        consumer.stop()
