"""Settings of a Phare process, read once from `PHARE_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_DATABASE_PASSWORD = "phare"


class Settings(BaseSettings):
    """Every setting Phare reads; defaults match the local stack of `make setup`."""

    model_config = SettingsConfigDict(env_prefix="PHARE_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: SecretStr = SecretStr("postgresql://phare:phare@127.0.0.1:5432/phare")
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
        return self

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
            elif isinstance(value, SecretStr):
                value = "********"
            elif value is None:
                value = ""
            lines.append(f"PHARE_{name.upper()}={value}")
        return lines


def mask_url_password(url: str) -> str:
    """The URL with its password replaced by asterisks."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
