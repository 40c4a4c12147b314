"""`GET /rejected` and `/rejected/counts`: what ingest set aside, as each key may see it.

Rejections are inserted with SQL (ingest writes them; that is tested in tests/ingest).
"""

from __future__ import annotations

import uuid

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import Tree, auth, key_for

REJECTED = "/api/v1/rejected"


def reject(conn: psycopg.Connection, tenant: str | None, reason: str, payload: bytes,
           *, device_id: str | None = "armoire-1", received_at: str | None = None) -> int:
    row = conn.execute(
        "insert into rejected_messages "
        "(received_at, tenant_id, device_id, topic, reason, detail, payload, payload_size) "
        "values (coalesce(%s::timestamptz, now()), (select id from tenants where slug = %s), "
        "        %s, %s, %s, %s, %s, %s) returning id",
        (received_at, tenant, device_id, f"phare/v1/{tenant or 'nobody'}/{device_id}/telemetry",
         reason, f"la raison : {reason}", payload, len(payload)),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_list_newest_first_with_excerpt(client: TestClient, conn: psycopg.Connection,
                                        tenant: str, admin_key: str) -> None:
    older = reject(conn, tenant, "invalid_json", b"{not json", received_at="2026-03-01T10:00Z")
    # 600 bytes whose 512th byte cuts a two-byte character in half.
    big = b"a" * 511 + "é".encode() + b"b" * 87
    newer = reject(conn, tenant, "unknown_device", big, received_at="2026-03-01T11:00Z")

    r = client.get(REJECTED, headers=auth(admin_key))
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    assert [m["id"] for m in body["data"]] == [newer, older]
    first = body["data"][0]
    assert first["tenant"] == tenant
    assert first["device_id"] == "armoire-1"
    assert first["topic"] == f"phare/v1/{tenant}/armoire-1/telemetry"
    assert first["reason"] == "unknown_device"
    assert first["detail"] == "la raison : unknown_device"
    assert first["payload_size"] == 600
    assert first["payload_excerpt"] == "a" * 511 + "\ufffd"  # 512 bytes, cut char replaced
    assert body["data"][1]["payload_excerpt"] == "{not json"


def test_filters_and_pages(client: TestClient, conn: psycopg.Connection, tenant: str,
                           admin_key: str) -> None:
    for i in range(3):
        reject(conn, tenant, "invalid_json", b"x", received_at=f"2026-03-01T1{i}:00Z")
    reject(conn, tenant, "not_decoded", b"y")

    only = client.get(REJECTED, params={"reason": "invalid_json"}, headers=auth(admin_key)).json()
    assert only["count"] == 3
    assert {m["reason"] for m in only["data"]} == {"invalid_json"}

    page = client.get(REJECTED, params={"reason": "invalid_json", "limit": 1, "offset": 1},
                      headers=auth(admin_key)).json()
    assert page["count"] == 3
    assert [m["received_at"][:13] for m in page["data"]] == ["2026-03-01T11"]


def test_counts_per_reason(client: TestClient, conn: psycopg.Connection, tenant: str,
                           admin_key: str) -> None:
    for reason in ["invalid_json", "unknown_device", "unknown_device", "unknown_device"]:
        reject(conn, tenant, reason, b"{}")
    r = client.get(f"{REJECTED}/counts", headers=auth(admin_key))
    assert r.status_code == 200
    assert r.json() == {"data": [{"reason": "unknown_device", "count": 3},
                                 {"reason": "invalid_json", "count": 1}], "count": 2}


def test_rejections_of_no_known_tenant_are_for_root_keys_only(
        client: TestClient, conn: psycopg.Connection, tree: Tree) -> None:
    reason = f"test_{uuid.uuid4().hex[:8]}"  # other tests' tenantless rows share the table
    orphan = reject(conn, None, reason, b"{}", device_id=None)
    root = client.get(REJECTED, params={"reason": reason},
                      headers=auth(key_for(conn, tree.epci))).json()
    assert [m["id"] for m in root["data"]] == [orphan]
    assert root["data"][0]["tenant"] is None
    root_counts = client.get(f"{REJECTED}/counts", headers=auth(key_for(conn, tree.epci))).json()
    assert {"reason": reason, "count": 1} in root_counts["data"]

    commune_key = key_for(conn, tree.commune_a)
    below = client.get(REJECTED, params={"reason": reason}, headers=auth(commune_key)).json()
    assert below == {"data": [], "count": 0}
    below_counts = client.get(f"{REJECTED}/counts", headers=auth(commune_key)).json()
    assert reason not in {c["reason"] for c in below_counts["data"]}


def test_a_commune_sees_only_its_own_rejections(client: TestClient, conn: psycopg.Connection,
                                                tree: Tree) -> None:
    mine = reject(conn, tree.commune_a, "invalid_json", b"a")
    theirs = reject(conn, tree.commune_b, "invalid_json", b"b")
    key_a = key_for(conn, tree.commune_a, "viewer")
    seen = client.get(REJECTED, headers=auth(key_a)).json()
    assert [m["id"] for m in seen["data"]] == [mine]
    assert client.get(REJECTED, params={"tenant": tree.commune_b},
                      headers=auth(key_a)).status_code == 404
    assert client.get(f"{REJECTED}/counts", params={"tenant": tree.commune_b},
                      headers=auth(key_a)).status_code == 404

    # The EPCI above sees both, and can narrow to one commune.
    key_epci = key_for(conn, tree.epci)
    both = client.get(REJECTED, params={"reason": "invalid_json"}, headers=auth(key_epci)).json()
    assert {m["id"] for m in both["data"]} >= {mine, theirs}
    narrowed = client.get(REJECTED, params={"tenant": tree.commune_b},
                          headers=auth(key_epci)).json()
    assert [m["id"] for m in narrowed["data"]] == [theirs]


def test_rejected_needs_a_key(client: TestClient) -> None:
    assert client.get(REJECTED).status_code == 401
    assert client.get(f"{REJECTED}/counts").status_code == 401


def test_replay_through_the_api_after_registering_the_device(settings, broker, consumer, conn, tenant):
    """An operator fixes the cause (registers the device) and replays through the API."""
    from datetime import UTC, datetime, timedelta

    from fastapi.testclient import TestClient

    from api.main import create_app
    from phare.tenancy import create_api_key
    from tests.conftest import register_device, wait_for
    from tests.ingest.test_consumer import publish_all, publisher, reading, stored_values

    key = create_api_key(conn, tenant, "technician")
    viewer = create_api_key(conn, tenant, "viewer")
    client = publisher(broker)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    publish_all(client, [(f"phare/v1/{tenant}/armoire-tard/telemetry",
                          reading(t0 + timedelta(minutes=i), i, power_w=10.0 + i)) for i in range(3)])
    client.disconnect()
    with TestClient(create_app(settings)) as http:
        auth = {"Authorization": f"Bearer {key}"}
        wait_for(lambda: http.get("/api/v1/rejected/counts", headers=auth).json()["data"])
        assert http.post("/api/v1/rejected/replay", json={},
                         headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
        register_device(conn, tenant, "armoire-tard")
        answer = http.post("/api/v1/rejected/replay", json={"reason": "unknown_device"}, headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"messages": 3, "values_stored": 3, "rejected_again": {},
                                 "not_replayable": 0}
        assert stored_values(conn, tenant) == 3
        again = http.post("/api/v1/rejected/replay", json={}, headers=auth).json()
        assert again["messages"] == 0  # replayed rejections are not pending any more
        bad = http.post("/api/v1/rejected/replay", json={"reason": "Not A Reason!"}, headers=auth)
        assert bad.status_code == 422
