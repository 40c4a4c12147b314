"""Rejected messages are replayed once their cause is fixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.replay import replay
from phare import db
from tests.conftest import register_device, wait_for
from tests.ingest.test_consumer import publish_all, publisher, reading, rejections, stored_values


def pending(conn, tenant):
    return conn.execute(
        "select count(*) from rejected_messages r join tenants t on t.id = r.tenant_id "
        "where t.slug = %s and replayed_at is null", (tenant,)).fetchone()[0]


def test_unknown_device_replayed_after_registration(settings, broker, consumer, conn, tenant):
    client = publisher(broker)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    msgs = [(f"phare/v1/{tenant}/en-attente/telemetry", reading(t0 + timedelta(minutes=i), i,
                                                                  power_w=float(i), bad="x"))
            for i in range(5)]
    publish_all(client, msgs)
    # Each message: unknown device; its invalid metric is counted too.
    wait_for(lambda: len(rejections(conn, tenant)) == 10)
    client.disconnect()

    register_device(conn, tenant, "en-attente")
    tenant_id = conn.execute("select id from tenants where slug = %s", (tenant,)).fetchone()[0]
    with db.connect(settings) as c:
        result = replay(c, settings, tenant_ids=[tenant_id], reason=None)
    assert result.messages == 5
    assert result.values_stored == 5
    assert result.rejected_again == {"invalid_value": 5}  # still wrong: rejected again, alone
    assert stored_values(conn, tenant) == 5
    assert pending(conn, tenant) == 5  # the five new invalid_value rows

    with db.connect(settings) as c:  # replaying again stores nothing twice
        again = replay(c, settings, tenant_ids=[tenant_id], reason="unknown_device")
    assert again.messages == 0 and stored_values(conn, tenant) == 5
