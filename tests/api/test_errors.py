"""Errors as clients see them: a database outage (a real network cut through a TCP proxy,
tests/tcpproxy.py) answers 503 without leaking anything, and the API recovers."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.main import create_app
from phare.settings import Settings
from tests.api.conftest import auth
from tests.tcpproxy import TcpProxy


@pytest.fixture
def proxy(settings: Settings) -> Iterator[TcpProxy]:
    url = urlsplit(settings.database_url.get_secret_value())
    p = TcpProxy(url.hostname or "127.0.0.1", url.port or 5432)
    yield p
    p.close()


def test_database_outage_is_503_and_the_api_recovers(settings: Settings, proxy: TcpProxy,
                                                     admin_key: str) -> None:
    url = urlsplit(settings.database_url.get_secret_value())
    netloc = f"{url.username}:{url.password}@127.0.0.1:{proxy.port}"
    via_proxy = settings.model_copy(
        update={"database_url": SecretStr(url._replace(netloc=netloc).geturl())})
    with TestClient(create_app(via_proxy)) as c:
        assert c.get("/api/v1/devices", headers=auth(admin_key)).status_code == 200

        proxy.cut()
        r = c.get("/api/v1/devices", headers=auth(admin_key))
        assert r.status_code == 503
        assert r.json() == {"detail": "database unavailable"}
        health = c.get("/api/v1/health")
        assert health.status_code == 503
        assert health.json()["database"] == "unavailable"

        proxy.restore()
        assert c.get("/api/v1/devices", headers=auth(admin_key)).status_code == 200
        assert c.get("/api/v1/health").json()["database"] == "ok"


def test_other_database_errors_are_500_without_details(settings: Settings,
                                                       conn: psycopg.Connection,
                                                       admin_key: str) -> None:
    """A schema the code does not expect (columns missing) must not reach the client."""
    broken_schema = f"{settings.database_schema}_broken"
    conn.execute(f'create schema "{broken_schema}"')
    try:
        conn.execute(f'create table "{broken_schema}".api_keys (id integer)')
        broken = settings.model_copy(update={"database_schema": broken_schema})
        with TestClient(create_app(broken)) as c:
            r = c.get("/api/v1/tenants", headers=auth(admin_key))
        assert r.status_code == 500
        assert r.json() == {"detail": "internal error"}
    finally:
        conn.execute(f'drop schema "{broken_schema}" cascade')
