"""`GET /kpis`: key figures of a hand-built tenant, whose daily rollups and alerts are known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api.queries.kpis import night_hours
from tests.api.conftest import Tree, auth, key_for
from tests.api.test_exports import add_alert, place
from tests.conftest import register_device

PARIS = ZoneInfo("Europe/Paris")
# Three Paris days, 10-12 December 2025.
START = datetime(2025, 12, 10, tzinfo=PARIS)
END = START + timedelta(days=3)
DAYS = [START + timedelta(days=i) for i in range(3)]
BRIOUDE = (45.2942, 3.3847)


def daily(conn: psycopg.Connection, uid: int, metric: str, deltas: list[float]) -> None:
    """Daily rollups with the given deltas, written as the rollup job would."""
    with conn.cursor() as cur:
        cur.executemany(
            "insert into readings_daily (tenant_id, device_uid, metric, bucket, avg, min, max, "
            "count, last, delta, computed_at) select tenant_id, uid, %s, %s, 0, 0, 0, 24, 0, %s, "
            "now() from devices where uid = %s",
            [(metric, day, delta, uid) for day, delta in zip(DAYS, deltas, strict=True)])


def set_metadata(conn: psycopg.Connection, uid: int, metadata: dict[str, Any]) -> None:
    conn.execute("update devices set metadata = %s where uid = %s", (Jsonb(metadata), uid))


@pytest.fixture
def town(conn: psycopg.Connection, tree: Tree) -> Tree:
    """EPCI: a rated cabinet (10 × 50 W) and a water meter; commune A: an unrated cabinet."""
    rated = register_device(conn, tree.epci, "cab-1", "lighting_cabinet")
    place(conn, rated, *BRIOUDE)
    set_metadata(conn, rated, {"luminaires": 10, "luminaire_w": 50})
    daily(conn, rated, "energy_kwh", [4.0, 4.0, 4.0])
    unrated = register_device(conn, tree.commune_a, "cab-2", "lighting_cabinet")
    daily(conn, unrated, "energy_kwh", [6.0, 6.0, 6.0])
    daily(conn, unrated, "power_w", [100.0, 100.0, 100.0])  # not energy: ignored
    meter = register_device(conn, tree.epci, "meter-1", "water_meter")
    # A leak losing 24 m³ a day, detected on the 10th at noon, repaired a day later.
    opened = datetime(2025, 12, 10, 12, tzinfo=UTC)
    add_alert(conn, meter, "water_leak", opened_at=opened, status="resolved",
              resolved_at=opened + timedelta(days=1), params=Jsonb({"lost_m3_per_day": 24.0}))
    # Acknowledged after 5, 10 and 60 minutes: the median is 10.
    for device, minutes in ((rated, 5), (unrated, 10), (meter, 60)):
        t = datetime(2025, 12, 11, 20, tzinfo=UTC)
        add_alert(conn, device, "cabinet_fault" if device != meter else "device_offline",
                  opened_at=t, status="acknowledged", acknowledged_at=t + timedelta(minutes=minutes))
    add_alert(conn, rated, "fire", opened_at=START - timedelta(days=1))  # before the period
    return tree


def kpis(client: TestClient, key: str, **params: str) -> Any:
    return client.get("/api/v1/kpis", headers=auth(key),
                      params={"from": START.isoformat(), "to": END.isoformat(), **params})


def figure(section: dict[str, Any], name: str) -> Any:
    value = section["figures"][name]
    assert value["unit"] and value["basis"]
    return value["value"]


def test_kpis_of_a_tenant_and_its_sub_tenants(client: TestClient, conn: psycopg.Connection,
                                              town: Tree) -> None:
    response = kpis(client, key_for(conn, town.epci, "viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenant"] == town.epci
    lighting = body["lighting"]
    assert figure(lighting, "energy_measured_kwh") == pytest.approx(30.0)
    nights = [night_hours(45.29, 3.38, d.date()) for d in DAYS]
    assert all(15 < h < 17 for h in nights)  # December nights in Auvergne
    baseline = 0.5 * sum(nights)
    assert figure(lighting, "energy_baseline_kwh") == pytest.approx(baseline, rel=1e-3)
    assert figure(lighting, "energy_saved_kwh") == pytest.approx(baseline - 12.0, rel=1e-3)
    assert figure(lighting, "cost_eur") == pytest.approx(30.0 * 0.20)
    assert figure(lighting, "cost_t_co2") == pytest.approx(30.0 * 0.052 / 1000)
    assert "1 of 2 cabinets" in lighting["note"]
    assert figure(body["buildings"], "energy_measured_kwh") is None

    water = body["water"]
    assert figure(water, "volume_lost_m3") == pytest.approx(24.0)
    # Repaired on the 11th 12:00 UTC; the period ends on the 12th 23:00 UTC: 1.4583 days.
    assert figure(water, "volume_avoided_m3") == pytest.approx(24.0 * 35 / 24)
    assert figure(water, "lost_eur") == pytest.approx(48.0)

    alerts = body["alerts"]
    assert figure(alerts, "median_time_to_acknowledge_min") == pytest.approx(10.0)
    assert figure(alerts, "median_time_to_resolve_min") == pytest.approx(24 * 60)
    assert figure(alerts, "opened") == 4
    counts = {(c["type"], c["status"]): c["count"] for c in alerts["counts"]}
    assert counts == {("cabinet_fault", "acknowledged"): 2, ("device_offline", "acknowledged"): 1,
                      ("water_leak", "resolved"): 1}
    assert body["parameters"]["kg_co2_per_kwh"]["value"] == 0.052


def test_a_sub_tenant_sees_its_own_figures_and_factors_are_configurable(
        client: TestClient, conn: psycopg.Connection, town: Tree) -> None:
    body = kpis(client, key_for(conn, town.epci, "viewer"), tenant=town.commune_a,
                eur_per_kwh="0.5").json()
    lighting = body["lighting"]
    assert figure(lighting, "energy_measured_kwh") == pytest.approx(18.0)
    assert figure(lighting, "energy_baseline_kwh") is None
    assert "nominal power" in lighting["note"]
    assert figure(lighting, "cost_eur") == pytest.approx(9.0)
    assert figure(body["water"], "leaks") == 0


def test_out_of_scope_tenant_and_bad_period(client: TestClient, conn: psycopg.Connection,
                                            town: Tree) -> None:
    key = key_for(conn, town.commune_a, "viewer")
    assert kpis(client, key, tenant=town.epci).status_code == 404
    assert kpis(client, key, tenant=town.commune_b).status_code == 404
    response = client.get("/api/v1/kpis", headers=auth(key),
                          params={"from": END.isoformat(), "to": START.isoformat()})
    assert response.status_code == 422
    # Its own tenant by default: it sees none of the EPCI's cabinets.
    own = kpis(client, key).json()
    assert own["tenant"] == town.commune_a
    assert figure(own["lighting"], "energy_measured_kwh") == pytest.approx(18.0)
    assert figure(own["alerts"], "opened") == 1
