"""Notifications: routing, and delivery to a local webhook receiver, SMTP server (aiosmtpd)
and the test broker, all started by the tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
import pytest

from alerts import lifecycle
from alerts.model import Device, TransitionKind
from alerts.notify.dispatcher import Dispatcher
from alerts.notify.mqtt import alerts_topic
from alerts.notify.routing import routes_for
from alerts.notify.webhook import signature
from phare.settings import Settings
from phare.tenancy import add_tenant
from tests.alerts.conftest import Hook, Smtp, add_device, add_route
from tests.conftest import wait_for


def utc_now() -> datetime:
    return datetime.now(UTC)


def open_flood(conn: psycopg.Connection, device: Device, settings: Settings,
               severity: str = "high") -> int:
    return lifecycle.raise_alert(conn, device=device, alert_type="flood", severity=severity,
                                 now=utc_now(), settings=settings, source="test",
                                 text_key="flood.level",
                                 params={"level": "orange", "value": 142}).alert.id


def log(conn: psycopg.Connection, alert_id: int) -> list[tuple]:
    return [tuple(r) for r in conn.execute(
        "select channel, target, status, attempts, error from notification_log "
        "where alert_id = %s order by id", (alert_id,))]


def test_the_webhook_is_signed_and_retried_until_it_is_accepted(
        conn: psycopg.Connection, tenant: str, gauge: Device, alert_settings: Settings,
        webhook: Hook) -> None:
    add_route(conn, tenant, "webhook", webhook.url, secret="clé")
    webhook.statuses = [503, 500]
    alert_id = open_flood(conn, gauge, alert_settings)
    dispatcher = Dispatcher(alert_settings)
    try:
        wait_for(lambda: dispatcher.send_due(conn) == 0 and len(webhook.requests) == 3, timeout=5)
    finally:
        dispatcher.close()
    assert len({r["body"] for r in webhook.requests}) == 1  # the same body each time
    for request in webhook.requests:
        assert request["headers"]["X-Phare-Signature"] == signature("clé", request["body"])
        assert request["headers"]["X-Phare-Signature"] == "sha256=" + hmac.new(
            "clé".encode(), request["body"], hashlib.sha256).hexdigest()
    assert len({r["headers"]["X-Phare-Delivery"] for r in webhook.requests}) == 1
    assert log(conn, alert_id) == [("webhook", webhook.url, "sent", 3, None)]
    body = json.loads(webhook.requests[0]["body"])
    assert body["alert"]["message"].startswith("Inondation — niveau orange (142 cm)")


def test_a_refused_webhook_fails_at_once_and_an_unreachable_one_after_its_attempts(
        conn: psycopg.Connection, tenant: str, gauge: Device, alert_settings: Settings,
        webhook: Hook) -> None:
    add_route(conn, tenant, "webhook", webhook.url, secret="k")
    add_route(conn, tenant, "webhook", "http://127.0.0.1:9/nobody", secret="k")
    webhook.statuses = [404]
    settings = alert_settings.model_copy(update={"notify_max_attempts": 2})
    alert_id = open_flood(conn, gauge, settings)
    dispatcher = Dispatcher(settings)
    try:
        wait_for(lambda: dispatcher.send_due(conn) == 0 and all(
            status == "failed" for _, _, status, _, _ in log(conn, alert_id)), timeout=5)
    finally:
        dispatcher.close()
    (_, _, _, refused_attempts, refused), (_, _, _, away_attempts, away) = log(conn, alert_id)
    assert (refused_attempts, away_attempts) == (1, 2)
    assert "404" in refused and "cannot reach" in away


def test_an_email_in_french_through_smtp(conn: psycopg.Connection, tenant: str, gauge: Device,
                                         alert_settings: Settings, smtp: Smtp) -> None:
    add_route(conn, tenant, "email", "astreinte@mairie.example; dgs@mairie.example")
    add_route(conn, tenant, "email", "ops@sdis.example", lang="en")
    alert_id = open_flood(conn, gauge, alert_settings)
    dispatcher = Dispatcher(alert_settings)
    try:
        dispatcher.send_due(conn)
    finally:
        dispatcher.close()
    assert [status for _, _, status, _, _ in log(conn, alert_id)] == ["sent", "sent"]
    assert [rcpt for _, rcpt in smtp.mailbox.envelopes] == [
        ["astreinte@mairie.example", "dgs@mairie.example"], ["ops@sdis.example"]]
    fr, en = smtp.mailbox.messages
    assert str(fr["Subject"]).startswith("Inondation — niveau orange (142 cm) au capteur "
                                         "« Pont de la Halle »")
    assert "Gravité : élevée" in fr.get_content()
    assert str(en["Subject"]).startswith("Flood — orange level (142 cm) at sensor")
    assert "Severity: high" in en.get_content()


def test_mqtt_alerts_are_published_and_ingest_ignores_them(
        broker, consumer, conn: psycopg.Connection, tenant: str, gauge: Device,
        alert_settings: Settings) -> None:
    add_route(conn, tenant, "mqtt")
    got: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
    client.on_message = lambda c, u, m: got.append(m)
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.subscribe(alerts_topic(tenant), qos=1)
    client.loop_start()
    assert subscribed.wait(5)
    alert_id = open_flood(conn, gauge, alert_settings)
    dispatcher = Dispatcher(alert_settings)
    try:
        dispatcher.send_due(conn)
        wait_for(lambda: got, timeout=5)
    finally:
        dispatcher.close()
        client.loop_stop()
    assert got[0].topic == f"phare/v1/{tenant}/alerts" and got[0].qos == 1
    assert json.loads(got[0].payload)["alert"]["id"] == alert_id
    received = consumer.stats.received
    wait_for(lambda: consumer.stats.received > received or consumer.idle, timeout=2)
    assert conn.execute("select count(*) from rejected_messages where topic = %s",
                        (alerts_topic(tenant),)).fetchone() == (0,)


def test_routes_by_type_severity_level_and_the_tenant_tree(
        conn: psycopg.Connection, tenant: str, settings: Settings) -> None:
    commune = f"{tenant}-c"
    add_tenant(conn, commune, "Commune de Murat", parent=tenant)
    gauge = add_device(conn, commune, "crue-m", name="Pont")
    epci_duty = add_route(conn, tenant, "email", "astreinte@epci.example", min_severity="high")
    floods = add_route(conn, commune, "webhook", "http://x/floods", types=["flood"])
    fires = add_route(conn, commune, "webhook", "http://x/fires", types=["fire"])
    mayor = add_route(conn, commune, "email", "maire@murat.example", level=1)
    alert = lifecycle.raise_alert(conn, device=gauge, alert_type="flood", severity="medium",
                                  now=utc_now(), settings=settings, source="test").alert

    def ids(kind: TransitionKind) -> set[int]:
        return {r.id for r in routes_for(conn, alert, kind)}

    assert ids(TransitionKind.OPENED) == {floods}
    assert fires not in ids(TransitionKind.OPENED)
    worse = lifecycle.raise_alert(conn, device=gauge, alert_type="flood", severity="critical",
                                  now=utc_now(), settings=settings, source="test").alert
    alert = worse
    assert ids(TransitionKind.SEVERITY_RAISED) == {floods, epci_duty}
    conn.execute("update alerts set escalation_level = 1 where id = %s", (alert.id,))
    alert = lifecycle.store.fetch_alert(conn, alert.id)  # type: ignore[assignment]
    assert ids(TransitionKind.ESCALATED) == {mayor}
    conn.execute("update alerts set escalation_level = 3 where id = %s", (alert.id,))
    alert = lifecycle.store.fetch_alert(conn, alert.id)  # type: ignore[assignment]
    assert ids(TransitionKind.ESCALATED) == {mayor}  # no level 3: the highest below
    assert ids(TransitionKind.ACKNOWLEDGED) == set()


@pytest.mark.parametrize("event", ["opened", "resolved"])
def test_a_route_may_decline_the_all_clear(conn: psycopg.Connection, tenant: str,
                                           gauge: Device, settings: Settings, event: str) -> None:
    route = add_route(conn, tenant, "webhook", "http://x/")
    conn.execute("update notification_routes set notify_resolved = false where id = %s", (route,))
    alert = lifecycle.raise_alert(conn, device=gauge, alert_type="flood", severity="high",
                                  now=utc_now(), settings=settings, source="test").alert
    expected = {route} if event == "opened" else set()
    assert {r.id for r in routes_for(conn, alert, TransitionKind(event))} == expected
