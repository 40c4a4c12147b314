"""Devices through the API: authentication, registration, listing, one device, roles."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Tree, auth, device_body, key_for
from tests.conftest import register_device

DEVICES = "/api/v1/devices"


# --- authentication ---------------------------------------------------------------------
def test_missing_key_is_401_with_bearer_challenge(client: TestClient) -> None:
    r = client.get(DEVICES)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "Bearer" in r.json()["detail"]


@pytest.mark.parametrize("header", ["Bearer phk_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer"],
                         ids=["unknown-key", "basic-auth", "empty-bearer"])
def test_invalid_key_is_401(client: TestClient, header: str) -> None:
    r = client.get(DEVICES, headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_revoked_key_is_401(client: TestClient, conn: psycopg.Connection, tenant: str) -> None:
    key = key_for(conn, tenant)
    assert client.get(DEVICES, headers=auth(key)).status_code == 200
    conn.execute("update api_keys set revoked_at = now() where prefix = %s", (key[:10],))
    assert client.get(DEVICES, headers=auth(key)).status_code == 401


# --- registration -----------------------------------------------------------------------
def test_register_answers_201_with_the_device(client: TestClient, tenant: str,
                                              admin_key: str) -> None:
    eui = uuid.uuid4().hex[:16]
    body = device_body(tenant, "armoire-12", model="Cahors Cyclone", dev_eui=eui,
                       metadata={"street": "place d'Armes", "lamps": 24})
    r = client.post(DEVICES, json=body, headers=auth(admin_key))
    assert r.status_code == 201, r.text
    device = r.json()
    assert device["id"] == "armoire-12"
    assert device["tenant"] == tenant
    assert device["kind"] == "lighting_cabinet"
    assert device["name"] == "Armoire place d'Armes"
    assert device["model"] == "Cahors Cyclone"
    assert device["location"] == pytest.approx({"lat": 45.0339, "lon": 3.0933})
    assert device["dev_eui"] == eui.upper()
    assert device["metadata"] == {"street": "place d'Armes", "lamps": 24}
    assert device["last_seen"] is None
    assert r.headers["Location"].endswith(f"/api/v1/devices/{tenant}/armoire-12")

    again = client.get(f"{DEVICES}/{tenant}/armoire-12", headers=auth(admin_key))
    assert again.status_code == 200
    assert again.json() == device


def test_same_id_twice_is_409(client: TestClient, tenant: str, admin_key: str) -> None:
    body = device_body(tenant, "armoire-1")
    assert client.post(DEVICES, json=body, headers=auth(admin_key)).status_code == 201
    r = client.post(DEVICES, json={**body, "name": "autre"}, headers=auth(admin_key))
    assert r.status_code == 409
    assert "armoire-1" in r.json()["detail"] and "already exists" in r.json()["detail"]


def test_same_dev_eui_in_any_case_is_409(client: TestClient, tenant: str,
                                         admin_key: str) -> None:
    eui = uuid.uuid4().hex[:16].upper()
    first = device_body(tenant, "capteur-1", dev_eui=eui)
    assert client.post(DEVICES, json=first, headers=auth(admin_key)).status_code == 201
    second = device_body(tenant, "capteur-2", dev_eui=eui.lower())
    r = client.post(DEVICES, json=second, headers=auth(admin_key))
    assert r.status_code == 409
    assert "DevEUI" in r.json()["detail"]
    assert client.get(f"{DEVICES}/{tenant}/capteur-2", headers=auth(admin_key)).status_code == 404


def test_same_id_in_another_tenant_is_allowed(client: TestClient, conn: psycopg.Connection,
                                              tree: Tree) -> None:
    key = key_for(conn, tree.epci)
    for commune in (tree.commune_a, tree.commune_b):
        r = client.post(DEVICES, json=device_body(commune, "armoire-1"), headers=auth(key))
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"id": "armoire 12"}, "id", "not a device id"),
        ({"id": "x" * 65}, "id", "1 to 64"),
        ({"kind": "toaster"}, "kind", "lighting_cabinet"),
        ({"location": {"lat": 90.5, "lon": 3.0}}, "location.lat", "90"),
        ({"location": {"lat": 45.0, "lon": -180.5}}, "location.lon", "-180"),
        ({"location": None}, "location", ""),
        ({"dev_eui": "70B3D57ED005A1"}, "dev_eui", "16 hexadecimal"),
        ({"dev_eui": "70B3D57ED005A1GG"}, "dev_eui", "16 hexadecimal"),
        ({"name": ""}, "name", ""),
    ],
    ids=["id-space", "id-too-long", "unknown-kind", "lat-above-90", "lon-below-180",
         "no-location", "dev-eui-short", "dev-eui-not-hex", "empty-name"],
)
def test_invalid_device_is_422_with_a_reason(client: TestClient, tenant: str, admin_key: str,
                                             overrides: dict, field: str, words: str) -> None:
    body = device_body(tenant, "valid-id", **overrides)
    r = client.post(DEVICES, json=body, headers=auth(admin_key))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, str)
    assert f"'{field}'" in detail and words in detail
    assert client.get(f"{DEVICES}/{tenant}/valid-id", headers=auth(admin_key)).status_code == 404


def test_unknown_kind_lists_the_valid_kinds(client: TestClient, tenant: str,
                                            admin_key: str) -> None:
    r = client.post(DEVICES, json=device_body(tenant, kind="toaster"), headers=auth(admin_key))
    assert r.status_code == 422
    for kind in ("lighting_cabinet", "acoustic_leak_sensor", "water_flow_meter",
                 "hazard_detector", "building_meter"):
        assert kind in r.json()["detail"]


def test_body_that_is_not_json_is_422(client: TestClient, admin_key: str) -> None:
    r = client.post(DEVICES, content=b"{not json", headers={
        **auth(admin_key), "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("Invalid request: the body is not valid JSON")


# --- roles ------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "expected"),
                         [("admin", 201), ("technician", 201), ("operator", 403), ("viewer", 403)])
def test_only_admins_and_technicians_register(client: TestClient, conn: psycopg.Connection,
                                              tenant: str, role: str, expected: int) -> None:
    key = key_for(conn, tenant, role)
    r = client.post(DEVICES, json=device_body(tenant, "armoire-1"), headers=auth(key))
    assert r.status_code == expected, r.text
    if expected == 403:
        assert role in r.json()["detail"]
    # Every role reads.
    listed = client.get(DEVICES, params={"tenant": tenant}, headers=auth(key))
    assert listed.status_code == 200
    assert listed.json()["count"] == (1 if expected == 201 else 0)


# --- listing and reading ----------------------------------------------------------------
def test_list_filters_counts_and_pages(client: TestClient, conn: psycopg.Connection,
                                       tenant: str, admin_key: str) -> None:
    for device_id, kind in [("c-armoire", "lighting_cabinet"), ("a-armoire", "lighting_cabinet"),
                            ("b-detecteur", "hazard_detector")]:
        register_device(conn, tenant, device_id, kind)

    r = client.get(DEVICES, params={"tenant": tenant}, headers=auth(admin_key))
    assert r.status_code == 200
    assert r.json()["count"] == 3
    assert [d["id"] for d in r.json()["data"]] == ["a-armoire", "b-detecteur", "c-armoire"]
    first = r.json()["data"][0]
    assert first["tenant"] == tenant
    assert first["location"] == pytest.approx({"lat": 45.03, "lon": 3.09})
    assert set(first) >= {"id", "tenant", "kind", "name", "location", "last_seen", "online"}

    lighting = client.get(DEVICES, params={"tenant": tenant, "kind": "lighting_cabinet"},
                          headers=auth(admin_key)).json()
    assert lighting["count"] == 2
    assert {d["id"] for d in lighting["data"]} == {"a-armoire", "c-armoire"}

    page = client.get(DEVICES, params={"tenant": tenant, "limit": 1, "offset": 1},
                      headers=auth(admin_key)).json()
    assert [d["id"] for d in page["data"]] == ["b-detecteur"]
    assert page["count"] == 3  # the total, not the page

    past_end = client.get(DEVICES, params={"tenant": tenant, "offset": 10},
                          headers=auth(admin_key)).json()
    assert past_end == {"data": [], "count": 3}


def test_list_rejects_an_unknown_kind(client: TestClient, admin_key: str) -> None:
    r = client.get(DEVICES, params={"kind": "toaster"}, headers=auth(admin_key))
    assert r.status_code == 422
    assert "hazard_detector" in r.json()["detail"]


def test_last_seen_and_online_come_from_the_database(client: TestClient,
                                                     conn: psycopg.Connection, tenant: str,
                                                     admin_key: str) -> None:
    uid = register_device(conn, tenant, "armoire-1")
    conn.execute("update devices set last_seen = '2026-11-23T21:15:00Z', online = true "
                 "where uid = %s", (uid,))
    device = client.get(f"{DEVICES}/{tenant}/armoire-1", headers=auth(admin_key)).json()
    assert device["last_seen"] == "2026-11-23T21:15:00Z"
    assert device["online"] is True


def test_absent_device_is_404(client: TestClient, tenant: str, admin_key: str) -> None:
    r = client.get(f"{DEVICES}/{tenant}/nope", headers=auth(admin_key))
    assert r.status_code == 404
    assert "nope" in r.json()["detail"]


def test_values_the_database_cannot_hold_are_422_not_500(client, admin_key):
    """Found by Schemathesis: a NUL character or a huge offset must be the client's error."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    for query in ("kind=lighting_cabinet&tenant=a%00b", "offset=99999999999999999999999"):
        answer = client.get(f"/api/v1/devices?{query}", headers=headers)
        assert answer.status_code == 422, (query, answer.text)
        assert answer.json()["detail"].startswith("Invalid request")
    assert client.get("/api/v1/events?device=a%00b", headers=headers).status_code == 422
