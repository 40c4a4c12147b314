"""Exports: CSV, GeoJSON and NGSI-LD, scoped to the key's tenants."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from psycopg import sql
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from api.exports import ngsi_ld
from tests.api.conftest import Tree, auth, insert_readings, key_for
from tests.conftest import register_device

REALCASES = Path(__file__).parents[1] / "fixtures" / "realcases"
SDM = Path(__file__).parents[1] / "fixtures" / "smart-data-models"
NOW = datetime.now(UTC).replace(microsecond=0)


def place(conn: psycopg.Connection, uid: int, lat: float, lon: float) -> None:
    conn.execute("update devices set location = st_makepoint(%s, %s)::geography where uid = %s",
                 (lon, lat, uid))


def add_alert(conn: psycopg.Connection, uid: int, alert_type: str = "water_leak", *,
              opened_at: datetime = NOW, **columns: Any) -> int:
    """Stores an alert directly (the alert lifecycle is tested on its own)."""
    names = ["tenant_id", "device_uid", "type", "severity", "source", "message", "text_key",
             "opened_at", "last_seen_at", "updated_at", *columns]
    query = sql.SQL(
        "insert into alerts ({}) select tenant_id, uid, %s, 'medium', 'test', 'Fuite', 'test', "
        "%s, %s, %s{} from devices where uid = %s returning id"
    ).format(sql.SQL(", ").join(map(sql.Identifier, names)),
             sql.SQL("".join(", %s" for _ in columns)))
    row = conn.execute(query, (alert_type, opened_at, opened_at, opened_at, *columns.values(),
                               uid)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def fleet(conn: psycopg.Connection, tree: Tree) -> dict[str, int]:
    """Commune A: a cabinet in Brioude (with readings and an alert) and a leak logger;
    commune B: a cabinet in Nice."""
    uids = {
        "a-cab": register_device(conn, tree.commune_a, "cab-1", "lighting_cabinet",
                                 model="Simatic S7 1200"),
        "a-log": register_device(conn, tree.commune_a, "log-1", "acoustic_leak_sensor"),
        "b-cab": register_device(conn, tree.commune_b, "cab-9", "lighting_cabinet"),
    }
    place(conn, uids["a-cab"], 45.2942, 3.3847)
    place(conn, uids["a-log"], 45.2950, 3.3850)
    place(conn, uids["b-cab"], 43.7034, 7.2663)
    for metric, value in (("energy_kwh", 1234.5), ("power_w", 1800.0), ("current_l1_a", 2.5)):
        insert_readings(conn, uids["a-cab"], metric, [(NOW - timedelta(hours=2), value - 1),
                                                      (NOW - timedelta(hours=1), value)])
    insert_readings(conn, uids["a-log"], "battery_pct", [(NOW - timedelta(hours=1), 80.0)])
    insert_readings(conn, uids["b-cab"], "energy_kwh", [(NOW - timedelta(hours=1), 99.0)])
    add_alert(conn, uids["a-log"])
    add_alert(conn, uids["b-cab"], "cabinet_fault")
    return uids


def get(client: TestClient, key: str, path: str, **params: str) -> Any:
    response = client.get(f"/api/v1/exports/{path}", headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    return response


def test_devices_csv_has_the_header_and_only_the_keys_devices(
        client: TestClient, conn: psycopg.Connection, tree: Tree, fleet: dict[str, int]) -> None:
    response = get(client, key_for(conn, tree.commune_a, "operator"), "devices.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["tenant", "id", "kind", "name", "model", "lat", "lon", "dev_eui",
                             "firmware", "online", "last_seen", "created_at"]
    assert {(r["tenant"], r["id"]) for r in rows} == {(tree.commune_a, "cab-1"),
                                                     (tree.commune_a, "log-1")}
    cabinet = next(r for r in rows if r["id"] == "cab-1")
    assert (float(cabinet["lat"]), float(cabinet["lon"])) == (45.2942, 3.3847)


def test_readings_csv_is_scoped_filtered_and_bounded(
        client: TestClient, conn: psycopg.Connection, tree: Tree, fleet: dict[str, int]) -> None:
    key = key_for(conn, tree.commune_a, "operator")
    window = {"from": (NOW - timedelta(days=1)).isoformat(), "to": (NOW + timedelta(minutes=1))
              .isoformat()}
    rows = list(csv.reader(io.StringIO(get(client, key, "readings.csv", **window).text)))
    assert rows[0] == ["tenant", "device_id", "metric", "ts", "value"]
    assert {r[1] for r in rows[1:]} == {"cab-1", "log-1"}
    assert len(rows) == 1 + 3 * 2 + 1
    only = list(csv.reader(io.StringIO(get(client, key, "readings.csv", device="cab-1",
                                           metric="energy_kwh", **window).text)))
    assert [float(r[4]) for r in only[1:]] == [1233.5, 1234.5]
    assert only[1][3].endswith("Z")
    # B's readings: not through the tenant filter either.
    response = client.get("/api/v1/exports/readings.csv", headers=auth(key),
                          params={"tenant": tree.commune_b, **window})
    assert response.status_code == 404
    too_long = {"from": (NOW - timedelta(days=40)).isoformat(), "to": NOW.isoformat()}
    response = client.get("/api/v1/exports/readings.csv", headers=auth(key), params=too_long)
    assert response.status_code == 422


def test_a_viewer_cannot_export(client: TestClient, conn: psycopg.Connection, tree: Tree) -> None:
    response = client.get("/api/v1/exports/devices.csv",
                          headers=auth(key_for(conn, tree.commune_a, "viewer")))
    assert response.status_code == 403


def assert_wgs84_points(collection: dict[str, Any]) -> None:
    assert collection["type"] == "FeatureCollection"
    assert "crs" not in collection
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90


def test_devices_geojson_is_rfc7946_in_lon_lat_order(
        client: TestClient, conn: psycopg.Connection, tree: Tree, fleet: dict[str, int]) -> None:
    response = get(client, key_for(conn, tree.commune_a, "operator"), "devices.geojson")
    assert response.headers["content-type"].startswith("application/geo+json")
    collection = response.json()
    assert_wgs84_points(collection)
    by_id = {f["properties"]["id"]: f for f in collection["features"]}
    assert set(by_id) == {"cab-1", "log-1"}
    # Brioude: longitude 3.38 E first, latitude 45.29 N second.
    assert by_id["cab-1"]["geometry"]["coordinates"] == [3.3847, 45.2942]


def test_alerts_geojson_is_scoped(client: TestClient, conn: psycopg.Connection, tree: Tree,
                                  fleet: dict[str, int]) -> None:
    epci = get(client, key_for(conn, tree.epci, "operator"), "alerts.geojson").json()
    assert_wgs84_points(epci)
    assert {f["properties"]["device_id"] for f in epci["features"]} == {"log-1", "cab-9"}
    commune_a = get(client, key_for(conn, tree.commune_a, "operator"), "alerts.geojson").json()
    assert [f["properties"]["type"] for f in commune_a["features"]] == ["water_leak"]
    assert commune_a["features"][0]["geometry"]["coordinates"] == [3.385, 45.295]


def keyvalues_example() -> dict[str, Any]:
    return dict(json.loads(
        (REALCASES / "fiware_sdm_StreetlightControlCabinet_example_keyvalues.json").read_text()))


def assert_normalized(entity: dict[str, Any]) -> None:
    """NGSI-LD normalized rules: every attribute a Property (value), GeoProperty or
    Relationship (object)."""
    assert entity["id"].startswith(f"urn:ngsi-ld:{entity['type']}:")
    assert any("smart-data-models" in c for c in entity["@context"])
    for name, attribute in entity.items():
        if name in ("id", "type", "@context"):
            continue
        assert attribute["type"] in ("Property", "GeoProperty", "Relationship"), name
        assert ("object" if attribute["type"] == "Relationship" else "value") in attribute, name
        if attribute["type"] == "GeoProperty":
            lon, lat = attribute["value"]["coordinates"]
            assert attribute["value"]["type"] == "Point" and -180 <= lon <= 180 \
                and -90 <= lat <= 90


# --- Smart Data Models JSON schemas (tests/fixtures/smart-data-models/README.md) ----------
SDM_HOST = "https://smart-data-models.github.io/"
# Older files name the FIWARE-era host for the same common definitions.
SDM_ALIASES = {"https://fiware.github.io/dataModels/common-schema.json":
               "data-models/common-schema.json"}
SCHEMAS = {"StreetlightControlCabinet": "dataModel.Streetlighting/StreetlightControlCabinet",
           "Device": "dataModel.Device/Device", "DeviceMeasurement": "dataModel.Device/DeviceMeasurement",
           "Alert": "dataModel.Alert/Alert"}


def sdm_file(path: str) -> dict[str, Any]:
    return dict(json.loads((SDM / path).read_text("utf-8")))


def sdm_registry(*, fix_alert_source: bool = True) -> Registry:
    """`$ref`s resolved from the vendored files, never from the network.

    `fix_alert_source`: alert-schema.json's `alertSource` is a oneOf of two branches that both
    accept any URN, so no entity id can pass it; checked as the anyOf upstream later wrote.
    """
    def retrieve(uri: str) -> Resource:
        path = SDM_ALIASES.get(uri) or (uri.removeprefix(SDM_HOST) if uri.startswith(SDM_HOST)
                                        else None)
        if path is None or not (SDM / path).is_file():
            raise NoSuchResource(ref=uri)
        contents = sdm_file(path)
        if fix_alert_source and path == "dataModel.Alert/alert-schema.json":
            source = contents["definitions"]["Common-Alert"]["properties"]["alertSource"]
            source["anyOf"] = source.pop("oneOf")
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    return Registry(retrieve=retrieve)  # type: ignore[call-arg]


def sdm_validator(entity_type: str, registry: Registry | None = None) -> Draft202012Validator:
    schema = sdm_file(f"{SCHEMAS[entity_type]}/schema.json")
    return Draft202012Validator(schema, registry=sdm_registry() if registry is None else registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(entity: dict[str, Any]) -> list[str]:
    """Why a key-values entity does not validate against its type's schema (nothing if it does)."""
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in sdm_validator(entity["type"]).iter_errors(entity)]
    if entity["type"] == "Device":  # the vocabularies Device-Commons names but does not apply
        vocab = sdm_file("dataModel.Device/device-schema.json")["definitions"]
        for name, definition in (("category", "CategoryType"),
                                 ("controlledProperty", "ControlledPropertyType")):
            allowed = vocab[definition]["items"]["enum"]
            errors += [f"{name}: {v!r} is not in {definition}" for v in entity.get(name, [])
                       if v not in allowed]
    return errors


def test_the_vendored_schemas_reject_what_they_should() -> None:
    """The validation below can fail: each schema rejects a broken entity of its type."""
    location = {"type": "Point", "coordinates": [3.0, 45.0]}
    broken = {
        "StreetlightControlCabinet": {"id": "urn:ngsi-ld:StreetlightControlCabinet:x",
                                      "type": "StreetlightControlCabinet", "location": location,
                                      "refStreetlightGroup": ["urn:ngsi-ld:StreetlightGroup:x"],
                                      "workingMode": "on"},  # not in the enumeration
        "Device": {"id": "urn:ngsi-ld:Device:x", "type": "Device", "category": ["sensor"]},
        "DeviceMeasurement": {"id": "urn:ngsi-ld:DeviceMeasurement:x",
                              "type": "DeviceMeasurement", "numValue": "12"},
        "Alert": {"id": "urn:ngsi-ld:Alert:x", "type": "Alert", "severity": "grave",
                  "dateIssued": "hier"},
    }
    for entity_type, entity in broken.items():
        assert not sdm_validator(entity_type).is_valid(entity), entity_type
    # The known defect, proved rather than assumed: as vendored, no URN passes alertSource.
    source = {"id": "urn:ngsi-ld:Alert:x", "type": "Alert",
              "alertSource": "urn:ngsi-ld:Device:t:d"}
    assert not sdm_validator("Alert", sdm_registry(fix_alert_source=False)).is_valid(source)
    assert sdm_validator("Alert").is_valid(source)


def test_ngsi_ld_entities_validate_against_the_smart_data_models_schemas(
        client: TestClient, conn: psycopg.Connection, tree: Tree, fleet: dict[str, int]) -> None:
    """Every entity type the export emits, in key-values form (the form the schemas describe:
    `ngsi_ld.key_values`, also served as `options=keyValues`), validates against the official
    schema of its type, `$ref`s resolved locally."""
    conn.execute("update devices set metadata = %s where uid = %s",
                 ('{"brand": "Siemens", "circuits": [{"name": "C1", "luminaires": 12}, '
                  '{"name": "rue du Pont", "luminaires": 8}]}', fleet["a-cab"]))
    detector = register_device(conn, tree.commune_a, "det-1", "hazard_detector")
    insert_readings(conn, detector, "water_level_cm", [(NOW - timedelta(hours=1), 42.0)])
    insert_readings(conn, detector, "battery_pct", [(NOW - timedelta(hours=1), 55.0)])
    add_alert(conn, detector, "flood")
    add_alert(conn, fleet["a-cab"], "cabinet_fault", opened_at=NOW - timedelta(days=2),
              status="resolved", resolved_at=NOW - timedelta(days=1))
    key = key_for(conn, tree.commune_a, "operator")
    normalized = get(client, key, "ngsi-ld").json()
    simple = get(client, key, "ngsi-ld", options="keyValues").json()
    assert simple == [ngsi_ld.key_values(e) for e in normalized]
    assert {e["type"] for e in simple} == set(SCHEMAS)
    failures = {e["id"]: errors for e in simple if (errors := schema_errors(e))}
    assert failures == {}

    by_id = {e["id"]: e for e in simple}
    cabinet = by_id[f"urn:ngsi-ld:StreetlightControlCabinet:{tree.commune_a}:cab-1"]
    assert cabinet["refStreetlightGroup"] == [
        f"urn:ngsi-ld:StreetlightGroup:{tree.commune_a}:cab-1:C1",
        f"urn:ngsi-ld:StreetlightGroup:{tree.commune_a}:cab-1:rue-du-Pont"]
    assert cabinet["workingMode"] == "automatic" and cabinet["brandName"] == "Siemens"
    device = by_id[f"urn:ngsi-ld:Device:{tree.commune_a}:det-1"]
    assert device["batteryLevel"] == 0.55
    assert {"depth", "smoke", "temperature"} <= set(device["controlledProperty"])
    alerts = {a["data"]["alertType"]: a for a in simple if a["type"] == "Alert"}
    assert set(alerts) == {"water_leak", "flood", "cabinet_fault"}
    assert alerts["flood"]["subCategory"] == "flood" and alerts["flood"]["category"] == \
        "naturalDisaster"
    assert "subCategory" not in alerts["water_leak"]  # the model's enumeration has no leak
    assert alerts["cabinet_fault"]["validTo"] == (NOW - timedelta(days=1)).isoformat().replace(
        "+00:00", "Z")


def test_ngsi_ld_entities_are_normalized_and_scoped(
        client: TestClient, conn: psycopg.Connection, tree: Tree, fleet: dict[str, int]) -> None:
    """NGSI-LD normalized rules, and the values against the realcases StreetlightControlCabinet
    example (same property names, same kinds of values)."""
    key = key_for(conn, tree.commune_a, "operator")
    response = get(client, key, "ngsi-ld")
    assert response.headers["content-type"].startswith("application/ld+json")
    entities = response.json()
    for entity in entities:
        assert_normalized(entity)
    ids = {e["id"] for e in entities}
    assert f"urn:ngsi-ld:StreetlightControlCabinet:{tree.commune_a}:cab-1" in ids
    assert f"urn:ngsi-ld:Device:{tree.commune_a}:log-1" in ids
    assert f"urn:ngsi-ld:DeviceMeasurement:{tree.commune_a}:cab-1:energy_kwh" in ids
    assert not any(tree.commune_b in i for i in ids)
    assert {e["type"] for e in entities} == {"StreetlightControlCabinet", "Device",
                                              "DeviceMeasurement", "Alert"}

    cabinet = next(e for e in entities if e["type"] == "StreetlightControlCabinet")
    example = keyvalues_example()
    assert cabinet["location"]["value"]["type"] == example["location"]["type"]
    assert cabinet["location"]["value"]["coordinates"] == [3.3847, 45.2942]
    shared = set(cabinet) & set(example) - {"id", "type", "location"}
    assert {"energyConsumed", "lastMeterReading", "intensityR", "modelName", "workingMode",
            "refStreetlightGroup"} <= shared
    for name in shared - {"refStreetlightGroup"}:  # numbers stay numbers, texts texts
        assert isinstance(cabinet[name]["value"], type(example[name]) if not isinstance(
            example[name], int | float) else int | float), name
    assert cabinet["refStreetlightGroup"]["object"] == [
        f"urn:ngsi-ld:StreetlightGroup:{tree.commune_a}:cab-1"]  # no circuits in its metadata
    assert cabinet["energyConsumed"]["value"] == 1234.5
    assert cabinet["totalActivePower"]["value"] == pytest.approx(1.8)  # kW
    assert cabinet["dateLastReading"]["value"]["@type"] == "DateTime"

    measurement = next(e for e in entities if e["id"].endswith("cab-1:power_w"))
    assert measurement["refDevice"]["object"] == cabinet["id"]
    assert measurement["numValue"]["value"] == 1800.0
    assert measurement["unit"]["value"] == "WTT"

    only_alerts = get(client, key, "ngsi-ld", type="Alert").json()
    assert [a["data"]["value"]["alertType"] for a in only_alerts] == ["water_leak"]
    assert only_alerts[0]["alertSource"]["object"] == f"urn:ngsi-ld:Device:{tree.commune_a}:log-1"
    for params in ({"type": "Pizza"}, {"options": "concise"}):
        assert client.get("/api/v1/exports/ngsi-ld", headers=auth(key),
                          params=params).status_code == 422
