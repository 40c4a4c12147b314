"""Settings of a Phare process, read once from `PHARE_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DATABASE_PASSWORD = "phare"
# The API's own role, bound by row-level security (phare/migrations/0005_tenancy_rls.sql).
API_DATABASE_ROLE = "phare_api"
DEV_API_DATABASE_PASSWORD = "phare_api"


class Settings(BaseSettings):
    """Every setting Phare reads; defaults match the local stack of `make setup`."""

    model_config = SettingsConfigDict(env_prefix="PHARE_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: SecretStr = SecretStr("postgresql://phare:phare@127.0.0.1:5432/phare")
    # The API connects as a role that is not the tables' owner, so that row-level security
    # confines each request to its key's tenants. Unset: PHARE_DATABASE_URL with the user and
    # password phare_api (postgresql://phare_api:phare_api@127.0.0.1:5432/phare); see
    # `api_database()`.
    api_database_url: SecretStr | None = None
    database_schema: str = Field("phare", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    mqtt_url: str = "mqtt://127.0.0.1:1884"
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None

    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)

    ingest_client_id: str = Field("phare-ingest", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    ingest_max_payload_bytes: int = Field(256 * 1024, ge=1024)
    ingest_batch_max_messages: int = Field(5000, ge=1)
    ingest_batch_max_seconds: float = Field(0.2, gt=0)
    ingest_queue_max_messages: int = Field(50_000, ge=100)
    ingest_max_future_seconds: int = Field(600, ge=0)
    # How long the broker keeps a stopped worker's session (and queues its messages).
    ingest_session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    # Where messages wait on disk while the database is away, and how much may wait there.
    ingest_spool_dir: Path = Path("/var/lib/phare/spool")
    ingest_spool_max_bytes: int = Field(10 * 1024**3, ge=1024 * 1024)
    # Prometheus metrics on http://127.0.0.1:PORT/metrics; 0 turns them off.
    ingest_metrics_port: int = Field(9108, ge=0, le=65535)
    # Several `phare ingest` workers with the same group share the load (MQTT 5 shared
    # subscriptions); empty: one worker receives everything.
    ingest_shared_group: str = Field("", pattern=r"^[A-Za-z0-9_-]{0,64}$")

    # `phare worker`: raw readings older than this many days are dropped (whole one-day chunks),
    # and only once their hourly and daily rollups are complete; rollups are kept.
    retention_raw_days: int = Field(90, ge=1)

    # Commands to devices (commands/): a command not acknowledged within the ack timeout is sent
    # again, each wait `backoff` times the previous one, at most `max_attempts` sends, then it
    # is `failed`; past its `expires` (default: `default_ttl_s` after its creation) it is
    # `expired`. LoRaWAN devices hear downlinks only after an uplink: their timeout is longer.
    commands_ack_timeout_s: float = Field(30.0, gt=0)
    commands_lorawan_ack_timeout_s: float = Field(900.0, gt=0)
    commands_backoff: float = Field(2.0, ge=1)
    commands_max_attempts: int = Field(3, ge=1, le=20)
    commands_default_ttl_s: int = Field(3600, ge=10)
    commands_dispatch_interval_s: float = Field(2.0, gt=0)
    # Prefix of the dispatchers' MQTT client ids (each adds a random suffix).
    commands_client_id: str = Field("phare-commands", pattern=r"^[A-Za-z0-9._-]{1,48}$")

    # Alerts (`phare alerts run`). Per-tenant policies (`phare alerts policy`) override the
    # first three; alerts/__init__.py describes the life cycle.
    # An unacknowledged alert escalates (severity + 1, next notification route) after this.
    alerts_escalate_after_s: int = Field(900, ge=1)
    alerts_max_escalation: int = Field(2, ge=0, le=10)
    # A new occurrence this soon after an alert resolved reopens it instead of opening another.
    alerts_reopen_window_s: int = Field(900, ge=0)
    # Observations older than this (replayed backlogs) no longer open alerts; they still clear.
    alerts_stale_after_s: int = Field(3600, ge=1)
    # A device is offline after this many of its reporting intervals without a message.
    alerts_offline_missed_reports: float = Field(3.0, ge=1.0)
    alerts_battery_low_pct: float = Field(20.0, ge=0, le=100)
    # How often the alert timers (escalation, offline devices) run inside `phare alerts run`.
    alerts_timer_interval_s: float = Field(15.0, gt=0)
    # Live readings the rules engine relays to the stream per batch of its inbox, at most.
    alerts_stream_readings_max: int = Field(500, ge=0)
    # Notifications: webhook timeout, attempts and first retry delay (doubling each time).
    notify_timeout_s: float = Field(5.0, gt=0)
    notify_max_attempts: int = Field(5, ge=1)
    notify_retry_base_s: float = Field(5.0, gt=0)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Phare <alertes@phare.localhost>"
    # CAP 1.2 messages: <sender> (an address that names the platform operator).
    cap_sender: str = Field("alertes@phare.localhost", pattern=r"^[^\s,<&]{1,200}$")

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("PHARE_MQTT_URL must look like mqtt://host:1884 or mqtts://host:8883")
        return value

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> Settings:
        password = urlsplit(self.database_url.get_secret_value()).password
        if self.env == "production" and password == DEV_DATABASE_PASSWORD:
            raise ValueError("PHARE_DATABASE_URL uses the development password in production")
        api_password = urlsplit(self.api_database().get_secret_value()).password
        if self.env == "production" and api_password == DEV_API_DATABASE_PASSWORD:
            raise ValueError("PHARE_API_DATABASE_URL uses the development password in production")
        return self

    def api_database(self) -> SecretStr:
        """The API's database URL: PHARE_API_DATABASE_URL, or by default the database of
        PHARE_DATABASE_URL with the user and password phare_api."""
        if self.api_database_url is not None:
            return self.api_database_url
        return SecretStr(with_credentials(self.database_url.get_secret_value(),
                                          API_DATABASE_ROLE, DEV_API_DATABASE_PASSWORD))

    @property
    def mqtt_host(self) -> str:
        return urlsplit(self.mqtt_url).hostname or "127.0.0.1"

    @property
    def mqtt_port(self) -> int:
        parts = urlsplit(self.mqtt_url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def mqtt_tls(self) -> bool:
        return urlsplit(self.mqtt_url).scheme == "mqtts"

    def public_lines(self) -> list[str]:
        """`PHARE_NAME=value` lines of the effective settings, secrets masked."""
        lines = []
        for name in sorted(type(self).model_fields):
            value = getattr(self, name)
            if name == "database_url":
                value = mask_url_password(value.get_secret_value())
            elif name == "api_database_url":
                value = mask_url_password(self.api_database().get_secret_value())
            elif isinstance(value, SecretStr):
                value = "********"
            elif value is None:
                value = ""
            lines.append(f"PHARE_{name.upper()}={value}")
        return lines


def with_credentials(url: str, user: str, password: str) -> str:
    """The URL with its user and password replaced (same host, port and database)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def mask_url_password(url: str) -> str:
    """The URL with its password replaced by asterisks."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
