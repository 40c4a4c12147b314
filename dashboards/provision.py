"""Puts Phare's dashboards into Grafana: through its HTTP API (`push`), or as the files of
Grafana's file provisioning (`export`).

Both are idempotent: the folder, the data source and the dashboards have fixed uids, so a second
run updates what the first created and never duplicates it. The data source connects to
PostgreSQL as PHARE_GRAFANA_DATABASE_URL says — a read-only role (docs/dashboards.md) — or,
when it is unset, as PHARE_DATABASE_URL does (Phare's own role; a warning says so).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml
from grafana_client import GrafanaApi, TokenAuth
from grafana_client.client import GrafanaClientError, GrafanaException
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dashboards.grafana import DATASOURCE_TYPE, DATASOURCE_UID, Dashboard, all_dashboards
from dashboards.grafana.errors import ProvisioningError
from phare.settings import Settings, mask_url_password

log = logging.getLogger(__name__)

DATASOURCE_NAME = "Phare TimescaleDB"
DEFAULT_FOLDER = "Phare"
POSTGRES_VERSION = 1500  # Grafana's code for PostgreSQL 15 (query builder hints only)
# Exported files never hold the password: Grafana reads it from its own environment.
PASSWORD_ENV = "PHARE_GRAFANA_DATABASE_PASSWORD"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class GrafanaSettings(BaseSettings):
    """The `PHARE_GRAFANA_*` settings: the connection Grafana's data source uses."""

    model_config = SettingsConfigDict(env_prefix="PHARE_GRAFANA_", extra="ignore")

    database_url: SecretStr | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and as whom Grafana connects to PostgreSQL."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    sslmode: str
    url: str = field(repr=False)  # the URL it came from
    from_phare_url: bool = False  # derived from PHARE_DATABASE_URL (Phare's own role)

    @classmethod
    def from_settings(cls, settings: Settings, grafana: GrafanaSettings) -> Connection:
        """PHARE_GRAFANA_DATABASE_URL, or else (unset or empty) PHARE_DATABASE_URL."""
        if grafana.database_url is not None and grafana.database_url.get_secret_value():
            return cls.from_url(grafana.database_url.get_secret_value())
        return replace(cls.from_url(settings.database_url.get_secret_value()),
                       from_phare_url=True)

    @classmethod
    def from_url(cls, url: str) -> Connection:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise ProvisioningError(f"not a PostgreSQL URL: {mask_url_password(url)}")
        database = unquote(parts.path.lstrip("/"))
        if not database or not parts.username:
            raise ProvisioningError("the database URL must name a user and a database: "
                                    f"{mask_url_password(url)}")
        query = parse_qs(parts.query)
        host = parts.hostname
        sslmode = query.get("sslmode", ["disable" if host in _LOOPBACK else "require"])[0]
        # Grafana knows these four; libpq's `prefer` and `allow` have no Grafana equivalent.
        if sslmode not in ("disable", "require", "verify-ca", "verify-full"):
            sslmode = "require"
        return cls(host=host, port=parts.port or 5432, database=database,
                   user=unquote(parts.username), password=unquote(parts.password or ""),
                   sslmode=sslmode, url=url)

    @property
    def masked(self) -> str:
        return mask_url_password(self.url)


def datasource_model(connection: Connection, *, password: str | None = None) -> dict[str, Any]:
    """The data source as Grafana's API and provisioning files take it.

    `password`: what to store as the password (default: the connection's).
    """
    host = f"[{connection.host}]" if ":" in connection.host else connection.host
    return {
        "uid": DATASOURCE_UID, "name": DATASOURCE_NAME, "type": DATASOURCE_TYPE,
        "access": "proxy", "url": f"{host}:{connection.port}", "user": connection.user,
        "isDefault": False, "editable": False,
        # Grafana 12 reads the database from jsonData only; older versions also accept it here.
        "jsonData": {"database": connection.database, "sslmode": connection.sslmode,
                     "postgresVersion": POSTGRES_VERSION, "timescaledb": True,
                     "maxOpenConns": 10, "maxIdleConns": 2, "connMaxLifetime": 14400},
        "secureJsonData": {"password": connection.password if password is None else password},
    }


# --- push -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PushResult:
    """What a push did."""

    folder_uid: str
    folder_created: bool
    datasource_created: bool
    dashboards: tuple[str, ...]  # uids


def folder_uid(title: str) -> str:
    """A folder's fixed uid, from its title: `Phare` → `phare`."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return (slug or "phare")[:40]


def connect(url: str, token: str, *, timeout: float = 10.0) -> GrafanaApi:
    """A Grafana API client for `url` (e.g. http://grafana:3000, or with a sub-path),
    authenticated with a service account token."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ProvisioningError(f"the Grafana URL must start with http:// or https://: {url}")
    return GrafanaApi.from_url(url, credential=TokenAuth(token), timeout=timeout)


def push(api: GrafanaApi, connection: Connection, *, folder: str = DEFAULT_FOLDER,
         dashboards: Sequence[Dashboard] | None = None) -> PushResult:
    """Creates or updates the folder, the data source and every dashboard in Grafana."""
    boards = all_dashboards() if dashboards is None else tuple(dashboards)
    try:
        info = api.health.check()
        log.info("Grafana %s at %s", (info or {}).get("version", "?"), api.client.url)
        uid, folder_created = _ensure_folder(api, folder)
        datasource_created = _ensure_datasource(api, connection)
        for board in boards:
            api.dashboard.update_dashboard({
                "dashboard": board.to_json(), "folderUid": uid, "overwrite": True,
                "message": "phare dashboards push"})
            log.info("dashboard %s (%s) in folder %s", board.uid, board.title, folder)
    except GrafanaException as exc:
        raise ProvisioningError(_explain(exc)) from exc
    except OSError as exc:  # the HTTP client's connection errors (refused, DNS, TLS…)
        raise ProvisioningError(f"cannot reach Grafana at {api.client.url}: {exc}") from exc
    return PushResult(uid, folder_created, datasource_created, tuple(b.uid for b in boards))


def _ensure_folder(api: GrafanaApi, title: str) -> tuple[str, bool]:
    """The folder's uid, and whether it was created; renamed if its title changed."""
    uid = folder_uid(title)
    try:
        existing = api.folder.get_folder(uid)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
    else:
        if existing.get("title") != title:
            api.folder.update_folder(uid, title=title, overwrite=True)
            log.info("folder %s renamed %r", uid, title)
        return uid, False
    try:
        api.folder.create_folder(title, uid=uid)
    except GrafanaClientError as exc:
        # A folder of that title made by hand (another uid): Grafana refuses a second one.
        if exc.status_code not in (400, 409, 412):
            raise
        for other in api.folder.get_all_folders():
            if other.get("title") == title:
                log.info("folder %r exists with uid %s: using it", title, other["uid"])
                return str(other["uid"]), False
        raise
    log.info("folder %s (%r) created", uid, title)
    return uid, True


def _ensure_datasource(api: GrafanaApi, connection: Connection) -> bool:
    """Creates the data source, or updates it in place; True if it was created."""
    model = datasource_model(connection)
    if connection.from_phare_url:
        log.warning("PHARE_GRAFANA_DATABASE_URL is not set: Grafana will connect as Phare's own "
                    "role (%s), which can write; see docs/dashboards.md for a read-only role",
                    connection.masked)
    try:
        api.datasource.get_datasource_by_uid(DATASOURCE_UID)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.datasource.create_datasource(model)
        log.info("data source %s created: %s", DATASOURCE_UID, connection.masked)
        return True
    api.datasource.update_datasource_by_uid(DATASOURCE_UID, model)
    log.info("data source %s updated: %s", DATASOURCE_UID, connection.masked)
    return False


def _explain(exc: GrafanaException) -> str:
    status = exc.status_code
    if status == 0:
        return f"cannot reach Grafana: {exc.message}"
    if status in (401, 403):
        return (f"Grafana refused the token ({status}): it needs a service account token with "
                f"the Admin role of the organisation")
    return f"Grafana answered {status}: {exc.message}"


# --- export -----------------------------------------------------------------------------
def export(directory: Path, connection: Connection, *, folder: str = DEFAULT_FOLDER,
           dashboards_path: Path | None = None,
           dashboards: Sequence[Dashboard] | None = None) -> list[Path]:
    """Writes Grafana's file-provisioning layout under `directory`; returns the files written.

    `directory/provisioning/datasources/phare.yaml` (the data source, its password taken from
    Grafana's environment variable PHARE_GRAFANA_DATABASE_PASSWORD),
    `directory/provisioning/dashboards/phare.yaml` (a provider reading `dashboards_path`,
    default `directory/dashboards` as an absolute path), `directory/dashboards/<uid>.json`.
    """
    boards = all_dashboards() if dashboards is None else tuple(dashboards)
    datasources_dir = directory / "provisioning" / "datasources"
    providers_dir = directory / "provisioning" / "dashboards"
    boards_dir = directory / "dashboards"
    for d in (datasources_dir, providers_dir, boards_dir):
        d.mkdir(parents=True, exist_ok=True)
    written = []

    source = datasource_model(connection, password=f"${{{PASSWORD_ENV}}}")
    source["orgId"] = 1
    path = datasources_dir / "phare.yaml"
    path.write_text(_yaml_file(
        "Phare's data source (phare dashboards export). The password comes from Grafana's "
        f"environment: set {PASSWORD_ENV} there.",
        {"apiVersion": 1, "datasources": [source]}))
    written.append(path)

    provider = {
        "name": "phare", "orgId": 1, "folder": folder, "folderUid": folder_uid(folder),
        "type": "file", "disableDeletion": False, "allowUiUpdates": False,
        "updateIntervalSeconds": 60,
        "options": {"path": str((dashboards_path or boards_dir).absolute()),
                    "foldersFromFilesStructure": False},
    }
    path = providers_dir / "phare.yaml"
    path.write_text(_yaml_file("Phare's dashboards (phare dashboards export).",
                               {"apiVersion": 1, "providers": [provider]}))
    written.append(path)

    for board in boards:
        path = boards_dir / f"{board.uid}.json"
        path.write_text(json.dumps(board.to_json(), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
        written.append(path)
    log.info("wrote %d files under %s (data source %s)", len(written), directory,
             connection.masked)
    return written


def _yaml_file(comment: str, content: dict[str, Any]) -> str:
    body = yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
    return f"# {comment}\n{body}"
