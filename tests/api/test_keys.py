"""`/keys`: admins create keys (shown once), list them (never the key), revoke them."""

from __future__ import annotations

import uuid

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import Tree, auth, key_for

KEYS = "/api/v1/keys"


def test_a_service_key_is_shown_once_and_works(client: TestClient, conn: psycopg.Connection,
                                               tree: Tree) -> None:
    admin = auth(key_for(conn, tree.epci))
    r = client.post(KEYS, json={"tenant": tree.commune_a, "role": "technician",
                                "name": "passerelle LoRaWAN"}, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["key"].startswith(created["prefix"]) and created["user"] is None
    listed = client.get(KEYS, params={"tenant": tree.commune_a}, headers=admin).json()
    assert [(k["id"], k["role"], k["name"]) for k in listed["data"]] == [
        (created["id"], "technician", "passerelle LoRaWAN")]
    assert created["key"] not in client.get(KEYS, headers=admin).text
    devices = client.get("/api/v1/devices", headers=auth(created["key"]))
    assert devices.status_code == 200


def test_a_users_key_has_the_users_role(client: TestClient, conn: psycopg.Connection,
                                        tree: Tree) -> None:
    admin = auth(key_for(conn, tree.epci))
    address = f"elu-{uuid.uuid4().hex[:8]}@mairie.fr"
    assert client.post("/api/v1/users", json={"tenant": tree.commune_b, "email": address,
                                              "role": "viewer"}, headers=admin).status_code == 201
    r = client.post(KEYS, json={"user": address}, headers=admin)
    assert r.status_code == 201, r.text
    assert (r.json()["tenant"], r.json()["role"], r.json()["user"]) == (
        tree.commune_b, "viewer", address)
    assert client.post(KEYS, json={"user": address, "role": "admin"},
                       headers=admin).status_code == 422
    assert client.post(KEYS, json={"user": "personne@nulle-part.fr"},
                       headers=admin).status_code == 403
    # The commune's admin sees the user's key; the neighbour's does not.
    neighbour = auth(key_for(conn, tree.commune_a))
    assert address not in client.get(KEYS, headers=neighbour).text
    assert client.post(KEYS, json={"user": address}, headers=neighbour).status_code == 403


def test_revoked_keys_stop_working(client: TestClient, conn: psycopg.Connection,
                                   tree: Tree) -> None:
    admin = auth(key_for(conn, tree.epci))
    created = client.post(KEYS, json={"tenant": tree.commune_a, "role": "viewer"},
                          headers=admin).json()
    assert client.delete(f"{KEYS}/{created['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/devices", headers=auth(created["key"])).status_code == 401
    assert client.delete(f"{KEYS}/{created['id']}", headers=admin).status_code == 404
    revoked = client.get(KEYS, params={"include_revoked": "true"}, headers=admin).json()["data"]
    assert [k["revoked_at"] is not None for k in revoked if k["id"] == created["id"]] == [True]


def test_a_key_needs_a_tenant_and_role_or_a_user(client: TestClient, conn: psycopg.Connection,
                                                 tree: Tree) -> None:
    r = client.post(KEYS, json={"tenant": tree.commune_a}, headers=auth(key_for(conn, tree.epci)))
    assert r.status_code == 422
    assert "give 'user', or 'tenant' and 'role'" in r.json()["detail"]
