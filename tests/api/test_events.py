"""`GET /events`: filters, the bounded time window, paging, and the key's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Tree, auth, key_for
from tests.conftest import register_device

EVENTS = "/api/v1/events"
NOW = datetime.now(UTC).replace(microsecond=0)


def add_event(conn: psycopg.Connection, uid: int, event_type: str, ts: datetime,
              active: bool = True) -> None:
    """Stores an event directly, as ingest would (ingest is tested on its own)."""
    conn.execute("insert into events (ts, tenant_id, device_uid, type, active, detail) "
                 "select %s, tenant_id, uid, %s, %s, '{\"input\": 2}' from devices where uid = %s",
                 (ts, event_type, active, uid))


@pytest.fixture
def events(conn: psycopg.Connection, tree: Tree) -> Tree:
    """In A: a door opened and closed an hour ago, a breaker trip 10 days ago; in B: smoke."""
    cabinet = register_device(conn, tree.commune_a, "armoire-1")
    add_event(conn, cabinet, "door_open", NOW - timedelta(hours=1))
    add_event(conn, cabinet, "door_open", NOW - timedelta(minutes=50), active=False)
    add_event(conn, cabinet, "breaker_trip", NOW - timedelta(days=10))
    detector = register_device(conn, tree.commune_b, "detecteur-1", "hazard_detector")
    add_event(conn, detector, "smoke", NOW - timedelta(hours=2))
    return tree


def test_events_of_the_last_7_days_newest_first(client: TestClient, conn: psycopg.Connection,
                                                events: Tree) -> None:
    r = client.get(EVENTS, headers=auth(key_for(conn, events.epci)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(e["tenant"], e["device_id"], e["type"], e["active"]) for e in body["data"]] == [
        (events.commune_a, "armoire-1", "door_open", False),
        (events.commune_a, "armoire-1", "door_open", True),
        (events.commune_b, "detecteur-1", "smoke", True),
    ]
    assert body["count"] == 3
    first = body["data"][0]
    assert first["ts"] == (NOW - timedelta(minutes=50)).isoformat().replace("+00:00", "Z")
    assert first["detail"] == {"input": 2} and first["kind"] == "lighting_cabinet"


def test_filters_and_window(client: TestClient, conn: psycopg.Connection, events: Tree) -> None:
    key = auth(key_for(conn, events.epci))

    def types(**params: str) -> list[str]:
        r = client.get(EVENTS, params=params, headers=key)
        assert r.status_code == 200, r.text
        return [e["type"] for e in r.json()["data"]]

    assert types(tenant=events.commune_b) == ["smoke"]
    assert types(device="armoire-1") == ["door_open", "door_open"]
    assert types(type="smoke") == ["smoke"]
    old = {"from": (NOW - timedelta(days=30)).isoformat(), "to": NOW.isoformat()}
    assert types(**old, type="breaker_trip") == ["breaker_trip"]
    assert types(**old, limit="1", offset="1") == ["door_open"]
    r = client.get(EVENTS, params={**old, "limit": "1"}, headers=key)
    assert r.json()["count"] == 4


def test_a_key_sees_only_its_scope(client: TestClient, conn: psycopg.Connection,
                                   events: Tree) -> None:
    key = auth(key_for(conn, events.commune_a, "viewer"))
    r = client.get(EVENTS, headers=key)
    assert {e["tenant"] for e in r.json()["data"]} == {events.commune_a}
    assert client.get(EVENTS, params={"tenant": events.commune_b},
                      headers=key).status_code == 404


@pytest.mark.parametrize(("params", "reason"), [
    ({"from": "2025-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"}, "at most 366 days"),
    ({"from": "2026-06-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"}, "must be earlier"),
    ({"from": "hier"}, "RFC 3339"),
    ({"limit": "0"}, "limit"),
    ({"device": "pas un id!"}, "device"),
], ids=["window-too-long", "reversed", "not-a-date", "limit", "device-id"])
def test_invalid_queries_are_422(client: TestClient, admin_key: str, params: dict,
                                 reason: str) -> None:
    r = client.get(EVENTS, params=params, headers=auth(admin_key))
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]


def test_a_366_day_window_is_allowed(client: TestClient, admin_key: str) -> None:
    r = client.get(EVENTS, params={"from": "2025-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
                   headers=auth(admin_key))
    assert r.status_code == 200, r.text


def test_a_422_is_what_the_openapi_document_declares(client: TestClient, admin_key: str) -> None:
    """The document names Phare's 422 body (api/errors.py), not FastAPI's HTTPValidationError."""
    document = client.get("/openapi.json").json()
    declared = document["paths"]["/api/v1/events"]["get"]["responses"]["422"]
    ref = declared["content"]["application/json"]["schema"]["$ref"]
    model = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert model["properties"]["detail"]["type"] == "string"
    assert model["properties"]["errors"]["type"] == "array"
    body = client.get(EVENTS, params={"limit": "0"}, headers=auth(admin_key)).json()
    assert set(body) == set(model["required"])
    assert isinstance(body["detail"], str)
    assert body["errors"] == [{"loc": ["query", "limit"], "type": "greater_than_equal",
                               "msg": "Input should be greater than or equal to 1"}]
