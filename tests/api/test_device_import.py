"""`POST /devices/import`: CSV and GeoJSON, per-row results, dry run, bounds, scope."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.routes.device_import import MAX_BYTES, MAX_ROWS
from tests.api.conftest import Tree, auth, key_for
from tests.conftest import register_device

IMPORT = "/api/v1/devices/import"
CSV = {"Content-Type": "text/csv"}
GEOJSON = {"Content-Type": "application/geo+json"}


def csv_file(tenant: str, eui: str) -> str:
    return (
        "tenant,id,kind,name,lat,lon,model,dev_eui\n"
        f"{tenant},armoire-1,lighting_cabinet,Armoire place d'Armes,45.03,3.09,Cyclone,{eui}\n"
        f"{tenant},existe-deja,lighting_cabinet,Armoire gare,45.04,3.10,,\n"
        f"{tenant},capteur-1,toaster,Grille-pain,45.05,3.11,,\n"
        f"{tenant},armoire-2,lighting_cabinet,Armoire mairie,95,3.12,,\n"
        "\n"
        f'{tenant},armoire-3,lighting_cabinet,"Armoire ""Les Prés""",45.06,3.13,,\n'
        f"{tenant},armoire-1,lighting_cabinet,Doublon,45.03,3.09,,\n"
    )


def ids(conn: psycopg.Connection, tenant: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "select d.id from devices d join tenants t on t.id = d.tenant_id where t.slug = %s",
        (tenant,))}


def test_csv_import_answers_per_row(client: TestClient, conn: psycopg.Connection, tenant: str,
                                    admin_key: str) -> None:
    register_device(conn, tenant, "existe-deja")
    eui = uuid.uuid4().hex[:16]
    r = client.post(IMPORT, content=csv_file(tenant, eui), headers={**CSV, **auth(admin_key)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(row["line"], row["id"], row["status"]) for row in body["data"]] == [
        (2, "armoire-1", "created"), (3, "existe-deja", "exists"), (4, "capteur-1", "invalid"),
        (5, "armoire-2", "invalid"), (7, "armoire-3", "created"), (8, "armoire-1", "invalid")]
    reasons = [row["reason"] for row in body["data"]]
    assert "kind 'toaster' is not one of" in reasons[2]
    assert "location.lat" in reasons[3] and "less than or equal to 90" in reasons[3]
    assert reasons[5] == "same tenant and id as line 2"
    assert (body["created"], body["exists"], body["invalid"], body["count"]) == (2, 1, 3, 6)
    assert ids(conn, tenant) == {"existe-deja", "armoire-1", "armoire-3"}
    device = client.get(f"/api/v1/devices/{tenant}/armoire-1", headers=auth(admin_key)).json()
    assert device["dev_eui"] == eui.upper() and device["model"] == "Cyclone"
    assert device["location"] == pytest.approx({"lat": 45.03, "lon": 3.09})
    assert client.get(f"/api/v1/devices/{tenant}/armoire-3",
                      headers=auth(admin_key)).json()["name"] == 'Armoire "Les Prés"'
    audit = conn.execute("select detail from audit_log where action = 'device.import' "
                         "and tenant_id = (select id from tenants where slug = %s)",
                         (tenant,)).fetchall()
    assert audit == [({"ids": ["armoire-1", "armoire-3"]},)]


def test_dry_run_creates_nothing(client: TestClient, conn: psycopg.Connection, tenant: str,
                                 admin_key: str) -> None:
    register_device(conn, tenant, "existe-deja")
    r = client.post(IMPORT, params={"dry_run": "true"}, content=csv_file(tenant, "0" * 16),
                    headers={**CSV, **auth(admin_key)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dry_run"] is True
    assert [row["status"] for row in body["data"]] == [
        "valid", "exists", "invalid", "invalid", "valid", "invalid"]
    assert body["created"] == 0
    assert ids(conn, tenant) == {"existe-deja"}


def test_semicolon_csv_from_a_french_spreadsheet(client: TestClient, conn: psycopg.Connection,
                                                 tenant: str, admin_key: str) -> None:
    text = f"tenant;id;kind;name;lat;lon\r\n{tenant};compteur-1;water_flow_meter;Secteur nord;45;3\r\n"
    r = client.post(IMPORT, content=text.encode(), headers={**CSV, **auth(admin_key)})
    assert [row["status"] for row in r.json()["data"]] == ["created"]


def test_geojson_import(client: TestClient, conn: psycopg.Connection, tenant: str,
                        admin_key: str) -> None:
    def feature(device_id: str, geometry: dict | None, **props: object) -> dict:
        return {"type": "Feature", "geometry": geometry,
                "properties": {"tenant": tenant, "id": device_id, "kind": "hazard_detector",
                               "name": "Détecteur crue", **props}}

    collection = {"type": "FeatureCollection", "features": [
        feature("crue-1", {"type": "Point", "coordinates": [3.0933, 45.0339]},
                metadata={"river": "Ander"}),
        feature("crue-2", {"type": "LineString", "coordinates": [[3, 45], [3.1, 45.1]]}),
        feature("crue-3", None),
    ]}
    r = client.post(IMPORT, content=json.dumps(collection), headers={**GEOJSON, **auth(admin_key)})
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert [(row["line"], row["status"]) for row in rows] == [
        (1, "created"), (2, "invalid"), (3, "invalid")]
    assert "location" in rows[1]["reason"] and "location" in rows[2]["reason"]
    device = client.get(f"/api/v1/devices/{tenant}/crue-1", headers=auth(admin_key)).json()
    assert device["location"] == pytest.approx({"lat": 45.0339, "lon": 3.0933})  # not swapped
    assert device["metadata"] == {"river": "Ander"}


def test_rows_of_a_tenant_outside_the_scope_are_invalid(client: TestClient,
                                                        conn: psycopg.Connection,
                                                        tree: Tree) -> None:
    text = ("tenant,id,kind,name,lat,lon\n"
            f"{tree.commune_a},armoire-1,lighting_cabinet,A,45,3\n"
            f"{tree.commune_b},armoire-1,lighting_cabinet,B,45,3\n")
    r = client.post(IMPORT, content=text, headers={**CSV, **auth(key_for(conn, tree.commune_a))})
    rows = r.json()["data"]
    assert [row["status"] for row in rows] == ["created", "invalid"]
    assert rows[1]["reason"] == f"this key cannot register devices in tenant '{tree.commune_b}'"
    assert ids(conn, tree.commune_b) == set()


def test_a_dev_eui_taken_elsewhere_is_invalid_and_the_rest_is_created(
        client: TestClient, conn: psycopg.Connection, tenant: str, admin_key: str) -> None:
    eui = uuid.uuid4().hex[:16].upper()
    register_device(conn, tenant, "capteur-0", dev_eui=eui)
    text = ("tenant,id,kind,name,lat,lon,dev_eui\n"
            f"{tenant},capteur-1,acoustic_leak_sensor,Rue haute,45,3,{eui}\n"
            f"{tenant},capteur-2,acoustic_leak_sensor,Rue basse,45,3,\n")
    rows = client.post(IMPORT, content=text, headers={**CSV, **auth(admin_key)}).json()["data"]
    assert [row["status"] for row in rows] == ["invalid", "created"]
    assert eui in rows[0]["reason"]


@pytest.mark.parametrize(("content", "headers", "status", "reason"), [
    ("id,name\nx,y\n", CSV, 422, "lacks tenant, kind, lat, lon"),
    ("{", GEOJSON, 422, "not valid JSON"),
    ('{"type": "Feature"}', GEOJSON, 422, "FeatureCollection"),
    ("<devices/>", {"Content-Type": "application/xml"}, 415, "text/csv"),
], ids=["csv-header", "bad-json", "not-a-collection", "xml"])
def test_unreadable_files_are_refused_whole(client: TestClient, admin_key: str, content: str,
                                            headers: dict, status: int, reason: str) -> None:
    r = client.post(IMPORT, content=content, headers={**headers, **auth(admin_key)})
    assert r.status_code == status, r.text
    assert reason in r.json()["detail"]


def test_bounds(client: TestClient, tenant: str, admin_key: str) -> None:
    too_many = "tenant,id,kind,name,lat,lon\n" + "".join(
        f"{tenant},a{i},lighting_cabinet,A,45,3\n" for i in range(MAX_ROWS + 1))
    r = client.post(IMPORT, content=too_many, headers={**CSV, **auth(admin_key)})
    assert r.status_code == 422
    assert f"at most {MAX_ROWS} rows" in r.json()["detail"]
    r = client.post(IMPORT, content=b"x" * (MAX_BYTES + 1), headers={**CSV, **auth(admin_key)})
    assert r.status_code == 413


def test_a_viewer_cannot_import(client: TestClient, conn: psycopg.Connection,
                                tenant: str) -> None:
    r = client.post(IMPORT, content="tenant,id,kind,name,lat,lon\n",
                    headers={**CSV, **auth(key_for(conn, tenant, "viewer"))})
    assert r.status_code == 403
