"""`GET /api/v1/health` against the real database and broker, and with each of them away."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pydantic import SecretStr

import phare
from api.main import create_app
from phare.settings import Settings
from tests.conftest import free_port


def test_healthy_platform_answers_ok_without_a_key(client: TestClient) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok",
                        "version": phare.__version__}


def test_unreachable_broker_makes_health_degraded(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"})
    with TestClient(create_app(nowhere)) as c:
        r = c.get("/api/v1/health")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded"
    assert r.json()["broker"] == "unreachable"
    assert r.json()["database"] == "ok"


def test_unavailable_database_makes_health_degraded(settings: Settings) -> None:
    url = f"postgresql://phare:phare@127.0.0.1:{free_port()}/phare_test"
    nowhere = settings.model_copy(update={"database_url": SecretStr(url)})
    with TestClient(create_app(nowhere)) as c:
        r = c.get("/api/v1/health")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded"
    assert r.json()["database"] == "unavailable"
    assert r.json()["broker"] == "ok"
