"""`phare dashboards push` against a local stand-in for Grafana's HTTP API (fake_grafana.py):
no Grafana server can be installed here, so a small HTTP server started by the test answers
the folder, data source and dashboard endpoints that `grafana-client` calls, as Grafana does,
and records every request."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from dashboards.grafana import DATASOURCE_UID, all_dashboards
from dashboards.grafana.errors import ProvisioningError
from dashboards.provision import Connection, connect, push
from phare.cli import app
from phare.settings import Settings
from tests.conftest import free_port
from tests.dashboards.fake_grafana import FakeGrafana

TOKEN = "glsa_test_token_0123456789"
GRAFANA_DB_URL = "postgresql://phare_grafana:s3cret-pw@db.example:5433/phare?sslmode=verify-full"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana(TOKEN)
    server.start()
    yield server
    server.stop()


def connection() -> Connection:
    return Connection.from_url(GRAFANA_DB_URL)


def test_push_twice_creates_then_updates(grafana: FakeGrafana,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    first = push(connect(grafana.url, TOKEN), connection(), folder="Phare")
    second = push(connect(grafana.url, TOKEN), connection(), folder="Phare")
    state = grafana.state
    uids = {d.uid for d in all_dashboards()}

    # The folder: created once, found the second time.
    assert (first.folder_created, second.folder_created) == (True, False)
    assert len(state.calls("POST", "/api/folders")) == 1
    assert list(state.folders) == ["phare"] and state.folders["phare"]["title"] == "Phare"

    # The data source: created, then updated in place by its uid (never a second one).
    assert (first.datasource_created, second.datasource_created) == (True, False)
    assert len(state.calls("POST", "/api/datasources")) == 1
    assert len(state.calls("PUT", f"/api/datasources/uid/{DATASOURCE_UID}")) == 1
    assert list(state.datasources) == [DATASOURCE_UID]
    source = state.datasources[DATASOURCE_UID]
    assert source["version"] == 2
    assert (source["url"], source["user"]) == ("db.example:5433", "phare_grafana")
    assert source["jsonData"]["database"] == "phare"
    assert source["jsonData"]["timescaledb"] is True
    assert source["jsonData"]["sslmode"] == "verify-full"
    assert source["secureJsonData"]["password"] == "s3cret-pw"

    # Each dashboard: posted twice with overwrite, into the folder, stored once.
    posts = state.calls("POST", "/api/dashboards/db")
    assert len(posts) == 2 * len(uids)
    assert all(p.body["overwrite"] is True and p.body["folderUid"] == "phare" for p in posts)
    assert all("id" not in p.body["dashboard"] for p in posts)
    assert set(state.dashboards) == uids
    assert all(d["version"] == 2 and d["folderUid"] == "phare" for d in state.dashboards.values())

    # Every request carried the token; the logs never show the password.
    assert all(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in state.requests)
    assert "s3cret-pw" not in caplog.text and "phare_grafana:********@" in caplog.text


def test_renamed_folder_keeps_its_uid(grafana: FakeGrafana) -> None:
    push(connect(grafana.url, TOKEN), connection(), folder="Phare")
    grafana.state.folders["phare"]["title"] = "Renamed by hand"
    push(connect(grafana.url, TOKEN), connection(), folder="Phare")
    assert list(grafana.state.folders) == ["phare"]
    assert grafana.state.folders["phare"]["title"] == "Phare"


def test_folder_made_by_hand_is_reused(grafana: FakeGrafana) -> None:
    grafana.state.folders["abc123"] = {"id": 99, "uid": "abc123", "title": "Phare", "version": 1}
    result = push(connect(grafana.url, TOKEN), connection(), folder="Phare")
    assert result.folder_uid == "abc123" and list(grafana.state.folders) == ["abc123"]
    assert {d["folderUid"] for d in grafana.state.dashboards.values()} == {"abc123"}


def test_wrong_token_is_explained(grafana: FakeGrafana) -> None:
    with pytest.raises(ProvisioningError, match="refused the token"):
        push(connect(grafana.url, "wrong"), connection())
    assert grafana.state.dashboards == {}


def test_unreachable_grafana_is_explained() -> None:
    with pytest.raises(ProvisioningError, match="cannot reach Grafana"):
        push(connect(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2), connection())


def test_cli_push_uses_the_grafana_database_url(grafana: FakeGrafana) -> None:
    """`phare dashboards push`: PHARE_GRAFANA_DATABASE_URL for the data source, the token from
    the environment, the password masked in what it prints."""
    result = CliRunner().invoke(app, ["dashboards", "push", "--url", grafana.url,
                                      "--folder", "Éclairage et réseaux"],
                                env={"PHARE_GRAFANA_TOKEN": TOKEN,
                                     "PHARE_GRAFANA_DATABASE_URL": GRAFANA_DB_URL})
    assert result.exit_code == 0, result.output
    assert "6 dashboards pushed" in result.output and "s3cret-pw" not in result.output
    assert list(grafana.state.folders) == ["eclairage-et-reseaux"]
    assert grafana.state.datasources[DATASOURCE_UID]["user"] == "phare_grafana"


def test_cli_push_falls_back_to_phares_own_url(grafana: FakeGrafana) -> None:
    result = CliRunner().invoke(app, ["dashboards", "push", "--url", grafana.url,
                                      "--token", TOKEN],
                                env={"PHARE_DATABASE_URL": "postgresql://phare:pw@10.0.0.5/phare",
                                     "PHARE_GRAFANA_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    source = grafana.state.datasources[DATASOURCE_UID]
    assert (source["url"], source["user"], source["jsonData"]["sslmode"]) == (
        "10.0.0.5:5432", "phare", "require")


def test_connection_from_settings_prefers_the_grafana_url() -> None:
    from dashboards.provision import GrafanaSettings

    settings = Settings(database_url="postgresql://phare:phare@127.0.0.1:5432/phare")
    own = Connection.from_settings(settings, GrafanaSettings(database_url=None))
    assert (own.user, own.from_phare_url, own.sslmode) == ("phare", True, "disable")
    grafana = Connection.from_settings(settings, GrafanaSettings(database_url=GRAFANA_DB_URL))
    assert (grafana.user, grafana.from_phare_url) == ("phare_grafana", False)
    assert "s3cret-pw" not in repr(grafana) and "s3cret-pw" not in grafana.masked
