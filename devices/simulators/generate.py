"""Large synthetic territories for benchmarks: `large:N` is a syndicate of N devices.

Communes of about 40 devices each (a whole département's worth at 10,000) are grouped by
25 into EPCIs under one syndicate. Each commune gets its devices one at a time from a cycle
of the four families in which what a device needs comes first (a district meter before the
loggers on its mains, a building before its smoke detectors), so any N is exact.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .scenario import Scenario, from_mapping

PER_COMMUNE = 40
COMMUNES_PER_EPCI = 25
# The Cantal: 44.6-45.4° N, 2.1-3.3° E, 250-1,300 m.
BOX = ((44.62, 45.42), (2.12, 3.32))
SYNDICATE = "gen-sde"
MATERIALS = ("fonte ductile", "fonte grise", "acier", "PVC", "PEHD")
# One commune: (unit, how many). Units add one device each; the order keeps references valid.
CYCLE = ("cabinet", "district", "mairie", "cabinet", "pipe", "smoke", "cabinet", "sensor",
         "ecole", "cabinet", "sensor", "smoke", "gauge", "cabinet", "pipe", "sensor", "cabinet",
         "gymnase", "smoke", "sensor", "cabinet", "low_point", "cabinet", "pipe", "sensor",
         "smoke", "cabinet", "sensor", "salle_polyvalente", "cabinet", "sensor", "smoke",
         "cabinet", "pipe", "sensor", "cabinet", "sensor", "cabinet", "sensor", "cabinet")
DEFAULT_RATES = {"water_leak": 0.02, "lamp_failure": 0.05, "breaker_trip": 0.02,
                 "door_open": 0.03, "driver_stuck": 0.01, "daytime_burning": 0.01,
                 "power_loss": 0.01, "fire": 0.005, "false_alarm": 0.02, "flood": 3,
                 "heating_on_holiday": 0.01, "baseload_step": 0.01, "night_water_leak": 0.01,
                 "meter_freeze": 0.01, "offline": 0.05, "tamper": 0.02}


def generate_scenario(devices: int, *, seed: int = 42) -> Scenario:
    """A territory of exactly `devices` devices; fault rates per device as the default's."""
    rng = random.Random(f"generate/{seed}/{devices}")
    communes = math.ceil(devices / PER_COMMUNE)
    epcis = math.ceil(communes / COMMUNES_PER_EPCI)
    tenants: list[dict[str, Any]] = [{"slug": SYNDICATE, "name": "Syndicat d'énergies (généré)"}]
    tenants += [{"slug": f"gen-epci-{e + 1:02d}", "name": f"Communauté de communes n°{e + 1}",
                 "parent": SYNDICATE} for e in range(epcis)]
    doc: dict[str, Any] = {
        "name": f"large-{devices}", "seed": seed,
        "description": f"{devices} devices in {communes} generated communes (benchmarks)",
        "area": {"name": "Cantal (généré)", "lat": 45.03, "lon": 3.09, "altitude_m": 800},
        "tenants": tenants, "lighting": [], "water": {"districts": [], "pipes": []},
        "hazards": {"smoke": [], "rivers": [{"name": "Rivière", "gauges": []}],
                    "low_points": []},
        "buildings": [],
        "faults": {"per_60_days": {k: (v if k == "flood" else round(v * devices, 2))
                                   for k, v in DEFAULT_RATES.items()}},
    }
    left = devices
    for c in range(communes):
        slug = f"gen-c{c + 1:04d}"
        lat = rng.uniform(*BOX[0])
        lon = rng.uniform(*BOX[1])
        altitude = rng.uniform(250, 1300)
        tenants.append({"slug": slug, "name": f"Commune n°{c + 1}",
                        "parent": f"gen-epci-{c // COMMUNES_PER_EPCI + 1:02d}",
                        "altitude_m": round(altitude)})
        n = min(left, PER_COMMUNE)
        _commune(doc, rng, slug, lat, lon, n)
        left -= n
    return from_mapping(doc, f"large:{devices}")


def _commune(doc: dict[str, Any], rng: random.Random, tenant: str, lat: float, lon: float,
             count: int) -> None:
    counters: dict[str, int] = {}
    pipes: list[dict[str, Any]] = []
    buildings: list[dict[str, Any]] = []

    def near(spread: float = 0.006) -> list[float]:
        return [round(lat + rng.gauss(0, spread), 6), round(lon + rng.gauss(0, spread * 1.4), 6)]

    def next_id(prefix: str) -> str:
        counters[prefix] = counters.get(prefix, 0) + 1
        return f"{prefix}-{counters[prefix]:02d}"

    for unit in CYCLE[:count]:
        if unit == "cabinet":
            watts = rng.choice((39.0, 52.0, 68.0, 90.0))
            doc["lighting"].append({"id": next_id("armoire"), "tenant": tenant, "at": near(),
                                    "circuits": [{"name": f"C{p}", "phase": p,
                                                  "luminaires": rng.randint(4, 25),
                                                  "watts": watts} for p in (1, 2, 3)]})
        elif unit == "district":
            doc["water"]["districts"].append({"id": "debitmetre-01", "tenant": tenant,
                                              "at": near(), "population": rng.randint(150, 3000)})
        elif unit == "pipe":
            start, length = near(), rng.uniform(300, 1500)
            pipe: dict[str, Any] = {"id": f"{tenant}-conduite-{len(pipes) + 1}", "tenant": tenant,
                    "district": "debitmetre-01", "material": rng.choice(MATERIALS),
                    "diameter_mm": rng.choice((80, 100, 125, 150, 200)),
                    "length_m": round(length), "from": start,
                    "to": [round(start[0] + length / 111_000, 6), start[1]], "sensors": []}
            pipes.append(pipe)
            doc["water"]["pipes"].append(pipe)
            pipe["sensors"].append({"id": next_id("acoustique"), "at_m": round(length * 0.1)})
        elif unit == "sensor":
            pipes[-1]["sensors"].append({"id": next_id("acoustique"),
                                    "at_m": round(rng.uniform(0, pipes[-1]["length_m"]))})
        elif unit == "smoke":
            building = buildings[-1]
            doc["hazards"]["smoke"].append({"id": next_id("detecteur"), "tenant": tenant,
                                            "building": building["id"],
                                            "room": rng.choice(("hall", "cuisine", "vestiaires",
                                                                "salle principale"))})
        elif unit == "gauge":
            base = rng.uniform(20, 80)
            doc["hazards"]["rivers"][0]["gauges"].append({
                "id": next_id("sonde-niveau"), "tenant": tenant, "at": near(), "base_cm": round(base),
                "gain_cm": round(rng.uniform(70, 130)),
                "thresholds_cm": {"yellow": round(base + 120), "orange": round(base + 170),
                                  "red": round(base + 230)}})
        elif unit == "low_point":
            doc["hazards"]["low_points"].append({"id": next_id("detecteur-eau"), "tenant": tenant,
                                                 "at": near(),
                                                 "rain_threshold_mm_h": round(rng.uniform(6, 12), 1)})
        else:  # a building of that use
            building = {"id": next_id("batiment"), "tenant": tenant, "at": near(), "use": unit,
                        "floor_area_m2": round(rng.uniform(250, 1500)),
                        "occupants": rng.randint(10, 150),
                        "pv_kwc": rng.choice((0, 0, 9, 36))}
            buildings.append(building)
            doc["buildings"].append(building)
