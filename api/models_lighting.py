"""Bodies of the public lighting endpoints: policies, dark zones, schedules (api/routes/lighting.py,
api/routes/schedules.py). Times are local (Europe/Paris) "HH:MM"; a time before noon is the
morning after the evening."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.models import CommandStatus, Instant, TenantSlug

LocalTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["22:00"])]
Level = Annotated[int, Field(ge=0, le=100)]
Offset = Annotated[int, Field(ge=0, le=180, description="minutes")]


# --- policies -------------------------------------------------------------------------------
class LightingPolicyBody(BaseModel):
    """A tenant's night dimming policy; what is left out takes the default shown."""

    dusk_offset_min: Offset = Field(0, description="on this long after sunset (never before: "
                                    "arrêté du 27 décembre 2018, art. 2)")
    dawn_offset_min: Offset = Field(0, description="off this long before sunrise")
    evening_level_pct: Level = Field(100, description="from dusk")
    dim_at: LocalTime | None = Field("22:00", description="dimmed from then; null: never")
    dim_level_pct: Level = 50
    off_from: LocalTime | None = Field("23:00", description="off from then; null: never")
    off_until: LocalTime = Field("05:00", description="until then")
    morning_level_pct: Level = Field(100, description="from `off_until` until dawn")
    safety_level_pct: Level = Field(30, description="the floor of cabinets whose metadata says "
                                    "`safety: true` (crossings, stairs), except in dark zones")
    note: str | None = Field(None, max_length=1000,
                             examples=["Délibération du conseil municipal du 12 mars 2026"])


class LightingPolicyPublic(LightingPolicyBody):
    tenant: str
    source: Literal["own", "inherited", "default"] = Field(
        description="the tenant's own policy, one inherited from a tenant above it, or the "
        "platform's default")
    from_tenant: str | None = Field(description="the tenant it comes from (null: the default)")
    updated_at: Instant | None
    updated_by: str | None = Field(description="who set it (only on the tenant's own policy)")


class LightingPoliciesPublic(BaseModel):
    data: list[LightingPolicyPublic]
    count: int = Field(description="policies matching the filters, all pages together")


# --- dark zones -----------------------------------------------------------------------------
class DarkZoneCreate(BaseModel):
    tenant: TenantSlug
    name: str = Field(min_length=1, max_length=200, examples=["Trame noire des gorges de l'Ander"])
    area: dict[str, Any] = Field(
        description="a GeoJSON Polygon or MultiPolygon (or a Feature holding one), "
        "[longitude, latitude] in WGS 84; the cabinets of the tenant and of the tenants below "
        "it that stand inside are capped")
    level_pct: Level = Field(0, description="the highest level inside (0: off)")
    starts: LocalTime | None = Field(None, description="capped from then (with `ends`); null: "
                                     "all night")
    ends: LocalTime | None = None
    reason: str | None = Field(None, max_length=1000,
                               examples=["Corridor de chiroptères (SRCE Auvergne)"])


class DarkZoneUpdate(BaseModel):
    """What to change; fields left out stay as they are (`starts`/`ends`: null for all night)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    area: dict[str, Any] | None = None
    level_pct: Level | None = None
    starts: LocalTime | None = None
    ends: LocalTime | None = None
    reason: str | None = Field(None, max_length=1000)


class DarkZonePublic(BaseModel):
    id: int
    tenant: str
    name: str
    area: dict[str, Any] = Field(description="GeoJSON MultiPolygon, WGS 84")
    level_pct: int
    starts: str | None
    ends: str | None
    reason: str | None
    cabinets: int = Field(description="lighting cabinets of the tenant (and below) inside it")
    created_at: Instant
    updated_at: Instant
    updated_by: str


class DarkZonesPublic(BaseModel):
    data: list[DarkZonePublic]
    count: int = Field(description="zones matching the filters, all pages together")


# --- schedules ------------------------------------------------------------------------------
class ScheduleStep(BaseModel):
    at: Instant
    level_pct: int


class SchedulePrediction(BaseModel):
    energy_kwh: float = Field(description="predicted at the meter, first step to last")
    full_kwh: float = Field(description="the same night at 100 % from dusk to dawn")
    saving_kwh: float
    saving_pct: float


class ScheduleMeasured(BaseModel):
    energy_kwh: float | None = Field(None, description="from the cabinet's energy index")
    saving_kwh: float | None = Field(None, description="`full_kwh` of the prediction minus it")
    saving_pct: float | None = None
    energy_error_pct: float | None = Field(None, description="measured against predicted energy")
    saving_error_pct: float | None = Field(None, description="measured against predicted saving")
    unavailable: str | None = Field(None, description="why it could not be measured (French)")


class ScheduleCheck(BaseModel):
    ok: bool = Field(description="passes the arrêté du 27 décembre 2018 (art. 2)")
    reasons: list[str] = Field(description="why not, in French")
    adjusted: list[str] = Field(description="what was changed to the policy's schedule to "
                                "comply, in French")
    policy_reasons: list[str] = Field(description="why the policy's own schedule did not pass")


class SchedulePublic(BaseModel):
    id: UUID = Field(description="the `set_schedule` command's id (GET /api/v1/commands/{id})")
    tenant: str
    device_id: str
    status: CommandStatus
    source: str = Field(description="who queued it: api, or the lighting job")
    night: str | None = Field(description="the date of the night's evening (local)")
    steps: list[ScheduleStep]
    prediction: SchedulePrediction | None = Field(
        description="the lighting job's prediction (null for a schedule sent by hand)")
    measured: ScheduleMeasured | None = Field(
        description="what the meter counted, once the night is over and the schedule applied")
    check: ScheduleCheck | None
    policy_from: str | None = Field(
        description="the tenant whose policy made it (null: the default, or by hand)")
    dark_zones: list[str] = Field(description="dark zones over the cabinet")
    created_at: Instant
    sent_at: Instant | None
    acked_at: Instant | None
    expires_at: Instant | None


class SchedulesPublic(BaseModel):
    data: list[SchedulePublic]
    count: int = Field(description="schedules matching the filters, all pages together")
