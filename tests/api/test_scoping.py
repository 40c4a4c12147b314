"""A key sees its tenant and those below it, nothing else: 404 for reads, 403 for writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Tree, auth, device_body, insert_readings, key_for
from tests.conftest import register_device

DEVICES = "/api/v1/devices"


@pytest.fixture
def fleet(conn: psycopg.Connection, tree: Tree) -> Tree:
    """One cabinet in each commune and one at the EPCI, each with a recent reading."""
    now = datetime.now(UTC)
    for tenant, device_id in [(tree.commune_a, "armoire-a"), (tree.commune_b, "armoire-b"),
                              (tree.epci, "armoire-epci")]:
        uid = register_device(conn, tenant, device_id)
        insert_readings(conn, uid, "power_w", [(now - timedelta(hours=1), 42.0)])
    return tree


def listed(client: TestClient, key: str, **params: str) -> set[tuple[str, str]]:
    r = client.get(DEVICES, params=params, headers=auth(key))
    assert r.status_code == 200, r.text
    assert r.json()["count"] == len(r.json()["data"])
    return {(d["tenant"], d["id"]) for d in r.json()["data"]}


def test_epci_key_sees_its_communes_devices(client: TestClient, conn: psycopg.Connection,
                                            fleet: Tree) -> None:
    key = key_for(conn, fleet.epci, "viewer")
    assert listed(client, key) == {(fleet.commune_a, "armoire-a"),
                                   (fleet.commune_b, "armoire-b"),
                                   (fleet.epci, "armoire-epci")}
    assert listed(client, key, tenant=fleet.commune_a) == {(fleet.commune_a, "armoire-a")}
    assert client.get(f"{DEVICES}/{fleet.commune_b}/armoire-b",
                      headers=auth(key)).status_code == 200
    readings = client.get(f"{DEVICES}/{fleet.commune_b}/armoire-b/readings",
                          params={"metric": "power_w"}, headers=auth(key))
    assert [p["value"] for p in readings.json()["data"]] == [42.0]


def test_commune_key_does_not_see_its_neighbour(client: TestClient, conn: psycopg.Connection,
                                                fleet: Tree) -> None:
    key = key_for(conn, fleet.commune_a)
    assert listed(client, key) == {(fleet.commune_a, "armoire-a")}
    assert client.get(DEVICES, params={"tenant": fleet.commune_b},
                      headers=auth(key)).status_code == 404
    assert client.get(f"{DEVICES}/{fleet.commune_b}/armoire-b",
                      headers=auth(key)).status_code == 404
    r = client.get(f"{DEVICES}/{fleet.commune_b}/armoire-b/readings",
                   params={"metric": "power_w"}, headers=auth(key))
    assert r.status_code == 404
    assert "42" not in r.text


def test_commune_key_does_not_see_up_the_tree(client: TestClient, conn: psycopg.Connection,
                                              fleet: Tree) -> None:
    key = key_for(conn, fleet.commune_a)
    assert client.get(f"{DEVICES}/{fleet.epci}/armoire-epci",
                      headers=auth(key)).status_code == 404
    assert client.get(DEVICES, params={"tenant": fleet.epci}, headers=auth(key)).status_code == 404


def test_out_of_scope_and_absent_answer_alike(client: TestClient, conn: psycopg.Connection,
                                              fleet: Tree) -> None:
    """A key cannot tell another tenant's device from a device that does not exist."""
    key = key_for(conn, fleet.commune_a)
    other = client.get(f"{DEVICES}/{fleet.commune_b}/armoire-b", headers=auth(key))
    absent = client.get(f"{DEVICES}/{fleet.commune_b}/nothing-here", headers=auth(key))
    assert other.status_code == absent.status_code == 404


def test_registering_into_a_neighbour_is_403(client: TestClient, conn: psycopg.Connection,
                                             tree: Tree) -> None:
    key = key_for(conn, tree.commune_a)
    r = client.post(DEVICES, json=device_body(tree.commune_b, "intrus"), headers=auth(key))
    assert r.status_code == 403
    epci_key = key_for(conn, tree.epci)
    assert client.get(f"{DEVICES}/{tree.commune_b}/intrus",
                      headers=auth(epci_key)).status_code == 404


def test_registering_into_a_missing_tenant_is_403(client: TestClient, conn: psycopg.Connection,
                                                  tree: Tree) -> None:
    key = key_for(conn, tree.epci)
    r = client.post(DEVICES, json=device_body(f"{tree.epci}-nowhere"), headers=auth(key))
    assert r.status_code == 403


def test_epci_key_registers_into_its_communes(client: TestClient, conn: psycopg.Connection,
                                              tree: Tree) -> None:
    key = key_for(conn, tree.epci, "technician")
    r = client.post(DEVICES, json=device_body(tree.commune_b, "armoire-9"), headers=auth(key))
    assert r.status_code == 201
    assert r.json()["tenant"] == tree.commune_b
    commune_key = key_for(conn, tree.commune_b)
    assert listed(client, commune_key) == {(tree.commune_b, "armoire-9")}


def test_tenants_lists_the_scope_with_parents(client: TestClient, conn: psycopg.Connection,
                                              tree: Tree) -> None:
    r = client.get("/api/v1/tenants", headers=auth(key_for(conn, tree.epci)))
    assert r.status_code == 200
    tenants = {t["slug"]: t["parent"] for t in r.json()["data"]}
    assert tenants == {tree.epci: None, tree.commune_a: tree.epci, tree.commune_b: tree.epci}
    assert r.json()["count"] == 3

    below = client.get("/api/v1/tenants", headers=auth(key_for(conn, tree.commune_a))).json()
    assert [t["slug"] for t in below["data"]] == [tree.commune_a]
