"""Changing and deleting devices: validation, scope (404 reads, 403 writes), history, audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Tree, auth, insert_readings, key_for
from tests.conftest import register_device

DEVICES = "/api/v1/devices"


def audited(conn: psycopg.Connection, action: str, target: str) -> list[dict]:
    return [r[0] for r in conn.execute(
        "select detail from audit_log where action = %s and target = %s", (action, target))]


# --- PATCH ------------------------------------------------------------------------------
def test_patch_changes_only_the_fields_sent(client: TestClient, conn: psycopg.Connection,
                                            tenant: str, admin_key: str) -> None:
    register_device(conn, tenant, "armoire-1", model="Ancien")
    eui = uuid.uuid4().hex[:16]
    r = client.patch(f"{DEVICES}/{tenant}/armoire-1", headers=auth(admin_key),
                     json={"name": "Armoire rue Neuve", "location": {"lat": 45.1, "lon": 3.2},
                           "dev_eui": eui, "metadata": {"lamps": 12}})
    assert r.status_code == 200, r.text
    device = r.json()
    assert device["name"] == "Armoire rue Neuve"
    assert device["location"] == pytest.approx({"lat": 45.1, "lon": 3.2})
    assert device["dev_eui"] == eui.upper()
    assert device["metadata"] == {"lamps": 12}
    assert device["model"] == "Ancien"  # not sent: unchanged
    assert client.get(f"{DEVICES}/{tenant}/armoire-1", headers=auth(admin_key)).json() == device
    [detail] = audited(conn, "device.update", f"{tenant}/armoire-1")
    assert detail["name"] == "Armoire rue Neuve" and detail["dev_eui"] == eui.upper()


def test_patch_null_clears_an_optional_field(client: TestClient, conn: psycopg.Connection,
                                             tenant: str, admin_key: str) -> None:
    register_device(conn, tenant, "armoire-1", model="Ancien")
    r = client.patch(f"{DEVICES}/{tenant}/armoire-1", json={"model": None},
                     headers=auth(admin_key))
    assert r.status_code == 200, r.text
    assert r.json()["model"] is None


@pytest.mark.parametrize(("body", "reason"), [
    ({}, "at least one field"),
    ({"name": None}, "name cannot be null"),
    ({"name": ""}, "name"),
    ({"dev_eui": "zz"}, "16 hexadecimal digits"),
    ({"location": {"lat": 91, "lon": 3}}, "location.lat"),
    ({"kind": "hazard_detector"}, "kind"),
    ({"id": "autre"}, "id"),
], ids=["empty", "null-name", "empty-name", "bad-dev-eui", "bad-lat", "kind", "id"])
def test_patch_validates_like_registration(client: TestClient, conn: psycopg.Connection,
                                           tenant: str, admin_key: str, body: dict,
                                           reason: str) -> None:
    register_device(conn, tenant, "armoire-1")
    r = client.patch(f"{DEVICES}/{tenant}/armoire-1", json=body, headers=auth(admin_key))
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]
    assert audited(conn, "device.update", f"{tenant}/armoire-1") == []


def test_patch_to_a_taken_dev_eui_is_409(client: TestClient, conn: psycopg.Connection,
                                         tenant: str, admin_key: str) -> None:
    eui = uuid.uuid4().hex[:16].upper()
    register_device(conn, tenant, "capteur-1", dev_eui=eui)
    register_device(conn, tenant, "capteur-2")
    r = client.patch(f"{DEVICES}/{tenant}/capteur-2", json={"dev_eui": eui.lower()},
                     headers=auth(admin_key))
    assert r.status_code == 409
    assert eui in r.json()["detail"]


def test_patch_an_unknown_device_is_404(client: TestClient, tenant: str, admin_key: str) -> None:
    r = client.patch(f"{DEVICES}/{tenant}/absent", json={"name": "x"}, headers=auth(admin_key))
    assert r.status_code == 404


def test_writes_into_the_neighbour_are_403(client: TestClient, conn: psycopg.Connection,
                                           tree: Tree) -> None:
    register_device(conn, tree.commune_b, "armoire-1")
    key = auth(key_for(conn, tree.commune_a))
    target = f"{DEVICES}/{tree.commune_b}/armoire-1"
    assert client.patch(target, json={"name": "x"}, headers=key).status_code == 403
    assert client.delete(target, headers=key).status_code == 403
    # …and the parent's key may change it.
    parent = auth(key_for(conn, tree.epci))
    assert client.patch(target, json={"name": "Armoire B"}, headers=parent).status_code == 200


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_roles_without_device_management_are_403(client: TestClient, conn: psycopg.Connection,
                                                 tenant: str, role: str) -> None:
    register_device(conn, tenant, "armoire-1")
    key = auth(key_for(conn, tenant, role))
    target = f"{DEVICES}/{tenant}/armoire-1"
    assert client.patch(target, json={"name": "x"}, headers=key).status_code == 403
    assert client.delete(target, headers=key).status_code == 403


# --- DELETE -----------------------------------------------------------------------------
def test_delete_a_device_without_history_is_204(client: TestClient, conn: psycopg.Connection,
                                                tenant: str, admin_key: str) -> None:
    register_device(conn, tenant, "armoire-1")
    r = client.delete(f"{DEVICES}/{tenant}/armoire-1", headers=auth(admin_key))
    assert r.status_code == 204, r.text
    assert client.get(f"{DEVICES}/{tenant}/armoire-1", headers=auth(admin_key)).status_code == 404
    assert audited(conn, "device.delete", f"{tenant}/armoire-1") == [{}]
    # Gone: deleting again is 404, and the id can be registered anew.
    assert client.delete(f"{DEVICES}/{tenant}/armoire-1",
                         headers=auth(admin_key)).status_code == 404


def test_delete_a_device_with_readings_is_409_and_keeps_it(client: TestClient,
                                                           conn: psycopg.Connection, tenant: str,
                                                           admin_key: str) -> None:
    uid = register_device(conn, tenant, "armoire-1")
    insert_readings(conn, uid, "power_w", [(datetime.now(UTC), 1830.5)])
    r = client.delete(f"{DEVICES}/{tenant}/armoire-1", headers=auth(admin_key))
    assert r.status_code == 409
    assert r.json()["detail"] == (f"device 'armoire-1' of tenant '{tenant}' has readings: its "
                                  "history is kept, so it cannot be deleted")
    assert client.get(f"{DEVICES}/{tenant}/armoire-1", headers=auth(admin_key)).status_code == 200
    assert audited(conn, "device.delete", f"{tenant}/armoire-1") == []


def test_delete_a_device_with_commands_is_409(client: TestClient, conn: psycopg.Connection,
                                              tenant: str, admin_key: str) -> None:
    uid = register_device(conn, tenant, "armoire-1")
    conn.execute("insert into commands (tenant_id, device_uid, type) "
                 "select tenant_id, uid, 'switch' from devices where uid = %s", (uid,))
    r = client.delete(f"{DEVICES}/{tenant}/armoire-1", headers=auth(admin_key))
    assert r.status_code == 409
    assert "has commands" in r.json()["detail"]
