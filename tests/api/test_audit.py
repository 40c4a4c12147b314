"""`GET /audit`: who changed what, for admins, within their scope."""

from __future__ import annotations

import secrets

import psycopg
from fastapi.testclient import TestClient

from phare.tenancy import issue_api_key
from tests.api.conftest import Tree, auth, device_body, key_for

AUDIT = "/api/v1/audit"
DEV_EUI = secrets.token_hex(8).upper()


def test_registering_a_device_is_audited(client: TestClient, conn: psycopg.Connection,
                                         tree: Tree) -> None:
    technician = issue_api_key(conn, tenant=tree.commune_a, role="technician")
    body = device_body(tree.commune_a, "armoire-7", dev_eui=DEV_EUI)
    assert client.post("/api/v1/devices", json=body,
                       headers=auth(technician.key)).status_code == 201
    admin = auth(key_for(conn, tree.commune_a))
    r = client.get(AUDIT, params={"action": "device.register"}, headers=admin)
    assert r.status_code == 200
    assert [(e["tenant"], e["actor"], e["target"], e["detail"]) for e in r.json()["data"]] == [
        (tree.commune_a, f"key:{technician.id}", f"{tree.commune_a}/armoire-7",
         {"kind": "lighting_cabinet", "name": "Armoire place d'Armes",
          "dev_eui": DEV_EUI})]


def test_newest_first_filtered_and_scoped(client: TestClient, conn: psycopg.Connection,
                                          tree: Tree) -> None:
    epci = auth(key_for(conn, tree.epci))
    for commune in (tree.commune_a, tree.commune_b):
        client.post("/api/v1/users", json={"tenant": commune, "role": "viewer",
                                           "email": f"elu@{commune}.fr"}, headers=epci)
    everything = client.get(AUDIT, params={"action": "user.create"}, headers=epci).json()
    assert [e["target"] for e in everything["data"]] == [f"elu@{tree.commune_b}.fr",
                                                         f"elu@{tree.commune_a}.fr"]
    only_a = client.get(AUDIT, params={"action": "user.create", "tenant": tree.commune_a},
                        headers=epci).json()
    assert only_a["count"] == 1
    commune_a = client.get(AUDIT, headers=auth(key_for(conn, tree.commune_a))).json()
    assert {e["tenant"] for e in commune_a["data"]} == {tree.commune_a}
    paged = client.get(AUDIT, params={"limit": 1, "offset": 1}, headers=epci).json()
    assert len(paged["data"]) == 1 and paged["count"] > 1


def test_only_admins_read_the_audit_log(client: TestClient, conn: psycopg.Connection,
                                        tree: Tree) -> None:
    for role in ("technician", "operator", "viewer"):
        r = client.get(AUDIT, headers=auth(key_for(conn, tree.epci, role)))
        assert r.status_code == 403, role
