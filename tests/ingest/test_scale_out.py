"""Several ingest workers share the load through an MQTT 5 shared subscription."""

from __future__ import annotations

import time
import urllib.request
import uuid

import pytest

from ingest.consumer import Consumer
from tests.conftest import free_port, register_device, wait_for
from tests.ingest.test_consumer import publish_all, publisher, stored_values
from tests.ingest.test_faults import messages_for

pytestmark = pytest.mark.slow


def settle(*consumers, quiet: float = 0.5) -> list[int]:
    """Waits until retained messages (other tests' device statuses) stopped arriving."""
    last, since = None, time.monotonic()
    while time.monotonic() - since < quiet:
        now = [c.stats.received for c in consumers]
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(0.05)
    assert last is not None
    return last


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
    before = settle(*workers)
    try:
        client = publisher(broker)
        publish_all(client, messages_for(tenant, "armoire-s", 2000))
        wait_for(lambda: stored_values(conn, tenant) == 4000, timeout=30)
        received = [w.stats.received - b for w, b in zip(workers, before, strict=True)]
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
        (received,) = settle(consumer)
        stored, invalid = consumer.stats.values_stored, consumer.stats.rejected["invalid_json"]
        client = publisher(broker)
        publish_all(client, messages_for(tenant, "armoire-m", 10)
                    + [(f"phare/v1/{tenant}/armoire-m/telemetry", b"{oops")])
        wait_for(lambda: consumer.stats.values_stored == stored + 20 and consumer.idle)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert f"phare_ingest_messages_received_total {received + 11}.0" in body
        assert f"phare_ingest_values_stored_total {stored + 20}.0" in body
        assert f'phare_ingest_rejected_total{{reason="invalid_json"}} {invalid + 1}.0' in body
        for name in ("phare_ingest_batch_seconds_count", "phare_ingest_queue_depth",
                     "phare_ingest_spool_bytes", "phare_ingest_db_write_errors_total"):
            assert name in body
        client.disconnect()
    finally:
        consumer.stop()
