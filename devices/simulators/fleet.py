"""A quick seeded fleet in real communes of rural France, for tests and small runs.

Territories with networks, buildings and faults are described by scenarios
(`scenario.py`); this makes N devices of each kind per tenant with nothing else.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .base import SimDevice
from .building import USAGES, BuildingMeter
from .hazard import HazardDetector
from .hydrology import Gauge, River, Thresholds
from .lighting import LightingCabinet
from .water import AcousticLeakSensor, WaterFlowMeter
from .weather import Weather


@dataclass(frozen=True, slots=True)
class Commune:
    slug: str
    name: str
    lat: float  # the town centre
    lon: float
    altitude_m: float


AREAS: dict[str, tuple[Commune, ...]] = {
    # Saint-Flour Communauté (Cantal): the planèze and the Margeride, 800-1,000 m.
    "saint-flour": (
        Commune("saint-flour", "Saint-Flour", 45.0336, 3.0928, 880),
        Commune("neuveglise-sur-truyere", "Neuvéglise-sur-Truyère", 44.9283, 2.9828, 940),
        Commune("andelat", "Andelat", 45.0617, 3.0569, 950),
        Commune("roffiac", "Roffiac", 45.0435, 3.0342, 850),
        Commune("villedieu", "Villedieu", 44.9989, 3.0779, 950),
        Commune("saint-georges", "Saint-Georges", 45.0189, 3.1297, 850),
        Commune("coltines", "Coltines", 45.0969, 3.0211, 980),
        Commune("ruynes-en-margeride", "Ruynes-en-Margeride", 44.9997, 3.2231, 915),
    ),
    # Communauté de communes des Monts du Lyonnais (Rhône, Loire): 400-800 m.
    "monts-du-lyonnais": (
        Commune("saint-symphorien-sur-coise", "Saint-Symphorien-sur-Coise", 45.6333, 4.4566, 560),
        Commune("saint-martin-en-haut", "Saint-Martin-en-Haut", 45.6597, 4.5611, 730),
        Commune("chazelles-sur-lyon", "Chazelles-sur-Lyon", 45.6381, 4.3889, 610),
        Commune("larajasse", "Larajasse", 45.6131, 4.5047, 750),
        Commune("saint-laurent-de-chamousset", "Saint-Laurent-de-Chamousset", 45.7392, 4.4639, 640),
        Commune("duerne", "Duerne", 45.6856, 4.5269, 800),
        Commune("sainte-foy-l-argentiere", "Sainte-Foy-l'Argentière", 45.7069, 4.4719, 420),
    ),
}

# 20 devices a commune: 3 communes make the 60-device demo fleet.
DEFAULT_PER_TENANT: dict[str, int] = {
    "lighting_cabinet": 6,
    "acoustic_leak_sensor": 4,
    "water_flow_meter": 2,
    "hazard_detector": 4,
    "building_meter": 4,
}
ID_PREFIXES = {
    "lighting_cabinet": "armoire",
    "acoustic_leak_sensor": "acoustique",
    "water_flow_meter": "debitmetre",
    "hazard_detector": "detecteur",
    "building_meter": "batiment",
}
_BUILDING_CYCLE = ("ecole", "mairie", "gymnase")
_HAZARD_NAMES = {"smoke": "Détecteur de fumée", "water_level": "Sonde de crue"}


_BY_SLUG = {c.slug: c for communes in AREAS.values() for c in communes}


def communes_for(tenants: list[str], area: str = "saint-flour") -> list[Commune]:
    """Where each tenant's devices are: its own commune if its slug is one, else the area's
    other communes in turn."""
    named = {t for t in tenants if t in _BY_SLUG}
    others = [c for c in AREAS[area] if c.slug not in named] or list(AREAS[area])
    unnamed = iter(range(len(tenants)))
    return [_BY_SLUG[t] if t in named else others[next(unnamed) % len(others)] for t in tenants]


def build_fleet(tenants: list[str], *, seed: int, per_tenant: dict[str, int] | None = None,
                area: str = "saint-flour") -> list[SimDevice]:
    """Devices for each tenant, around its commune; the same seed builds the same fleet."""
    counts = DEFAULT_PER_TENANT if per_tenant is None else per_tenant
    unknown = counts.keys() - ID_PREFIXES.keys()
    if unknown:
        raise ValueError(f"no simulator for kind {', '.join(sorted(unknown))}")
    fleet: list[SimDevice] = []
    for tenant, commune in zip(tenants, communes_for(tenants, area), strict=True):
        weather = Weather(f"{seed}/{commune.slug}", lat=commune.lat, lon=commune.lon,
                          altitude_m=commune.altitude_m)
        for kind, count in counts.items():
            for n in range(1, count + 1):
                device_id = f"{ID_PREFIXES[kind]}-{n:02d}"
                # Its own generator, so adding a kind or a tenant moves nobody else.
                place = random.Random(f"{seed}/place/{tenant}/{device_id}")
                lat = commune.lat + place.gauss(0, 0.006)  # ~0.7 km: the commune's territory
                lon = commune.lon + place.gauss(0, 0.008)
                fleet.append(_device(kind, n, tenant, device_id, commune, lat, lon, seed, weather))
    return fleet


def _device(kind: str, n: int, tenant: str, device_id: str, commune: Commune, lat: float,
            lon: float, seed: int, weather: Weather) -> SimDevice:
    label = f"{n:02d} — {commune.name}"
    if kind == "lighting_cabinet":
        return LightingCabinet(tenant, device_id, f"Armoire d'éclairage AE{label}",
                               lat=lat, lon=lon, seed=seed, weather=weather)
    if kind == "acoustic_leak_sensor":
        return AcousticLeakSensor(tenant, device_id, f"Capteur acoustique {label}",
                                  lat=lat, lon=lon, seed=seed)
    if kind == "water_flow_meter":
        return WaterFlowMeter(tenant, device_id, f"Débitmètre de secteur {label}",
                              lat=lat, lon=lon, seed=seed)
    if kind == "hazard_detector":
        variant = "smoke" if n % 2 else "water_level"
        gauge = Gauge(River(f"ruisseau de {commune.name}", weather), base_cm=30 + 5 * n,
                      gain_cm=100, thresholds=Thresholds(150 + 5 * n, 200 + 5 * n, 260 + 5 * n))
        return HazardDetector(tenant, device_id, f"{_HAZARD_NAMES[variant]} {label}",
                              lat=lat, lon=lon, seed=seed, weather=weather, variant=variant,
                              gauge=gauge if variant == "water_level" else None)
    usage = _BUILDING_CYCLE[(n - 1) % len(_BUILDING_CYCLE)]
    return BuildingMeter(tenant, device_id, f"{USAGES[usage].label_fr.capitalize()} {label}",
                         lat=lat, lon=lon, seed=seed, weather=weather, usage=usage,
                         altitude_m=commune.altitude_m)
