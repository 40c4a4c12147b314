"""Request and response bodies: `…Create` is what a client sends, `…Public` what it gets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from devices.catalogue import DEVICE_ID_RE, KINDS, TENANT_RE

# Instants are written in UTC (`…Z`) whatever the database session's time zone.
Instant = Annotated[datetime, AfterValidator(lambda v: v.astimezone(UTC))]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class Location(BaseModel):
    lat: Latitude
    lon: Longitude


# --- tenants ----------------------------------------------------------------------------
class TenantPublic(BaseModel):
    slug: str
    name: str
    parent: str | None


class TenantsPublic(BaseModel):
    data: list[TenantPublic]
    count: int


# --- devices ----------------------------------------------------------------------------
class DeviceCreate(BaseModel):
    """A device to register (contract §3)."""

    tenant: str = Field(json_schema_extra={"pattern": TENANT_RE.pattern},
                        examples=["saint-flour"])
    id: str = Field(json_schema_extra={"pattern": DEVICE_ID_RE.pattern}, examples=["armoire-12"])
    kind: str = Field(examples=["lighting_cabinet"])
    name: str = Field(min_length=1, max_length=200, examples=["Armoire place d'Armes"])
    location: Location
    model: str | None = Field(None, max_length=200)
    dev_eui: str | None = Field(None, description="LoRaWAN DevEUI, 16 hexadecimal digits")
    lorawan_id: str | None = Field(
        None, max_length=128, description="the network server's device id, if not the DevEUI"
    )
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tenant")
    @classmethod
    def _tenant_slug(cls, value: str) -> str:
        if not TENANT_RE.match(value):
            raise ValueError(f"'{value}' is not a tenant slug (lower-case letters, digits and "
                             "'-', at most 63, not starting with '-')")
        return value

    @field_validator("id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        if not DEVICE_ID_RE.match(value):
            raise ValueError(f"'{value[:80]}' is not a device id (1 to 64 letters, digits, "
                             "'.', '_' or '-')")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"kind '{value}' is not one of: {', '.join(sorted(KINDS))}")
        return value

    @field_validator("dev_eui")
    @classmethod
    def _dev_eui(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normal = value.replace("-", "").replace(":", "").upper()
        if len(normal) != 16 or any(c not in "0123456789ABCDEF" for c in normal):
            raise ValueError(f"DevEUI '{value}' must be 16 hexadecimal digits")
        return normal


class DevicePublic(BaseModel):
    id: str
    tenant: str
    kind: str
    name: str
    model: str | None
    location: Location | None
    dev_eui: str | None
    lorawan_id: str | None
    metadata: dict[str, Any]
    last_seen: Instant | None
    online: bool | None


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int = Field(description="devices matching the filters, all pages together")


# --- readings ---------------------------------------------------------------------------
class ReadingPoint(BaseModel):
    ts: Instant
    value: float


class ReadingsPublic(BaseModel):
    data: list[ReadingPoint]
    count: int = Field(description="points in this response")
    next: str | None = Field(description="URL of the next points of the window, if any remain")


# --- rejected messages ------------------------------------------------------------------
class RejectedPublic(BaseModel):
    id: int
    received_at: Instant
    tenant: str | None
    device_id: str | None
    topic: str
    reason: str
    detail: str
    payload_excerpt: str = Field(description="first 512 bytes, decoded as UTF-8")
    payload_size: int


class RejectedListPublic(BaseModel):
    data: list[RejectedPublic]
    count: int = Field(description="messages matching the filters, all pages together")


class ReasonCount(BaseModel):
    reason: str
    count: int


class ReasonCountsPublic(BaseModel):
    data: list[ReasonCount]
    count: int = Field(description="number of distinct reasons")


# --- health -----------------------------------------------------------------------------
class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    broker: Literal["ok", "unreachable"]
    version: str
