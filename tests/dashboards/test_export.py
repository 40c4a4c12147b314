"""`phare dashboards export DIR`: the layout Grafana's file provisioning reads."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from dashboards.grafana import DATASOURCE_TYPE, DATASOURCE_UID, all_dashboards
from dashboards.provision import PASSWORD_ENV, Connection, export
from phare.cli import app

URL = "postgresql://phare_grafana:s3cret-pw@127.0.0.1:5432/phare"


def test_export_layout(tmp_path: Path) -> None:
    written = export(tmp_path, Connection.from_url(URL), folder="Phare")

    datasources = yaml.safe_load((tmp_path / "provisioning/datasources/phare.yaml").read_text())
    assert datasources["apiVersion"] == 1
    [source] = datasources["datasources"]
    assert (source["uid"], source["type"], source["url"], source["user"]) == (
        DATASOURCE_UID, DATASOURCE_TYPE, "127.0.0.1:5432", "phare_grafana")
    assert source["jsonData"]["timescaledb"] is True
    assert source["jsonData"]["database"] == "phare"
    # The password stays out of the file: Grafana expands its own environment variable.
    assert source["secureJsonData"]["password"] == f"${{{PASSWORD_ENV}}}"
    assert "s3cret-pw" not in "".join(p.read_text() for p in written)

    providers = yaml.safe_load((tmp_path / "provisioning/dashboards/phare.yaml").read_text())
    assert providers["apiVersion"] == 1
    [provider] = providers["providers"]
    assert (provider["type"], provider["folder"], provider["folderUid"]) == ("file", "Phare", "phare")
    boards_dir = Path(provider["options"]["path"])
    assert boards_dir.is_absolute() and boards_dir == (tmp_path / "dashboards").absolute()

    files = sorted(boards_dir.glob("*.json"))
    assert [f.stem for f in files] == sorted(d.uid for d in all_dashboards())
    for f in files:
        board = json.loads(f.read_text())
        assert board["uid"] == f.stem and board["title"].startswith("Phare — ")
        assert [v["name"] for v in board["templating"]["list"]] == ["tenant"]
        assert board["templating"]["list"][0]["datasource"]["uid"] == DATASOURCE_UID
        assert board["panels"]
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board["panels"]:
            assert panel["title"] and panel["datasource"]["uid"] == DATASOURCE_UID
            assert panel["targets"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == DATASOURCE_UID
                assert target["rawQuery"] is True and target["rawSql"].strip()
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24


def test_export_twice_rewrites_the_same_files(tmp_path: Path) -> None:
    first = export(tmp_path, Connection.from_url(URL))
    contents = {p: p.read_text() for p in first}
    second = export(tmp_path, Connection.from_url(URL))
    assert second == first and {p: p.read_text() for p in second} == contents
    assert len(list(tmp_path.rglob("*.*"))) == len(first)


def test_cli_export_with_grafana_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dashboards", "export", str(tmp_path),
                                      "--dashboards-path", "/var/lib/grafana/phare"],
                                env={"PHARE_GRAFANA_DATABASE_URL": URL})
    assert result.exit_code == 0, result.output
    assert "s3cret-pw" not in result.output and PASSWORD_ENV in result.output
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/phare.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/phare"
    assert len(list((tmp_path / "dashboards").glob("*.json"))) == len(all_dashboards())
