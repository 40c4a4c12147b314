"""Alerts through the API (contract §3, §5): list and filter, acknowledge, resolve, 409 on a
resolved alert, scope (404 for another commune), roles, history, CAP feed."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from alerts import lifecycle
from alerts.store import load_device
from phare.settings import Settings
from tests.api.conftest import Tree, auth, key_for
from tests.conftest import register_device

ALERTS = "/api/v1/alerts"


def open_alert(conn: psycopg.Connection, settings: Settings, tenant: str, device_id: str,
               alert_type: str = "flood", severity: str = "high") -> int:
    uid = register_device(conn, tenant, device_id, "hazard_detector")
    return lifecycle.raise_alert(conn, device=load_device(conn, uid), alert_type=alert_type,
                                 severity=severity, now=datetime.now(UTC), settings=settings,
                                 source="test", text_key="flood.level",
                                 params={"level": "orange", "value": 142}).alert.id


@pytest.fixture
def alerts(conn: psycopg.Connection, settings: Settings, tree: Tree) -> dict[str, int]:
    return {"a": open_alert(conn, settings, tree.commune_a, "crue-a"),
            "a_fire": open_alert(conn, settings, tree.commune_a, "dfumee-a", "fire", "critical"),
            "b": open_alert(conn, settings, tree.commune_b, "crue-b")}


def test_the_list_is_scoped_filtered_and_counted(client: TestClient, conn: psycopg.Connection,
                                                 tree: Tree, alerts: dict[str, int]) -> None:
    epci = key_for(conn, tree.epci, "viewer")
    body = client.get(ALERTS, headers=auth(epci)).json()
    assert body["count"] == 3 and {a["id"] for a in body["data"]} == set(alerts.values())
    first = next(a for a in body["data"] if a["id"] == alerts["a"])
    assert {"id", "tenant", "device_id", "type", "severity", "status", "opened_at",
            "message"} <= set(first)
    assert (first["tenant"], first["device_id"], first["status"]) == (tree.commune_a, "crue-a",
                                                                      "open")
    assert first["opened_at"].endswith("Z")
    assert first["message"].startswith("Inondation — niveau orange (142 cm)")
    only = client.get(ALERTS, params={"type": "fire"}, headers=auth(epci)).json()
    assert [a["id"] for a in only["data"]] == [alerts["a_fire"]] and only["count"] == 1
    mine = client.get(ALERTS, params={"tenant": tree.commune_b, "status": "open"},
                      headers=auth(epci)).json()
    assert [a["id"] for a in mine["data"]] == [alerts["b"]]
    english = client.get(f"{ALERTS}/{alerts['a']}", params={"lang": "en"}, headers=auth(epci))
    assert english.json()["message"].startswith("Flood — orange level (142 cm)")
    assert client.get(ALERTS, params={"status": "closed"}, headers=auth(epci)).status_code == 422


def test_acknowledge_then_resolve_and_a_resolved_alert_cannot_be_acknowledged(
        client: TestClient, conn: psycopg.Connection, tree: Tree, alerts: dict[str, int]) -> None:
    key = key_for(conn, tree.commune_a, "operator")
    url = f"{ALERTS}/{alerts['a']}"
    acked = client.post(f"{url}/ack", json={"comment": "Équipe sur place", "by": "Jeanne"},
                        headers=auth(key))
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert (body["status"], body["ack_comment"]) == ("acknowledged", "Équipe sur place")
    assert body["acknowledged_by"].startswith("Jeanne (key:")
    again = client.post(f"{url}/ack", headers=auth(key))
    assert again.status_code == 200 and again.json()["acknowledged_at"] == body["acknowledged_at"]
    resolved = client.post(f"{url}/resolve", json={"comment": "Décrue"}, headers=auth(key))
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert resolved.json()["resolution"] == "manual"
    late = client.post(f"{url}/ack", headers=auth(key))
    assert late.status_code == 409 and "resolved" in late.json()["detail"]
    assert client.post(f"{url}/resolve", headers=auth(key)).status_code == 409
    history = client.get(f"{url}/transitions", headers=auth(key)).json()
    assert [t["kind"] for t in history["data"]] == ["opened", "acknowledged", "resolved"]
    assert history["data"][1]["comment"] == "Équipe sur place"
    audit = conn.execute("select action from audit_log where target like %s order by id",
                         (f"%/alert-{alerts['a']}",)).fetchall()
    assert audit == [("alert.acknowledge",), ("alert.resolve",)]


def test_another_communes_key_gets_404_and_a_viewer_may_not_acknowledge(
        client: TestClient, conn: psycopg.Connection, tree: Tree, alerts: dict[str, int]) -> None:
    neighbour = key_for(conn, tree.commune_b, "admin")
    url = f"{ALERTS}/{alerts['a']}"
    assert client.get(url, headers=auth(neighbour)).status_code == 404
    assert client.get(f"{url}/transitions", headers=auth(neighbour)).status_code == 404
    assert client.get(ALERTS, params={"tenant": tree.commune_a},
                      headers=auth(neighbour)).status_code == 404
    listed = client.get(ALERTS, headers=auth(neighbour)).json()
    assert [a["id"] for a in listed["data"]] == [alerts["b"]]
    assert client.post(f"{url}/ack", headers=auth(neighbour)).status_code == 404
    viewer = key_for(conn, tree.commune_a, "viewer")
    assert client.post(f"{url}/ack", headers=auth(viewer)).status_code == 403
    assert client.get(url, headers=auth(viewer)).json()["status"] == "open"
    assert client.get(ALERTS).status_code == 401


def test_the_cap_feed_and_documents_are_scoped(client: TestClient, conn: psycopg.Connection,
                                               tree: Tree, alerts: dict[str, int]) -> None:
    mine = key_for(conn, tree.commune_a, "viewer")
    feed = client.get("/api/v1/cap/feed", headers=auth(mine))
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")
    identifiers = [r[0] for r in conn.execute(
        "select identifier from cap_messages where alert_id = any(%s) order by id",
        ([alerts["a"], alerts["a_fire"], alerts["b"]],))]
    assert len(identifiers) == 3
    for identifier in identifiers[:2]:
        assert identifier in feed.text
    assert identifiers[2] not in feed.text
    document = client.get(f"/api/v1/cap/{identifiers[0]}.xml", headers=auth(mine))
    assert document.status_code == 200 and b"<language>fr-FR</language>" in document.content
    assert client.get(f"/api/v1/cap/{identifiers[2]}.xml", headers=auth(mine)).status_code == 404


def test_the_stream_needs_a_key_and_known_types(client: TestClient, conn: psycopg.Connection,
                                                tenant: str) -> None:
    assert client.get("/api/v1/stream").status_code == 401
    key = key_for(conn, tenant, "viewer")
    response = client.get("/api/v1/stream", params={"types": "alerts,weather"}, headers=auth(key))
    assert response.status_code == 422 and "types" in response.json()["detail"]
