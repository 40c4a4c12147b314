"""`/partners/grants`: admins grant partners access to device kinds of their tenants."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from phare.tenancy import add_tenant
from tests.api.conftest import Tree, auth, key_for
from tests.conftest import register_device

GRANTS = "/api/v1/partners/grants"


@pytest.fixture
def partner(conn: psycopg.Connection, tree: Tree) -> str:
    slug = f"{tree.epci}-veolia"
    add_tenant(conn, slug, "Délégataire de l'eau", kind="partner")
    register_device(conn, tree.commune_a, "compteur-1", "water_flow_meter")
    register_device(conn, tree.commune_a, "armoire-1", "lighting_cabinet")
    return slug


def grant(tree: Tree, partner: str, **overrides: object) -> dict[str, object]:
    return {"partner": partner, "tenant": tree.commune_a, "kinds": ["water_flow_meter"],
            "expires_at": "2030-01-01T00:00:00+01:00", **overrides}


def test_grant_list_and_revoke(client: TestClient, conn: psycopg.Connection, tree: Tree,
                               partner: str) -> None:
    admin = auth(key_for(conn, tree.commune_a))
    partner_key = auth(key_for(conn, partner))
    assert client.get("/api/v1/devices", headers=partner_key).json()["data"] == []

    r = client.post(GRANTS, json=grant(tree, partner), headers=admin)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("partner", "tenant", "kinds", "expires_at", "active")} == {
        "partner": partner, "tenant": tree.commune_a, "kinds": ["water_flow_meter"],
        "expires_at": "2029-12-31T23:00:00Z", "active": True}
    devices = client.get("/api/v1/devices", headers=partner_key).json()["data"]
    assert [d["id"] for d in devices] == ["compteur-1"]
    # Both sides see the grant: the tenant's admin and the partner.
    assert [g["id"] for g in client.get(GRANTS, headers=admin).json()["data"]] == [r.json()["id"]]
    partner_admin = auth(key_for(conn, partner, "admin"))
    assert [g["tenant"] for g in client.get(GRANTS, headers=partner_admin).json()["data"]] == [
        tree.commune_a]
    # The partner cannot revoke it; the tenant's admin can, and access ends at once.
    grant_id = r.json()["id"]
    assert client.delete(f"{GRANTS}/{grant_id}", headers=partner_admin).status_code == 404
    assert client.delete(f"{GRANTS}/{grant_id}", headers=admin).status_code == 204
    assert client.get("/api/v1/devices", headers=partner_key).json()["data"] == []


def test_grant_mistakes_are_422(client: TestClient, conn: psycopg.Connection, tree: Tree,
                                partner: str) -> None:
    admin = auth(key_for(conn, tree.epci))
    for body, reason in [
        (grant(tree, tree.commune_b), "not a partner"),
        (grant(tree, partner, kinds=["fire_hydrant"]), "unknown device kind"),
        (grant(tree, partner, kinds=[]), "at least 1 item"),
        (grant(tree, partner, expires_at="2030-01-01T00:00:00"), "timezone"),
    ]:
        r = client.post(GRANTS, json=body, headers=admin)
        assert r.status_code == 422, body
        assert reason in r.json()["detail"], r.json()["detail"]
