"""The application as a whole: its OpenAPI document names every route of the contract."""

from __future__ import annotations

from fastapi.testclient import TestClient

import phare


def test_openapi_describes_the_api(client: TestClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["info"]["title"] == "Phare"
    assert doc["info"]["version"] == phare.__version__
    paths = doc["paths"]
    assert set(paths) >= {
        "/api/v1/health", "/api/v1/tenants", "/api/v1/devices",
        "/api/v1/devices/{tenant}/{device_id}", "/api/v1/devices/{tenant}/{device_id}/readings",
        "/api/v1/rejected", "/api/v1/rejected/counts",
    }
    assert "post" in paths["/api/v1/devices"]
    readings = {p["name"] for p in paths["/api/v1/devices/{tenant}/{device_id}/readings"]["get"]
                ["parameters"]}
    assert readings >= {"metric", "from", "to", "bucket", "limit"}
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
