"""A scenario made real: its simulated devices, and the weather, water network and rivers
they share."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time

from .base import SimDevice
from .building import USAGES, BuildingMeter
from .calendar_fr import SchoolCalendar
from .hazard import HazardDetector
from .hydrology import Gauge, LowPoint, River, Thresholds
from .leaks import Pipe
from .lighting import DEFAULT_PROFILE, Circuit, LightingCabinet
from .scenario import Scenario
from .water import AcousticLeakSensor, WaterFlowMeter, WaterNetwork
from .weather import Weather


@dataclass
class Territory:
    """Everything a run steps: the devices, and what they share."""

    scenario: Scenario
    seed: int
    weather: Weather
    calendar: SchoolCalendar
    network: WaterNetwork
    rivers: dict[str, River]
    devices: list[SimDevice]
    by_key: dict[tuple[str, str], SimDevice] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_key = {(d.tenant, d.device_id): d for d in self.devices}

    def device(self, ref: str) -> SimDevice:
        """A device by "tenant/device-id"."""
        tenant, _, device_id = ref.partition("/")
        return self.by_key[(tenant, device_id)]

    def kinds(self) -> Counter[str]:
        return Counter(d.kind for d in self.devices)

    def of_kind(self, kind: str) -> list[SimDevice]:
        return [d for d in self.devices if d.kind == kind]


def build(scenario: Scenario, *, seed: int | None = None) -> Territory:
    """The territory of a scenario; `seed` (default: the scenario's) draws all its randomness."""
    seed = scenario.seed if seed is None else seed
    area = scenario.area
    weather = Weather(f"{seed}/{scenario.name}", lat=area.lat, lon=area.lon,
                      altitude_m=area.altitude_m)
    calendar = SchoolCalendar(scenario.calendar.school_zone)
    altitude = {t.slug: t.altitude_m for t in scenario.tenants}
    devices: list[SimDevice] = []

    for c in scenario.lighting:
        circuits = [Circuit(x.name, x.phase, x.luminaires, x.watts) for x in c.circuits]
        profile = tuple((time.fromisoformat(at), level) for at, level in c.profile or ())
        devices.append(LightingCabinet(
            c.tenant, c.id, c.name or f"Armoire d'éclairage {c.id}", lat=c.at[0], lon=c.at[1],
            seed=seed, circuits=circuits, weather=weather, profile=profile or DEFAULT_PROFILE))

    pipes = [Pipe(p.id, p.tenant, p.district, p.material, p.diameter_mm, p.length_m,
                  p.start, p.end) for p in scenario.water.pipes]
    network = WaterNetwork(pipes)
    for d in scenario.water.districts:
        devices.append(WaterFlowMeter(
            d.tenant, d.id, d.name or f"Débitmètre de secteur {d.id}", lat=d.at[0], lon=d.at[1],
            seed=seed, population=d.population, network=network,
            background_losses_m3h=d.background_losses_m3h, pressure_bar=d.pressure_bar))
    for spec, pipe in zip(scenario.water.pipes, pipes, strict=True):
        for s in spec.sensors:
            lat, lon = pipe.point(s.at_m)
            devices.append(AcousticLeakSensor(
                spec.tenant, s.id, s.name or f"Capteur acoustique {s.id} ({pipe.id}, "
                f"{s.at_m:g} m)", lat=lat, lon=lon, seed=seed, pipe=pipe, position_m=s.at_m,
                network=network, traffic_db=s.traffic_db))

    meters: dict[tuple[str, str], BuildingMeter] = {}
    for b in scenario.buildings:
        meters[(b.tenant, b.id)] = BuildingMeter(
            b.tenant, b.id, b.name or f"{USAGES[b.use].label_fr.capitalize()} {b.id}",
            lat=b.at[0], lon=b.at[1], seed=seed, weather=weather, usage=b.use,
            calendar=calendar, floor_area_m2=b.floor_area_m2, occupants=b.occupants,
            heating=b.heating, pv_kwc=b.pv_kwc, altitude_m=altitude.get(b.tenant))
    buildings = {(b.tenant, b.id): b for b in scenario.buildings}
    for sd in scenario.hazards.smoke:
        b, meter = buildings[(sd.tenant, sd.building)], meters[(sd.tenant, sd.building)]
        offset = random.Random(f"{seed}/room/{sd.tenant}/{sd.id}").uniform(-1.0, 1.0)
        devices.append(HazardDetector(
            sd.tenant, sd.id, sd.name or f"Détecteur de fumée — {b.name or b.id}, {sd.room}",
            lat=b.at[0], lon=b.at[1], seed=seed, weather=weather, variant="smoke",
            building=b.id, room_c=Room(meter, offset)))
        devices[-1].metadata["room"] = sd.room
    rivers: dict[str, River] = {}
    for r in scenario.hazards.rivers:
        river = rivers[r.name] = River(r.name, weather, response_h=r.response_h,
                                       runoff=(r.runoff[0], r.runoff[1]))
        for g in r.gauges:
            t = g.thresholds_cm
            gauge = Gauge(river, base_cm=g.base_cm, gain_cm=g.gain_cm,
                          thresholds=Thresholds(t.yellow, t.orange, t.red))
            devices.append(HazardDetector(
                g.tenant, g.id, g.name or f"Sonde de niveau — {r.name}", lat=g.at[0],
                lon=g.at[1], seed=seed, weather=weather, variant="water_level", gauge=gauge))
    for lp in scenario.hazards.low_points:
        point = LowPoint(weather, rain_threshold_mm_h=lp.rain_threshold_mm_h, drain_h=lp.drain_h)
        devices.append(HazardDetector(
            lp.tenant, lp.id, lp.name or f"Détecteur d'eau {lp.id}", lat=lp.at[0], lon=lp.at[1],
            seed=seed, weather=weather, variant="water_spot", low_point=point))

    devices.extend(meters.values())
    return Territory(scenario, seed, weather, calendar, network, rivers, devices)


@dataclass(frozen=True, slots=True)
class Room:
    """A room of a building: the building's indoor temperature, a little warmer or cooler."""

    meter: BuildingMeter
    offset_c: float

    def __call__(self, t: datetime) -> float:
        return self.meter.indoor_c + self.offset_c
