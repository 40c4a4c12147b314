"""Request and response bodies: `…Create` is what a client sends, `…Public` what it gets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, field_validator, model_validator

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
    parent: str | None = Field(description="the parent's slug; null for a root, or when the "
                               "parent is outside the key's scope")
    kind: Literal["syndicate", "epci", "commune", "partner"]


class TenantsPublic(BaseModel):
    data: list[TenantPublic]
    count: int


# --- users, API keys, partners' grants, audit log (docs/roles.md) -----------------------
Role = Literal["admin", "technician", "operator", "viewer"]


def _tenant_slug(value: str) -> str:
    if not TENANT_RE.match(value):
        raise ValueError(f"'{value[:80]}' is not a tenant slug")
    return value


TenantSlug = Annotated[str, AfterValidator(_tenant_slug),
                       Field(json_schema_extra={"pattern": TENANT_RE.pattern})]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                             examples=["jeanne.martin@saint-flour.fr"])]


class UserCreate(BaseModel):
    tenant: TenantSlug
    email: Email
    name: str | None = Field(None, min_length=1, max_length=200, examples=["Jeanne Martin"])
    role: Role


class UserPublic(BaseModel):
    id: int
    tenant: str
    email: str
    name: str | None
    role: Role
    created_at: Instant
    disabled_at: Instant | None


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


class KeyCreate(BaseModel):
    """A service key (`tenant` and `role`) or a user's key (`user`, with the user's role)."""

    tenant: TenantSlug | None = None
    role: Role | None = None
    user: Email | None = Field(None, description="the e-mail address of the key's user")
    name: str | None = Field(None, max_length=200, description="what the key is for")

    @model_validator(mode="after")
    def _service_or_user(self) -> KeyCreate:
        if self.user is None and (self.tenant is None or self.role is None):
            raise ValueError("give 'user', or 'tenant' and 'role' for a service key")
        return self


class KeyPublic(BaseModel):
    id: int
    tenant: str
    role: Role
    prefix: str = Field(description="the key's first characters, to recognise it")
    name: str | None
    user: str | None = Field(description="the e-mail address of its user; null: a service key")
    created_at: Instant
    revoked_at: Instant | None


class KeyCreated(KeyPublic):
    key: str = Field(description="the key itself, shown this once and never stored")


class KeysPublic(BaseModel):
    data: list[KeyPublic]
    count: int


class GrantCreate(BaseModel):
    """Lets a partner read some kinds of devices of a tenant (and below) until a date."""

    partner: TenantSlug = Field(examples=["sdis15"])
    tenant: TenantSlug = Field(examples=["saint-flour"])
    kinds: list[str] = Field(min_length=1, examples=[["hazard_detector"]])
    expires_at: AwareDatetime = Field(examples=["2027-12-31T23:59:59+01:00"])

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown device kind(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(KINDS))}")
        return value


class GrantPublic(BaseModel):
    id: int
    partner: str
    tenant: str
    kinds: list[str]
    expires_at: Instant
    active: bool = Field(description="false once expired")
    created_by: str
    created_at: Instant


class GrantsPublic(BaseModel):
    data: list[GrantPublic]
    count: int


class AuditEntryPublic(BaseModel):
    id: int
    at: Instant
    tenant: str
    actor: str = Field(description="'key:ID', 'user:EMAIL' or 'cli:ACCOUNT'")
    action: str = Field(examples=["device.register"])
    target: str
    detail: dict[str, Any]


class AuditPublic(BaseModel):
    data: list[AuditEntryPublic]
    count: int = Field(description="entries matching the filters, all pages together")


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


class DeviceUpdate(BaseModel):
    """Changes to a device: only the fields sent change (`null` clears model, DevEUI and
    LoRaWAN id). Its tenant, id and kind do not change: register a new device instead."""

    model_config = {"extra": "forbid"}

    name: str | None = Field(None, min_length=1, max_length=200)
    location: Location | None = None
    model: str | None = Field(None, max_length=200)
    dev_eui: str | None = Field(None, description="LoRaWAN DevEUI, 16 hexadecimal digits")
    lorawan_id: str | None = Field(None, max_length=128)
    metadata: dict[str, Any] | None = Field(None, description="replaces the whole metadata")

    @field_validator("dev_eui")
    @classmethod
    def _dev_eui(cls, value: str | None) -> str | None:
        return DeviceCreate._dev_eui(value)  # the same rule as at registration

    @model_validator(mode="after")
    def _something_valid(self) -> DeviceUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change: name, location, model, "
                             "dev_eui, lorawan_id or metadata")
        required = [f for f in ("name", "location", "metadata")
                    if f in self.model_fields_set and getattr(self, f) is None]
        if required:
            raise ValueError(f"{', '.join(required)} cannot be null")
        return self


ImportStatus = Literal["created", "exists", "invalid", "valid"]


class ImportRowPublic(BaseModel):
    line: int = Field(description="CSV: the line in the file (the header is line 1); "
                      "GeoJSON: the feature's position in `features`, from 1")
    tenant: str | None
    id: str | None
    status: ImportStatus = Field(description="`valid`: would be created (dry run only)")
    reason: str | None = Field(description="why the row is invalid, or what exists already")


class ImportPublic(BaseModel):
    dry_run: bool
    created: int
    exists: int
    invalid: int
    data: list[ImportRowPublic] = Field(description="one result per row, in the file's order")
    count: int = Field(description="rows read")


# --- readings ---------------------------------------------------------------------------
class ReadingPoint(BaseModel):
    ts: Instant
    value: float


class ReadingsPublic(BaseModel):
    data: list[ReadingPoint]
    count: int = Field(description="points in this response")
    next: str | None = Field(description="URL of the next points of the window, if any remain")


# --- events ----------------------------------------------------------------------------
class EventPublic(BaseModel):
    """A device event (contract §1.3): a condition that starts (`active`) or ends."""

    tenant: str
    device_id: str
    kind: str = Field(description="the device's kind")
    ts: Instant
    type: str = Field(examples=["door_open"])
    active: bool
    detail: dict[str, Any]
    received_at: Instant


class EventsPublic(BaseModel):
    data: list[EventPublic]
    count: int = Field(description="events matching the filters, all pages together")


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


# --- jobs -------------------------------------------------------------------------------
class JobRunPublic(BaseModel):
    """One run of a scheduled job (platform-wide: no tenant data)."""

    id: int
    job: str
    started_at: Instant
    finished_at: Instant
    rows: int = Field(description="rows the run wrote or dropped (chunks, for retention)")
    status: Literal["ok", "failed"]
    error: str | None = Field(description="why the run failed: the error's type and first line")


class JobRunsPublic(BaseModel):
    data: list[JobRunPublic]
    count: int = Field(description="runs matching the filter, all together")


class JobPublic(BaseModel):
    name: str
    description: str
    interval_seconds: int = Field(description="the job runs when its last run is this old")
    watermark: Instant | None = Field(description="where the job stands; null before its first run")
    last_run: JobRunPublic | None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


# --- commands (commands/) ---------------------------------------------------------------
CommandType = Literal["switch", "set_dimming", "set_schedule"]
CommandStatus = Literal["queued", "sent", "applied", "rejected", "failed", "expired", "cancelled"]


class CommandCreate(BaseModel):
    """A command to one device (contract §1.4). Lighting cabinets take `switch`
    {"on", "until"?}, `set_dimming` {"level_pct": 0-100, "until"?} and `set_schedule`
    {"steps": [{"at", "level_pct"}, …]} (steps in increasing time order)."""

    type: CommandType = Field(examples=["set_dimming"])
    params: dict[str, Any] = Field(default_factory=dict,
                                   examples=[{"level_pct": 40, "until": "2026-11-24T06:00:00Z"}])
    expires: AwareDatetime | None = Field(
        None, description="not applied after this instant; default: one hour after now "
        "(PHARE_COMMANDS_DEFAULT_TTL_S)")


class CommandTarget(BaseModel):
    """Which devices a group command goes to: every device of `tenant` (and the tenants below
    it) that takes the command, in `zone` or `bbox` if given; or the `devices` listed, by id
    in `tenant` itself."""

    model_config = {"extra": "forbid"}

    tenant: str | None = Field(None, description="default: the key's tenant")
    devices: list[str] | None = Field(None, min_length=1, max_length=10_000)
    zone: dict[str, Any] | None = Field(
        None, description="a GeoJSON Polygon or MultiPolygon (or a Feature holding one), "
        "[longitude, latitude] in WGS 84")
    bbox: list[float] | None = Field(None, description="[west, south, east, north] in degrees")


class CommandGroupCreate(CommandCreate):
    """A command to every device a target selects."""

    target: CommandTarget


class ForceOnCreate(BaseModel):
    """An emergency: every lighting cabinet of a zone on at 100 % until a given time."""

    model_config = {"extra": "forbid"}

    tenant: str | None = Field(None, description="default: the key's tenant")
    zone: dict[str, Any] | None = Field(None, description="a GeoJSON Polygon or MultiPolygon")
    bbox: list[float] | None = Field(None, description="[west, south, east, north] in degrees")
    until: AwareDatetime | None = Field(None, description="lit until then (or give a duration)")
    duration_minutes: int | None = Field(None, ge=1, le=72 * 60)
    reason: str = Field(min_length=3, max_length=500,
                        examples=["SDIS 15 : accident RD 926, demande du CODIS à 02:10"])

    @model_validator(mode="after")
    def _one_end(self) -> ForceOnCreate:
        if (self.until is None) == (self.duration_minutes is None):
            raise ValueError("give either 'until' or 'duration_minutes'")
        if self.zone is None and self.bbox is None:
            raise ValueError("give the zone to light: a GeoJSON 'zone' or a 'bbox'")
        return self


class CommandEventPublic(BaseModel):
    at: Instant
    event: str = Field(description="queued, sent, resent, delivery_error, applied, rejected, "
                       "failed, expired, cancelled, ack_ignored")
    status: CommandStatus = Field(description="the command's status after the event")
    attempt: int
    detail: dict[str, Any]


class CommandPublic(BaseModel):
    id: UUID
    tenant: str
    device_id: str
    type: str
    params: dict[str, Any]
    status: CommandStatus
    priority: int = Field(description="higher is sent first; 100: emergency force-on")
    source: str = Field(description="api, or force_on (an emergency)")
    group_id: UUID | None
    created_at: Instant
    sent_at: Instant | None = Field(description="the last time it was sent")
    attempts: int = Field(description="times sent so far")
    next_attempt_at: Instant | None = Field(
        description="when the dispatcher sends it again, or gives up, if no ack comes")
    expires_at: Instant | None
    acked_at: Instant | None = Field(description="the device's time of its acknowledgement")
    last_error: str | None = Field(description="the last delivery problem (broker), if any")
    detail: dict[str, Any] = Field(
        description="the device's ack detail, or why Phare gave up: `reason`, `message` (French), "
        "`message_en`")
    events: list[CommandEventPublic] | None = Field(
        None, description="its history, oldest first (only when reading one command)")


class CommandsPublic(BaseModel):
    data: list[CommandPublic]
    count: int = Field(description="commands matching the filters, all pages together")


class CommandGroupPublic(BaseModel):
    group_id: UUID
    devices: int = Field(description="devices selected")
    count: int = Field(description="commands created (a force-on makes two per cabinet)")
    undeliverable: int = Field(description="commands created `failed`: no route to the device")
    data: list[CommandPublic]


# --- health -----------------------------------------------------------------------------
class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    broker: Literal["ok", "unreachable"]
    version: str


# --- alerts (alerts/) -------------------------------------------------------------------
AlertSeverity = Literal["info", "low", "medium", "high", "critical"]
AlertStatus = Literal["open", "acknowledged", "resolved"]


class AlertPublic(BaseModel):
    """An alert (contract §3): active until resolved, at most one active per device and type."""

    id: int
    tenant: str
    device_id: str
    type: str = Field(examples=["flood"])
    severity: AlertSeverity
    status: AlertStatus
    opened_at: Instant = Field(description="when it first opened")
    message: str = Field(description="what operators read (French unless `lang=en`)")
    last_seen_at: Instant = Field(description="the latest observation of its condition")
    occurrences: int = Field(description="how many times its condition was observed")
    reopened_at: Instant | None = Field(description="when it last reopened, if it did")
    acknowledged_at: Instant | None
    acknowledged_by: str | None
    ack_comment: str | None
    resolved_at: Instant | None
    resolved_by: str | None
    resolution: Literal["cleared", "manual"] | None = Field(
        description="`cleared`: its condition cleared; `manual`: resolved by someone")
    escalation_level: int = Field(description="0 until it escalates, unacknowledged")


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    count: int = Field(description="alerts matching the filters, all pages together")


class AlertAction(BaseModel):
    """Acknowledging or resolving an alert: who (default: the key's user or the key) and why."""

    comment: str | None = Field(None, max_length=1000, examples=["Équipe sur place"])
    by: str | None = Field(None, min_length=1, max_length=200,
                           description="the person acting, when the key is shared by a team")


class AlertTransitionPublic(BaseModel):
    id: int
    at: Instant
    kind: Literal["opened", "reopened", "severity_raised", "acknowledged", "escalated",
                  "resolved"]
    from_status: AlertStatus | None
    to_status: AlertStatus
    from_severity: AlertSeverity | None
    to_severity: AlertSeverity
    actor: str
    comment: str | None
    detail: dict[str, Any]


class AlertTransitionsPublic(BaseModel):
    data: list[AlertTransitionPublic]
    count: int


class NotificationPublic(BaseModel):
    id: int
    event: str
    channel: Literal["webhook", "email", "mqtt"]
    target: str
    subject: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    error: str | None
    created_at: Instant
    sent_at: Instant | None


class NotificationsPublic(BaseModel):
    data: list[NotificationPublic]
    count: int


# --- KPIs ------------------------------------------------------------------------------------
class KpiFigure(BaseModel):
    """One figure of a KPI: its value (null when it cannot be computed), unit and method."""

    value: float | None
    unit: str = Field(examples=["kWh"])
    basis: str = Field(description="how the figure was computed, and from what")


class KpiSection(BaseModel):
    figures: dict[str, KpiFigure]
    note: str | None = Field(default=None, description="why some figures are null, if any")


class AlertCount(BaseModel):
    type: str
    status: AlertStatus
    count: int


class AlertKpis(BaseModel):
    counts: list[AlertCount] = Field(description="alerts opened in the period, by type and status")
    figures: dict[str, KpiFigure]


class KpiParameter(BaseModel):
    value: float
    unit: str
    source: str


class KpisPublic(BaseModel):
    """Key figures of a tenant and its sub-tenants over [from, to)."""

    model_config = {"populate_by_name": True}

    tenant: str
    from_: Instant = Field(alias="from", serialization_alias="from")
    to: Instant
    lighting: KpiSection
    buildings: KpiSection
    water: KpiSection
    alerts: AlertKpis
    parameters: dict[str, KpiParameter] = Field(
        description="the factors used; each can be overridden by the query parameter of its name")
