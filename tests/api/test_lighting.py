"""Lighting policies, dark zones and schedules through the API: inheritance down the tenant
tree, readable 422s, conflicts, audit, roles; the schedules view with the job's prediction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from analytics.jobs.lighting import queue_schedules
from analytics.lighting_store import cabinets
from devices.simulators.lighting import LightingCabinet
from tests.api.conftest import Tree, auth, key_for
from tests.conftest import register_device

API = "/api/v1"
GORGES = {"type": "Polygon", "coordinates": [[[3.08, 45.02], [3.10, 45.02], [3.10, 45.04],
                                              [3.08, 45.04], [3.08, 45.02]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[3.0, 45.0], [3.1, 45.1], [3.1, 45.0],
                                              [3.0, 45.1], [3.0, 45.0]]]}


def audit_actions(conn: psycopg.Connection, tenant: str) -> list[str]:
    return [a for (a,) in conn.execute(
        "select action from audit_log a join tenants t on t.id = a.tenant_id "
        "where t.slug = %s and action ~ '^(lighting_policy|dark_zone)' order by a.id", (tenant,))]


# --- policies -------------------------------------------------------------------------------
def test_a_policy_set_above_is_followed_below_until_the_commune_sets_its_own(
        client: TestClient, conn: psycopg.Connection, tree: Tree) -> None:
    epci = auth(key_for(conn, tree.epci))
    commune = auth(key_for(conn, tree.commune_a, "operator"))
    url = f"{API}/lighting/policies/{tree.commune_a}"
    default = client.get(url, headers=commune).json()
    assert (default["source"], default["from_tenant"], default["off_from"]) == ("default", None,
                                                                               "23:00")
    r = client.put(f"{API}/lighting/policies/{tree.epci}", headers=epci,
                   json={"dim_at": "21:30", "dim_level_pct": 40, "off_from": "00:30",
                         "note": "Délibération du 12 mars 2026"})
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "own" and r.json()["updated_by"].startswith("key:")
    inherited = client.get(url, headers=commune).json()
    assert (inherited["source"], inherited["from_tenant"]) == ("inherited", tree.epci)
    assert (inherited["dim_at"], inherited["dim_level_pct"], inherited["off_from"]) == (
        "21:30", 40, "00:30")
    assert inherited["updated_by"] is None  # who set the EPCI's is the EPCI's business
    own = client.put(url, headers=commune, json={"evening_level_pct": 80, "off_from": None})
    assert own.status_code == 201
    assert (own.json()["source"], own.json()["off_from"], own.json()["dim_at"]) == (
        "own", None, "22:00")
    assert client.put(url, headers=commune, json={"evening_level_pct": 90}).status_code == 200
    listed = client.get(f"{API}/lighting/policies", headers=epci).json()
    assert [(p["tenant"], p["evening_level_pct"]) for p in listed["data"]] == [
        (tree.epci, 100), (tree.commune_a, 90)] and listed["count"] == 2  # by slug
    assert client.delete(url, headers=commune).status_code == 204
    assert client.get(url, headers=commune).json()["source"] == "inherited"
    assert client.delete(url, headers=commune).status_code == 404
    assert audit_actions(conn, tree.commune_a) == [
        "lighting_policy.create", "lighting_policy.update", "lighting_policy.delete"]


def test_an_unusable_policy_is_a_422_with_the_reasons(client: TestClient, conn: psycopg.Connection,
                                                      tree: Tree) -> None:
    key = auth(key_for(conn, tree.commune_a))
    url = f"{API}/lighting/policies/{tree.commune_a}"
    r = client.put(url, headers=key, json={"off_from": "01:00", "off_until": "23:30",
                                           "dim_at": "02:00"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "field 'dim_at': dimming at 02:00 comes after the switch-off at 01:00" in detail
    assert "field 'off_until': the switch-off must end (23:30) after it begins (01:00)" in detail
    r = client.put(url, headers=key, json={"dusk_offset_min": -5, "dim_at": "25:00"})
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in r.json()["errors"]} == {("body", "dusk_offset_min"),
                                                             ("body", "dim_at")}
    assert client.get(url, headers=key).json()["source"] == "default"  # nothing stored


def test_a_viewer_reads_policies_but_cannot_set_them(client: TestClient, conn: psycopg.Connection,
                                                     tree: Tree) -> None:
    viewer = auth(key_for(conn, tree.commune_a, "viewer"))
    url = f"{API}/lighting/policies/{tree.commune_a}"
    assert client.get(url, headers=viewer).status_code == 200
    assert client.put(url, headers=viewer, json={}).status_code == 403
    # A commune cannot change its EPCI's policy, nor its neighbour's.
    commune = auth(key_for(conn, tree.commune_a))
    for other in (tree.epci, tree.commune_b):
        assert client.put(f"{API}/lighting/policies/{other}", headers=commune,
                          json={}).status_code == 403
        assert client.get(f"{API}/lighting/policies/{other}", headers=commune).status_code == 404


# --- dark zones -----------------------------------------------------------------------------
def test_dark_zones_are_created_listed_changed_and_deleted(client: TestClient,
                                                           conn: psycopg.Connection,
                                                           tree: Tree) -> None:
    key = auth(key_for(conn, tree.commune_a, "technician"))
    register_device(conn, tree.commune_a, "armoire-gorges")  # at 45.03 N, 3.09 E: inside
    body = {"tenant": tree.commune_a, "name": "Gorges de l'Ander", "area": GORGES,
            "reason": "Corridor de chiroptères"}
    r = client.post(f"{API}/lighting/dark-zones", headers=key, json=body)
    assert r.status_code == 201, r.text
    zone = r.json()
    assert r.headers["Location"].endswith(f"/lighting/dark-zones/{zone['id']}")
    assert (zone["cabinets"], zone["level_pct"], zone["starts"], zone["area"]["type"]) == (
        1, 0, None, "MultiPolygon")
    assert client.post(f"{API}/lighting/dark-zones", headers=key, json=body).status_code == 409
    url = f"{API}/lighting/dark-zones/{zone['id']}"
    r = client.patch(url, headers=key, json={"level_pct": 20, "starts": "22:00", "ends": "05:30"})
    assert r.status_code == 200, r.text
    assert (r.json()["level_pct"], r.json()["starts"], r.json()["ends"]) == (20, "22:00", "05:30")
    far = {"type": "Polygon", "coordinates": [[[4.0, 46.0], [4.1, 46.0], [4.1, 46.1],
                                               [4.0, 46.0]]]}
    assert client.patch(url, headers=key, json={"area": far}).json()["cabinets"] == 0
    listed = client.get(f"{API}/lighting/dark-zones", params={"tenant": tree.commune_a},
                        headers=key).json()
    assert [z["name"] for z in listed["data"]] == ["Gorges de l'Ander"] and listed["count"] == 1
    assert client.delete(url, headers=key).status_code == 204
    assert client.get(url, headers=key).status_code == 404
    assert audit_actions(conn, tree.commune_a) == ["dark_zone.create", "dark_zone.update",
                                                   "dark_zone.update", "dark_zone.delete"]


def test_an_invalid_dark_zone_is_a_422_with_the_reason(client: TestClient,
                                                       conn: psycopg.Connection,
                                                       tree: Tree) -> None:
    key = auth(key_for(conn, tree.commune_a))
    base = {"tenant": tree.commune_a, "name": "Zone"}
    cases = [
        ({"area": BOWTIE}, "area", "not a valid polygon"),
        ({"area": {"type": "Point", "coordinates": [3.0, 45.0]}}, "area", "Polygon"),
        ({"area": {"type": "Polygon", "coordinates": [[[45.0, 3.0], [45.1, 3.0], [45.1, 3.1]]]}},
         "area.coordinates", "at least 4 positions"),
        ({"area": GORGES, "starts": "22:00"}, "ends", "give both"),
        ({"area": GORGES, "level_pct": 101}, "level_pct", "less than or equal to 100"),
    ]
    for extra, field, words in cases:
        r = client.post(f"{API}/lighting/dark-zones", headers=key, json={**base, **extra})
        assert r.status_code == 422, (extra, r.text)
        assert any(e["loc"] == ["body", field] and words in e["msg"] for e in r.json()["errors"]), (
            extra, r.json())
    zone = client.post(f"{API}/lighting/dark-zones", headers=key,
                       json={**base, "area": GORGES}).json()
    r = client.patch(f"{API}/lighting/dark-zones/{zone['id']}", headers=key,
                     json={"name": None})
    assert r.status_code == 422 and "cannot be null" in r.json()["detail"]
    r = client.patch(f"{API}/lighting/dark-zones/{zone['id']}", headers=key,
                     json={"ends": "06:00"})
    assert r.status_code == 422 and "give both" in r.json()["detail"]


# --- schedules ------------------------------------------------------------------------------
def test_the_schedules_view_shows_the_prediction_the_check_and_the_zones(
        client: TestClient, conn: psycopg.Connection, tree: Tree) -> None:
    cabinet = LightingCabinet("t", "a", "A", lat=45.03, lon=3.09, seed=2)
    for device_id in ("armoire-1", "armoire-2"):
        uid = register_device(conn, tree.commune_a, device_id)
        conn.execute("update devices set metadata = %s where uid = %s",
                     (Jsonb(cabinet.metadata), uid))
    conn.execute("update devices set location = 'SRID=4326;POINT(3.2 45.2)' where id = 'armoire-2' "
                 "and tenant_id = (select id from tenants where slug = %s)", (tree.commune_a,))
    key = auth(key_for(conn, tree.commune_a))
    client.post(f"{API}/lighting/dark-zones", headers=key,
                json={"tenant": tree.commune_a, "name": "Gorges", "area": GORGES})
    client.put(f"{API}/lighting/policies/{tree.epci}", headers=auth(key_for(conn, tree.epci)),
               json={"dim_level_pct": 40})
    ids = [r[0] for r in conn.execute("select id from tenants where slug = %s",
                                      (tree.commune_a,))]
    now = datetime.now(UTC).replace(microsecond=0)
    assert queue_schedules(conn, cabinets(conn, ids), now=now, log=logging.getLogger("t")) == 2

    r = client.get(f"{API}/schedules", params={"tenant": tree.commune_a}, headers=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2
    by_device = {s["device_id"]: s for s in body["data"]}
    dark, lit = by_device["armoire-1"], by_device["armoire-2"]
    assert dark["dark_zones"] == ["Gorges"] and {s["level_pct"] for s in dark["steps"]} == {0}
    assert lit["dark_zones"] == [] and 40 in {s["level_pct"] for s in lit["steps"]}
    assert lit["policy_from"] == tree.epci and lit["status"] == "queued"
    assert lit["check"]["ok"] is True and lit["measured"] is None
    assert 0 < lit["prediction"]["saving_pct"] < dark["prediction"]["saving_pct"]
    assert lit["night"] >= (now - timedelta(days=1)).date().isoformat()
    only = client.get(f"{API}/schedules", params={"device": "armoire-2", "status": "queued",
                                                  "night": lit["night"]}, headers=key).json()
    assert [s["device_id"] for s in only["data"]] == ["armoire-2"]
    assert client.get(f"{API}/schedules", params={"night": "demain"},
                      headers=key).status_code == 422
