"""Scenarios: a territory described in YAML (tenants, devices, networks, faults), validated.

A scenario is loaded by name (`default`, a file shipped in `scenarios/`), by path, or
generated (`large:10000`, see `generate.py`). Validation is strict: an unknown key, a
reference to a tenant or building that does not exist, a sensor beyond the end of its pipe
all fail with the path of the offending value.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from devices.catalogue import DEVICE_ID_PATTERN, TENANT_PATTERN

from .building import HEATING, USAGES
from .calendar_fr import SCHOOL_HOLIDAYS
from .errors import ScenarioError
from .leaks import ATTENUATION_DB_PER_M

SCENARIOS = "scenarios"  # folder of this package holding the named scenarios
GENERATED_PREFIX = "large:"

Slug = Annotated[str, Field(pattern=rf"^{TENANT_PATTERN}$")]
DeviceId = Annotated[str, Field(pattern=rf"^{DEVICE_ID_PATTERN}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Latitude = Annotated[float, Field(ge=41.0, le=51.5)]  # metropolitan France
Longitude = Annotated[float, Field(ge=-5.5, le=10.0)]
LatLon = tuple[Latitude, Longitude]
Positive = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Device(_Model):
    id: DeviceId
    tenant: Slug
    name: Name | None = None


class Area(_Model):
    """Where the territory is: its weather's reference point."""

    name: Name
    lat: Latitude
    lon: Longitude
    altitude_m: Annotated[float, Field(ge=-10, le=4800)]


class CalendarSpec(_Model):
    school_zone: str = "A"

    @field_validator("school_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in SCHOOL_HOLIDAYS:
            raise ValueError(f"no school calendar for zone {value!r} (known: "
                             f"{', '.join(sorted(SCHOOL_HOLIDAYS))})")
        return value


class TenantSpec(_Model):
    slug: Slug
    name: Name
    parent: Slug | None = None
    altitude_m: float | None = None  # a commune's: its devices' weather


class CircuitSpec(_Model):
    name: Annotated[str, Field(min_length=1, max_length=40)]
    phase: Literal[1, 2, 3]
    luminaires: Annotated[int, Field(ge=1, le=500)]
    watts: Annotated[float, Field(gt=0, le=2000)]


class CabinetSpec(_Device):
    at: LatLon
    circuits: Annotated[list[CircuitSpec], Field(min_length=1)]
    profile: list[tuple[str, Annotated[int, Field(ge=0, le=100)]]] | None = None

    @model_validator(mode="after")
    def _unique_circuits(self) -> CabinetSpec:
        names = [c.name for c in self.circuits]
        if len(set(names)) != len(names):
            raise ValueError("circuit names must be unique within a cabinet")
        return self


class DistrictSpec(_Device):
    """A district (secteur) of the water network, named after its inlet flow meter."""

    at: LatLon
    population: Annotated[int, Field(ge=1, le=1_000_000)]
    background_losses_m3h: Annotated[float, Field(ge=0)] | None = None
    pressure_bar: Annotated[float, Field(gt=0.5, le=16)] = 5.0


class SensorSpec(_Model):
    id: DeviceId
    at_m: Annotated[float, Field(ge=0)]
    name: Name | None = None
    traffic_db: Annotated[float, Field(ge=0, le=20)] | None = None


class PipeSpec(_Model):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    tenant: Slug
    district: DeviceId
    material: str
    diameter_mm: Annotated[int, Field(ge=20, le=1500)]
    length_m: Positive
    start: LatLon = Field(alias="from")
    end: LatLon = Field(alias="to")
    sensors: list[SensorSpec] = []

    @field_validator("material")
    @classmethod
    def _known_material(cls, value: str) -> str:
        if value not in ATTENUATION_DB_PER_M:
            raise ValueError(f"unknown pipe material {value!r} (known: "
                             f"{', '.join(sorted(ATTENUATION_DB_PER_M))})")
        return value

    @model_validator(mode="after")
    def _sensors_on_pipe(self) -> PipeSpec:
        for s in self.sensors:
            if s.at_m > self.length_m:
                raise ValueError(f"sensor {s.id} at {s.at_m:g} m is beyond the end of the "
                                 f"pipe ({self.length_m:g} m)")
        return self


class WaterSpec(_Model):
    districts: list[DistrictSpec] = []
    pipes: list[PipeSpec] = []


class SmokeSpec(_Device):
    building: DeviceId  # the building meter's id, in the same tenant: where the detector is
    room: Annotated[str, Field(min_length=1, max_length=80)]


class ThresholdsSpec(_Model):
    yellow: Positive
    orange: Positive
    red: Positive

    @model_validator(mode="after")
    def _increasing(self) -> ThresholdsSpec:
        if not self.yellow < self.orange < self.red:
            raise ValueError("thresholds must increase: yellow < orange < red")
        return self


class GaugeSpec(_Device):
    at: LatLon
    base_cm: Annotated[float, Field(ge=0)]
    gain_cm: Positive  # rise for a quick-flow of 1 mm/h over the catchment
    thresholds_cm: ThresholdsSpec

    @model_validator(mode="after")
    def _above_base(self) -> GaugeSpec:
        if self.thresholds_cm.yellow <= self.base_cm:
            raise ValueError("the yellow threshold must be above the ordinary level (base_cm)")
        return self


class RiverSpec(_Model):
    name: Name
    response_h: Annotated[float, Field(gt=0.5, le=240)] = 6.0
    runoff: tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]] = (
        0.15, 0.65)
    gauges: list[GaugeSpec] = []


class LowPointSpec(_Device):
    at: LatLon
    rain_threshold_mm_h: Positive
    drain_h: Positive = 1.5


class HazardsSpec(_Model):
    smoke: list[SmokeSpec] = []
    rivers: list[RiverSpec] = []
    low_points: list[LowPointSpec] = []


class BuildingSpec(_Device):
    at: LatLon
    use: str
    floor_area_m2: Annotated[float, Field(gt=10, le=100_000)]
    occupants: Annotated[int, Field(ge=0, le=10_000)]
    heating: str = "gaz"
    pv_kwc: Annotated[float, Field(ge=0, le=5000)] = 0.0

    @field_validator("use")
    @classmethod
    def _known_use(cls, value: str) -> str:
        if value not in USAGES:
            raise ValueError(f"unknown use {value!r} (known: {', '.join(USAGES)})")
        return value

    @field_validator("heating")
    @classmethod
    def _known_heating(cls, value: str) -> str:
        if value not in HEATING:
            raise ValueError(f"unknown heating {value!r} (known: {', '.join(HEATING)})")
        return value


class ScheduledFault(_Model):
    """A fault at a set time of the run: `after_days` from its start, for `duration_days`
    (absent: drawn like the generator's), or never repaired in the run (`unrepaired`)."""

    type: str
    device: str | None = None  # "tenant/device-id"
    pipe: str | None = None  # water_leak: the pipe, and `at_m` along it
    at_m: Annotated[float, Field(ge=0)] | None = None
    after_days: Annotated[float, Field(ge=0)]
    duration_days: Positive | None = None
    unrepaired: bool = False
    params: dict[str, Any] = {}


class FaultsSpec(_Model):
    # The seeded generator: how many of each type over 60 simulated days (pro rata).
    per_60_days: dict[str, Annotated[float, Field(ge=0, le=10_000)]] = {}
    scheduled: list[ScheduledFault] = []


class Scenario(_Model):
    """A territory: who owns what, every device and network, and the faults to inject."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]
    description: str = ""
    seed: int = 42
    area: Area
    calendar: CalendarSpec = CalendarSpec()
    tenants: Annotated[list[TenantSpec], Field(min_length=1)]
    lighting: list[CabinetSpec] = []
    water: WaterSpec = WaterSpec()
    hazards: HazardsSpec = HazardsSpec()
    buildings: list[BuildingSpec] = []
    faults: FaultsSpec = FaultsSpec()

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        seen: set[str] = set()
        for t in self.tenants:
            if t.slug in seen:
                raise ValueError(f"tenant {t.slug} is listed twice")
            if t.parent is not None and t.parent not in seen:
                raise ValueError(f"tenant {t.slug}: its parent {t.parent} must be listed before it")
            seen.add(t.slug)
        ids: set[tuple[str, str]] = set()
        for tenant, device_id in self.device_keys():
            if tenant not in seen:
                raise ValueError(f"device {device_id}: tenant {tenant} is not in `tenants`")
            if (tenant, device_id) in ids:
                raise ValueError(f"device id {tenant}/{device_id} is used twice")
            ids.add((tenant, device_id))
        districts = {(d.tenant, d.id) for d in self.water.districts}
        pipes: set[str] = set()
        for p in self.water.pipes:
            if (p.tenant, p.district) not in districts:
                raise ValueError(f"pipe {p.id}: no district {p.tenant}/{p.district}")
            if p.id in pipes:
                raise ValueError(f"pipe id {p.id} is used twice")
            pipes.add(p.id)
        buildings = {(b.tenant, b.id) for b in self.buildings}
        for s in self.hazards.smoke:
            if (s.tenant, s.building) not in buildings:
                raise ValueError(f"smoke detector {s.id}: no building {s.tenant}/{s.building}")
        for f in self.faults.scheduled:
            if f.device is not None and tuple(f.device.split("/", 1)) not in ids:
                raise ValueError(f"scheduled {f.type}: no device {f.device}")
            if f.pipe is not None and f.pipe not in pipes:
                raise ValueError(f"scheduled {f.type}: no pipe {f.pipe}")
        return self

    def device_keys(self) -> list[tuple[str, str]]:
        """(tenant, device id) of every device, in the order they are built."""
        keys = [(c.tenant, c.id) for c in self.lighting]
        keys += [(d.tenant, d.id) for d in self.water.districts]
        keys += [(p.tenant, s.id) for p in self.water.pipes for s in p.sensors]
        keys += [(s.tenant, s.id) for s in self.hazards.smoke]
        keys += [(g.tenant, g.id) for r in self.hazards.rivers for g in r.gauges]
        keys += [(lp.tenant, lp.id) for lp in self.hazards.low_points]
        keys += [(b.tenant, b.id) for b in self.buildings]
        return keys


def from_mapping(doc: Any, origin: str = "scenario") -> Scenario:
    """A scenario from a parsed document; ScenarioError says what is wrong and where."""
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:10]:
            where = ".".join(str(part) for part in error["loc"]) or "(top)"
            problems.append(f"{where}: {error['msg']}")
        more = f" (and {exc.error_count() - 10} more)" if exc.error_count() > 10 else ""
        raise ScenarioError(f"{origin} is invalid: " + "; ".join(problems) + more) from None


def load(ref: str) -> Scenario:
    """`default` (or another shipped name), `large:N` (generated), or a path to a YAML file."""
    if ref.startswith(GENERATED_PREFIX):
        from .generate import generate_scenario

        count = ref[len(GENERATED_PREFIX):]
        if not count.isdigit() or int(count) < 1:
            raise ScenarioError(f"{ref!r}: expected large:N with N a number of devices")
        return generate_scenario(int(count))
    shipped = resources.files(__package__).joinpath(SCENARIOS, f"{ref}.yaml")
    if "/" not in ref and "." not in ref and shipped.is_file():
        text, origin = shipped.read_text(encoding="utf-8"), f"scenario {ref!r}"
    else:
        path = Path(ref)
        if not path.is_file():
            names = sorted(p.name.removesuffix(".yaml") for p in
                           resources.files(__package__).joinpath(SCENARIOS).iterdir()
                           if p.name.endswith(".yaml"))
            raise ScenarioError(f"no scenario {ref!r}: give a YAML file, large:N, or one of "
                                f"{', '.join(names)}")
        text, origin = path.read_text(encoding="utf-8"), str(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{origin} is not valid YAML: {exc}") from None
    return from_mapping(doc, origin)


def dump(scenario: Scenario) -> str:
    """The scenario as YAML (what `load` reads back)."""
    doc = scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)
