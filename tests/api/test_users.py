"""`/users`: admins create and list the users of their tenants."""

from __future__ import annotations

import uuid

import psycopg
from fastapi.testclient import TestClient

from tests.api.conftest import Tree, auth, key_for

USERS = "/api/v1/users"


def email() -> str:
    return f"agent-{uuid.uuid4().hex[:8]}@mairie.fr"


def test_create_then_list(client: TestClient, conn: psycopg.Connection, tree: Tree) -> None:
    key = auth(key_for(conn, tree.epci))
    address = email()
    r = client.post(USERS, json={"tenant": tree.commune_a, "email": address,
                                 "name": "Jeanne Martin", "role": "operator"}, headers=key)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("tenant", "email", "name", "role", "disabled_at")} == {
        "tenant": tree.commune_a, "email": address, "name": "Jeanne Martin",
        "role": "operator", "disabled_at": None}
    listed = client.get(USERS, params={"tenant": tree.commune_a}, headers=key).json()
    assert [u["email"] for u in listed["data"]] == [address] and listed["count"] == 1
    assert client.get(USERS, params={"tenant": tree.commune_b}, headers=key).json()["data"] == []


def test_an_address_has_one_account(client: TestClient, conn: psycopg.Connection,
                                    tree: Tree) -> None:
    key = auth(key_for(conn, tree.epci))
    address = email()
    body = {"tenant": tree.commune_a, "email": address, "role": "viewer"}
    assert client.post(USERS, json=body, headers=key).status_code == 201
    again = client.post(USERS, json={**body, "tenant": tree.commune_b,
                                      "email": address.upper()}, headers=key)
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]


def test_invalid_users_are_422(client: TestClient, conn: psycopg.Connection, tree: Tree) -> None:
    key = auth(key_for(conn, tree.epci))
    for body in ({"tenant": tree.commune_a, "email": "pas-une-adresse", "role": "viewer"},
                 {"tenant": tree.commune_a, "email": email(), "role": "maire"}):
        r = client.post(USERS, json=body, headers=key)
        assert r.status_code == 422, body
        assert r.json()["detail"].startswith("Invalid request: field ")
