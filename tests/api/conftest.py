"""Fixtures of the API tests: an app on the session's database, keys, a tenant tree."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from phare.settings import Settings
from phare.tenancy import add_tenant, create_api_key


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """The API on the session's database schema and broker, lifespan running."""
    with TestClient(create_app(settings)) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Tree:
    """An EPCI (a root tenant of this test) with two communes below it."""

    epci: str
    commune_a: str
    commune_b: str


@pytest.fixture
def tree(conn: psycopg.Connection, tenant: str) -> Tree:
    a, b = f"{tenant}-a", f"{tenant}-b"
    add_tenant(conn, a, f"Commune A de {tenant}", parent=tenant)
    add_tenant(conn, b, f"Commune B de {tenant}", parent=tenant)
    return Tree(epci=tenant, commune_a=a, commune_b=b)


def key_for(conn: psycopg.Connection, tenant: str, role: str = "admin") -> str:
    return create_api_key(conn, tenant, role)


def device_body(tenant: str, device_id: str | None = None, **overrides: object) -> dict:
    body: dict[str, object] = {
        "tenant": tenant,
        "id": device_id or f"dev-{uuid.uuid4().hex[:8]}",
        "kind": "lighting_cabinet",
        "name": "Armoire place d'Armes",
        "location": {"lat": 45.0339, "lon": 3.0933},
    }
    body.update(overrides)
    return body


def insert_readings(conn: psycopg.Connection, uid: int, metric: str,
                    points: Iterable[tuple[datetime, float]]) -> None:
    """Stores readings directly, as ingest would (ingest is tested on its own)."""
    with conn.cursor() as cur:
        cur.executemany(
            "insert into readings (ts, tenant_id, device_uid, metric, value) "
            "select %s, tenant_id, uid, %s, %s from devices where uid = %s",
            [(ts, metric, value, uid) for ts, value in points],
        )
