"""Commands through the API: to one device, to a group (tenant, zone, ids), emergency force-on;
validation (422 with the reason), scope (403 for writes, 404 for reads), roles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Tree, auth, key_for
from tests.conftest import register_device

COMMANDS = "/api/v1/commands"
# Around the centre of Saint-Flour and its station, [longitude, latitude] as GeoJSON says.
CENTRE = {"type": "Polygon",
          "coordinates": [[[3.08, 45.02], [3.11, 45.02], [3.11, 45.04], [3.08, 45.04],
                           [3.08, 45.02]]]}


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def place(conn: psycopg.Connection, tenant: str, device_id: str, lon: float, lat: float,
          kind: str = "lighting_cabinet") -> None:
    conn.execute(
        "insert into devices (tenant_id, id, kind, name, location) "
        "select id, %s, %s, %s, st_setsrid(st_makepoint(%s, %s), 4326)::geography "
        "from tenants where slug = %s",
        (device_id, kind, f"Équipement {device_id}", lon, lat, tenant))


@pytest.fixture
def town(conn: psycopg.Connection, tree: Tree) -> Tree:
    """Cabinets in and out of CENTRE, at the EPCI and in its communes; a meter in the centre."""
    place(conn, tree.epci, "centre", 3.0933, 45.0339)
    place(conn, tree.epci, "gare", 3.1050, 45.0290)
    place(conn, tree.epci, "lointaine", 3.2000, 45.1000)
    place(conn, tree.epci, "debitmetre", 3.0940, 45.0340, kind="water_flow_meter")
    place(conn, tree.commune_a, "a-centre", 3.0900, 45.0300)
    place(conn, tree.commune_b, "b-loin", 3.0000, 44.9000)
    return tree


def send(client: TestClient, key: str, tenant: str, device_id: str, body: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/devices/{tenant}/{device_id}/commands", json=body,
                       headers=auth(key))


def devices_of(response: Any) -> set[str]:
    return {c["device_id"] for c in response.json()["data"]}


# --- one device ---------------------------------------------------------------------------
def test_a_command_is_queued_and_answered_201_with_its_history(
        client: TestClient, conn: psycopg.Connection, tenant: str) -> None:
    register_device(conn, tenant, "armoire-12")
    key = key_for(conn, tenant, "operator")
    r = send(client, key, tenant, "armoire-12",
             {"type": "set_dimming", "params": {"level_pct": 40, "until": "2030-01-01T06:00:00+01:00"}})
    assert r.status_code == 201, r.text
    command = r.json()
    assert command["tenant"] == tenant and command["device_id"] == "armoire-12"
    assert command["type"] == "set_dimming"
    assert command["params"] == {"level_pct": 40, "until": "2030-01-01T05:00:00.000Z"}
    assert (command["status"], command["attempts"], command["priority"], command["source"]) == \
        ("queued", 0, 0, "api")
    expires = datetime.fromisoformat(command["expires_at"])
    assert abs(expires - datetime.now(UTC) - timedelta(hours=1)) < timedelta(minutes=1)
    assert r.headers["Location"].endswith(f"{COMMANDS}/{command['id']}")

    one = client.get(f"{COMMANDS}/{command['id']}", headers=auth(key)).json()
    assert [(e["event"], e["status"]) for e in one["events"]] == [("queued", "queued")]
    listed = client.get(COMMANDS, params={"device": "armoire-12", "status": "queued"},
                        headers=auth(key)).json()
    assert [c["id"] for c in listed["data"]] == [command["id"]] and listed["count"] == 1
    assert client.get(COMMANDS, params={"device": "armoire-12", "status": "applied"},
                      headers=auth(key)).json()["count"] == 0
    audit = conn.execute("select actor, action, target from audit_log "
                         "where action = 'command.create' and target = %s",
                         (f"{tenant}/armoire-12",)).fetchall()
    assert audit == [(f"key:{_key_id(conn, key)}", "command.create", f"{tenant}/armoire-12")]


def _key_id(conn: psycopg.Connection, key: str) -> int:
    row = conn.execute("select id from api_keys where prefix = %s", (key[:10],)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param({"type": "set_dimming", "params": {"level_pct": 120}},
                 "field 'params.level_pct': must be a number from 0 to 100, got 120",
                 id="level-out-of-range"),
    pytest.param({"type": "set_schedule", "params": {"steps": [
        {"at": "2030-01-01T22:00:00Z", "level_pct": 50},
        {"at": "2030-01-01T21:00:00Z", "level_pct": 20}]}},
        "field 'params.steps.1.at': steps must be in increasing time order", id="steps-not-increasing"),
    pytest.param({"type": "switch", "params": {"on": True}, "expires": "2020-01-01T00:00:00Z"},
                 "field 'expires': (2020-01-01T00:00:00.000Z) is in the past", id="expired-expires"),
    pytest.param({"type": "switch", "params": {"on": True}, "expires": "2030-01-01T00:00:00"},
                 "field 'expires'", id="expires-without-offset"),
    pytest.param({"type": "set_dimming", "params": {"level": 50}},
                 "'set_dimming' takes no parameter 'level'", id="unknown-parameter"),
    pytest.param({"type": "reboot", "params": {}}, "field 'type'", id="unknown-type"),
])
def test_an_invalid_command_is_422_with_the_reason(client: TestClient, conn: psycopg.Connection,
                                                  tenant: str, admin_key: str,
                                                  body: dict[str, Any], reason: str) -> None:
    register_device(conn, tenant, "armoire-1")
    r = send(client, admin_key, tenant, "armoire-1", body)
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]
    assert client.get(COMMANDS, params={"tenant": tenant},
                      headers=auth(admin_key)).json()["count"] == 0


def test_a_command_the_device_kind_does_not_take_is_422(client: TestClient,
                                                       conn: psycopg.Connection, tenant: str,
                                                       admin_key: str) -> None:
    register_device(conn, tenant, "debitmetre-1", "water_flow_meter")
    r = send(client, admin_key, tenant, "debitmetre-1", {"type": "switch", "params": {"on": True}})
    assert r.status_code == 422
    assert "field 'type': a device of kind 'water_flow_meter' takes no commands" in r.json()["detail"]


def test_a_lorawan_device_without_its_network_server_is_422_naming_the_device(
        client: TestClient, conn: psycopg.Connection, tenant: str, admin_key: str) -> None:
    register_device(conn, tenant, "armoire-lora", dev_eui=uuid.uuid4().hex[:16].upper(),
                    model="phare-lora-cabinet")
    r = send(client, admin_key, tenant, "armoire-lora", {"type": "switch", "params": {"on": True}})
    assert r.status_code == 422
    assert "path parameter 'device_id': this LoRaWAN device cannot take commands" in r.json()["detail"]


def test_another_tenants_device_is_403_and_a_missing_one_404(
        client: TestClient, conn: psycopg.Connection, tree: Tree) -> None:
    register_device(conn, tree.commune_b, "armoire-b")
    key_a = key_for(conn, tree.commune_a, "admin")
    body = {"type": "switch", "params": {"on": True}}
    r = send(client, key_a, tree.commune_b, "armoire-b", body)
    assert r.status_code == 403
    assert f"cannot send commands in tenant '{tree.commune_b}'" in r.json()["detail"]
    assert send(client, key_a, "no-such-tenant", "armoire-b", body).status_code == 403
    assert send(client, key_a, tree.commune_a, "armoire-b", body).status_code == 404
    # The EPCI above both may.
    assert send(client, key_for(conn, tree.epci), tree.commune_b, "armoire-b",
                body).status_code == 201


def test_a_viewer_cannot_send_commands_but_reads_them(client: TestClient,
                                                     conn: psycopg.Connection, tenant: str,
                                                     admin_key: str) -> None:
    register_device(conn, tenant, "armoire-1")
    viewer = key_for(conn, tenant, "viewer")
    body = {"type": "switch", "params": {"on": True}}
    r = send(client, viewer, tenant, "armoire-1", body)
    assert r.status_code == 403 and "role 'viewer'" in r.json()["detail"]
    group = {**body, "target": {"tenant": tenant}}
    assert client.post(COMMANDS, json=group, headers=auth(viewer)).status_code == 403
    force = {"bbox": [3.0, 45.0, 3.2, 45.1], "duration_minutes": 60, "reason": "essai"}
    assert client.post(f"{COMMANDS}/force-on", json=force, headers=auth(viewer)).status_code == 403
    assert conn.execute("select count(*) from commands c join tenants t on t.id = c.tenant_id "
                        "where t.slug = %s", (tenant,)).fetchone() == (0,)

    command_id = send(client, admin_key, tenant, "armoire-1", body).json()["id"]
    assert client.get(f"{COMMANDS}/{command_id}", headers=auth(viewer)).status_code == 200


def test_another_tenants_command_is_not_found(client: TestClient, conn: psycopg.Connection,
                                             tree: Tree) -> None:
    register_device(conn, tree.commune_b, "armoire-b")
    r = send(client, key_for(conn, tree.commune_b), tree.commune_b, "armoire-b",
             {"type": "switch", "params": {"on": False}})
    key_a = key_for(conn, tree.commune_a, "viewer")
    assert client.get(f"{COMMANDS}/{r.json()['id']}", headers=auth(key_a)).status_code == 404
    assert client.get(COMMANDS, headers=auth(key_a)).json()["count"] == 0


# --- groups -------------------------------------------------------------------------------
@pytest.mark.parametrize("selector", [
    pytest.param({"zone": CENTRE}, id="geojson-polygon"),
    pytest.param({"zone": {"type": "Feature", "properties": {"nom": "centre"},
                           "geometry": CENTRE}}, id="geojson-feature"),
    pytest.param({"bbox": [3.08, 45.02, 3.11, 45.04]}, id="bbox"),
])
def test_a_zone_selects_the_cabinets_in_it_at_the_tenant_and_below(
        client: TestClient, conn: psycopg.Connection, town: Tree, selector: dict) -> None:
    key = key_for(conn, town.epci, "technician")
    r = client.post(COMMANDS, json={"type": "switch", "params": {"on": True},
                                    "target": {"tenant": town.epci, **selector}},
                    headers=auth(key))
    assert r.status_code == 201, r.text
    group = r.json()
    # Not the cabinets outside, not the water meter inside.
    assert devices_of(r) == {"centre", "gare", "a-centre"}
    assert (group["devices"], group["count"], group["undeliverable"]) == (3, 3, 0)
    assert {c["group_id"] for c in group["data"]} == {group["group_id"]}
    listed = client.get(COMMANDS, params={"group": group["group_id"]}, headers=auth(key)).json()
    assert listed["count"] == 3


def test_a_group_without_zone_is_every_cabinet_of_the_tenant_and_below(
        client: TestClient, conn: psycopg.Connection, town: Tree) -> None:
    key = key_for(conn, town.epci)
    r = client.post(COMMANDS, json={"type": "set_dimming", "params": {"level_pct": 60},
                                    "target": {}}, headers=auth(key))
    assert r.status_code == 201, r.text
    assert devices_of(r) == {"centre", "gare", "lointaine", "a-centre", "b-loin"}


def test_a_list_of_ids_selects_those_devices(client: TestClient, conn: psycopg.Connection,
                                            town: Tree) -> None:
    key = key_for(conn, town.epci)
    r = client.post(COMMANDS, json={"type": "switch", "params": {"on": False},
                                    "target": {"devices": ["gare", "lointaine", "gare"]}},
                    headers=auth(key))
    assert r.status_code == 201, r.text
    assert devices_of(r) == {"gare", "lointaine"}


@pytest.mark.parametrize(("target", "reason"), [
    pytest.param({"zone": {"type": "Polygon", "coordinates": [[[45.02, 3.08], [45.02, 3.11],
                                                               [45.04, 3.11], [45.02, 3.08]]]}},
                 "field 'target': selects no device: no lighting_cabinet", id="latitude-first"),
    pytest.param({"zone": {"type": "Point", "coordinates": [3.09, 45.03]}},
                 "field 'target.zone': must be a GeoJSON Polygon or MultiPolygon", id="a-point"),
    pytest.param({"zone": {"type": "Polygon", "coordinates": [[[3.08, 45.02], [3.11, 45.04],
                                                               [3.11, 45.02], [3.08, 45.04],
                                                               [3.08, 45.02]]]}},
                 "field 'target.zone': is not a valid polygon", id="bow-tie"),
    pytest.param({"zone": {"type": "Polygon", "coordinates": [[[3.08, 45.02], [3.11, 45.02],
                                                               [3.11, 45.04], [3.08, 45.04]]]}},
                 "must end where it starts", id="open-ring"),
    pytest.param({"bbox": [3.11, 45.02, 3.08, 45.04]}, "field 'target.bbox'", id="bbox-reversed"),
    pytest.param({"zone": CENTRE, "bbox": [3.0, 45.0, 3.2, 45.1]}, "not both", id="zone-and-bbox"),
    pytest.param({"zone": CENTRE, "devices": ["gare"]}, "either 'devices' or a zone",
                 id="zone-and-devices"),
    pytest.param({"devices": ["gare", "nulle-part"]}, "no device 'nulle-part'", id="unknown-id"),
    pytest.param({"devices": ["debitmetre"]}, "'debitmetre' is a water_flow_meter",
                 id="not-a-cabinet"),
    pytest.param({"devices": ["a-centre"]}, "no device 'a-centre'", id="id-of-a-commune-below"),
    pytest.param({"zone": CENTRE, "kind": "x"}, "field 'target.kind'", id="unknown-selector"),
])
def test_an_invalid_group_is_422_with_the_reason(client: TestClient, conn: psycopg.Connection,
                                                town: Tree, target: dict, reason: str) -> None:
    key = key_for(conn, town.epci)
    r = client.post(COMMANDS, json={"type": "switch", "params": {"on": True}, "target": target},
                    headers=auth(key))
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]


def test_a_group_in_a_tenant_out_of_scope_is_403(client: TestClient, conn: psycopg.Connection,
                                                town: Tree) -> None:
    r = client.post(COMMANDS, json={"type": "switch", "params": {"on": True},
                                    "target": {"tenant": town.commune_b}},
                    headers=auth(key_for(conn, town.commune_a)))
    assert r.status_code == 403


# --- force-on -----------------------------------------------------------------------------
def test_force_on_lights_every_cabinet_of_the_zone_first_and_is_audited(
        client: TestClient, conn: psycopg.Connection, town: Tree) -> None:
    key = key_for(conn, town.epci, "operator")
    # A routine switch-off still waiting for the centre cabinet: it must not come after.
    off = send(client, key, town.epci, "centre", {"type": "switch", "params": {"on": False}}).json()
    r = client.post(f"{COMMANDS}/force-on", headers=auth(key), json={
        "zone": CENTRE, "duration_minutes": 240,
        "reason": "SDIS 15 : accident RD 926, demande du CODIS à 02:10"})
    assert r.status_code == 201, r.text
    group = r.json()
    assert (group["devices"], group["count"]) == (3, 6)
    by_device: dict[str, set[str]] = {}
    for c in group["data"]:
        by_device.setdefault(c["device_id"], set()).add(c["type"])
        assert (c["priority"], c["source"], c["status"]) == (100, "force_on", "queued")
        until = datetime.fromisoformat(c["params"]["until"])
        assert abs(until - datetime.now(UTC) - timedelta(hours=4)) < timedelta(minutes=1)
        assert datetime.fromisoformat(c["expires_at"]) == until  # no use once the emergency ends
    assert by_device == {d: {"switch", "set_dimming"} for d in ("centre", "gare", "a-centre")}
    assert {c["params"].get("level_pct") for c in group["data"]} == {None, 100}

    replaced = client.get(f"{COMMANDS}/{off['id']}", headers=auth(key)).json()
    assert replaced["status"] == "cancelled"
    assert replaced["detail"]["reason"] == "superseded"
    assert replaced["detail"]["message"].startswith("remplacée par une commande plus récente")

    audit = conn.execute("select action, target, detail->>'reason', (detail->>'devices')::int "
                         "from audit_log where action = 'command.force_on' and tenant_id = "
                         "(select id from tenants where slug = %s)", (town.epci,)).fetchall()
    assert audit == [("command.force_on", f"group:{group['group_id']}",
                      "SDIS 15 : accident RD 926, demande du CODIS à 02:10", 3)]


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param({"zone": CENTRE, "duration_minutes": 60}, "field 'reason'", id="no-reason"),
    pytest.param({"zone": CENTRE, "reason": "essai"}, "either 'until' or 'duration_minutes'",
                 id="no-end"),
    pytest.param({"zone": CENTRE, "reason": "essai", "duration_minutes": 60,
                  "until": "2030-01-01T00:00:00Z"}, "either 'until' or 'duration_minutes'",
                 id="both-ends"),
    pytest.param({"zone": CENTRE, "reason": "essai", "until": "2020-01-01T00:00:00Z"},
                 "field 'until': (2020-01-01T00:00:00.000Z) is not in the future", id="until-past"),
    pytest.param({"zone": CENTRE, "reason": "essai", "until": "2099-01-01T00:00:00Z"},
                 "more than 72 hours ahead", id="until-too-far"),
    pytest.param({"reason": "essai", "duration_minutes": 60}, "give the zone to light",
                 id="no-zone"),
    pytest.param({"bbox": [0.0, 40.0, 0.1, 40.1], "reason": "essai", "duration_minutes": 60},
                 "field 'zone': selects no device", id="empty-zone"),
])
def test_an_invalid_force_on_is_422_with_the_reason(client: TestClient, conn: psycopg.Connection,
                                                   town: Tree, body: dict, reason: str) -> None:
    r = client.post(f"{COMMANDS}/force-on", json=body, headers=auth(key_for(conn, town.epci)))
    assert r.status_code == 422, r.text
    assert reason in r.json()["detail"]
