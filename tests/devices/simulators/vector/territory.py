"""A small territory with every family and a fault of each kind the engine models, placed at
known times, for the vectorised engine's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devices.simulators.scenario import Scenario, from_mapping
from devices.simulators.simulate import Simulation, prepare

# Mid-January: a heating season with school days and no school holidays (zone A).
START = datetime(2026, 1, 12, tzinfo=UTC)
STEP = timedelta(minutes=15)
T = "vec-c"  # the commune


def scenario(prefix: str = "vec") -> Scenario:
    commune = f"{prefix}-c"
    circuits = [{"name": f"C{p}", "phase": p, "luminaires": 10 + p, "watts": 52.0} for p in (1, 2, 3)]
    cabinets = [{"id": f"armoire-{i:02d}", "tenant": commune, "at": [45.03 + i / 1000, 3.09],
                 "circuits": circuits} for i in range(1, 7)]

    def pipe(name: str, material: str, lat: float) -> dict[str, Any]:
        return {"id": f"{prefix}-{name}", "tenant": commune, "district": "debitmetre-01",
                "material": material, "diameter_mm": 100, "length_m": 1000,
                "from": [lat, 3.09], "to": [lat + 0.009, 3.09],
                "sensors": [{"id": f"acoustique-{name}-near", "at_m": 520, "traffic_db": 1.0},
                            {"id": f"acoustique-{name}-far", "at_m": 900, "traffic_db": 1.0}]}

    def dev(name: str) -> str:
        return f"{commune}/{name}"

    doc = {
        "name": f"{prefix}-test", "seed": 7,
        "area": {"name": "Saint-Flour", "lat": 45.03, "lon": 3.09, "altitude_m": 880},
        "tenants": [{"slug": prefix, "name": "EPCI"},
                    {"slug": commune, "name": "Commune", "parent": prefix, "altitude_m": 900}],
        "lighting": cabinets,
        "water": {"districts": [{"id": "debitmetre-01", "tenant": commune, "at": [45.03, 3.09],
                                 "population": 1200}],
                  "pipes": [pipe("fonte", "fonte ductile", 45.03), pipe("pe", "PEHD", 45.05)]},
        "hazards": {
            "smoke": [{"id": "detecteur-01", "tenant": commune, "building": "batiment-01",
                       "room": "hall"},
                      {"id": "detecteur-02", "tenant": commune, "building": "batiment-01",
                       "room": "cuisine"}],
            "rivers": [{"name": "Ander", "gauges": [{"id": "sonde-niveau-01", "tenant": commune,
                                                     "at": [45.03, 3.1], "base_cm": 40,
                                                     "gain_cm": 100, "thresholds_cm": {
                                                         "yellow": 160, "orange": 210, "red": 270}}]}],
            "low_points": [{"id": "detecteur-eau-01", "tenant": commune, "at": [45.03, 3.1],
                            "rain_threshold_mm_h": 1.0}]},
        "buildings": [{"id": "batiment-01", "tenant": commune, "at": [45.03, 3.09], "use": "ecole",
                       "floor_area_m2": 900, "occupants": 120, "pv_kwc": 9},
                      {"id": "batiment-02", "tenant": commune, "at": [45.03, 3.09],
                       "use": "mairie", "floor_area_m2": 400, "occupants": 12}],
        "faults": {"scheduled": [
            {"type": "lamp_failure", "device": dev("armoire-01"), "after_days": 0.2,
             "unrepaired": True},
            {"type": "breaker_trip", "device": dev("armoire-02"), "after_days": 0.7,
             "duration_days": 0.3},
            {"type": "driver_stuck", "device": dev("armoire-03"), "after_days": 0.1,
             "unrepaired": True},
            {"type": "power_loss", "device": dev("armoire-04"), "after_days": 0.8,
             "duration_days": 0.1},
            {"type": "daytime_burning", "device": dev("armoire-05"), "after_days": 0.3,
             "duration_days": 1},
            {"type": "door_open", "device": dev("armoire-06"), "after_days": 0.5,
             "duration_days": 0.01},
            {"type": "offline", "device": dev("debitmetre-01"), "after_days": 0.9,
             "duration_days": 0.25},
            {"type": "water_leak", "pipe": f"{prefix}-fonte", "at_m": 500, "after_days": 0.2,
             "unrepaired": True, "params": {"profile": "abrupt", "flow_m3h": 1.0}},
            {"type": "water_leak", "pipe": f"{prefix}-pe", "at_m": 500, "after_days": 0.2,
             "unrepaired": True, "params": {"profile": "abrupt", "flow_m3h": 1.0}},
            {"type": "baseload_step", "device": dev("batiment-02"), "after_days": 1.0,
             "duration_days": 1},
            {"type": "night_water_leak", "device": dev("batiment-02"), "after_days": 0.5,
             "duration_days": 2},
            {"type": "meter_freeze", "device": dev("batiment-01"), "after_days": 1.5,
             "duration_days": 0.5},
            {"type": "tamper", "device": dev("detecteur-02"), "after_days": 0.4,
             "duration_days": 0.01},
            # Stepped by the object simulator inside the engine: an incident, a river in flood.
            {"type": "false_alarm", "device": dev("detecteur-01"), "after_days": 1.3},
            {"type": "flood", "after_days": 0.4, "duration_days": 0.4, "params": {"mm": 90}},
        ]},
    }
    return from_mapping(doc, "vector test territory")


def prepared(days: float = 2.0, prefix: str = "vec", start: datetime = START) -> Simulation:
    return prepare(scenario(prefix), start, start + timedelta(days=days))
