"""A public building's meters and comfort sensors: occupancy and weather drive energy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from devices.messages import MetricValue

from .base import LOCAL_TZ, SimDevice, local_hour, substeps
from .weather import HEATING_BASE_C, Climate

Period = tuple[float, float, float]  # from hour, to hour (local), share of the occupants present


@dataclass(frozen=True, slots=True)
class Usage:
    """What a building is used for, and so when and how much."""

    label_fr: str
    area_m2: tuple[float, float]
    occupants: tuple[int, int]
    week: tuple[tuple[Period, ...], ...]  # Monday to Sunday
    base_w_m2: float  # fridges, servers, ventilation: always on
    occupied_w_m2: float  # lighting and equipment when everyone is in
    water_l_per_occupant_h: float
    co2_rise_ppm: float  # above outdoor air when full


_SCHOOL_DAY: tuple[Period, ...] = ((7.5, 8.5, 0.15), (8.5, 11.75, 1.0), (11.75, 13.5, 0.85),
                                   (13.5, 16.5, 1.0), (16.5, 18.5, 0.2))  # with garderie, canteen
_TOWN_HALL_DAY: tuple[Period, ...] = ((8.5, 12.0, 1.0), (13.5, 17.5, 0.8))
_LEISURE_DAY: tuple[Period, ...] = ((8.0, 18.0, 0.15),)  # Wednesday's centre de loisirs
_GYM_DAY: tuple[Period, ...] = ((9.0, 12.0, 0.5), (14.0, 17.0, 0.5), (17.5, 22.0, 0.7))

USAGES: dict[str, Usage] = {
    # Four-day school week: no class on Wednesday, the leisure centre uses a few rooms.
    "ecole": Usage("école", (600, 2000), (60, 220),
                   (_SCHOOL_DAY, _SCHOOL_DAY, _LEISURE_DAY, _SCHOOL_DAY, _SCHOOL_DAY, (), ()),
                   base_w_m2=1.5, occupied_w_m2=6.0, water_l_per_occupant_h=1.5,
                   co2_rise_ppm=1100),
    "mairie": Usage("mairie", (250, 900), (5, 20),
                    (_TOWN_HALL_DAY,) * 5 + (((9.0, 12.0, 0.6),), ()),
                    base_w_m2=2.0, occupied_w_m2=12.0, water_l_per_occupant_h=2.0,
                    co2_rise_ppm=450),
    "gymnase": Usage("gymnase", (800, 2500), (30, 90),
                     (_GYM_DAY,) * 5 + (((9.0, 18.0, 0.6),), ()),
                     base_w_m2=1.0, occupied_w_m2=10.0, water_l_per_occupant_h=6.0,  # showers
                     co2_rise_ppm=500),
}

COMFORT_C, SETBACK_C = 19.5, 16.0
PREHEAT_H = 1.5  # the boiler starts before the first arrivals
SETBACK_LOAD = 0.65  # heating load at the setback temperature, relative to comfort
BOILER_EFFICIENCY = 0.9


def heating_season(t: datetime) -> bool:
    """The commune's heating period: boilers are shut down from 16 May to 30 September."""
    lt = t.astimezone(LOCAL_TZ)
    return not ((lt.month, lt.day) >= (5, 16) and lt.month <= 9)


class BuildingMeter(SimDevice):
    """The gas, electricity and water meters and comfort sensors of one public building."""

    kind = "building_meter"
    model = "phare-sim-batiment-1"
    fw = "4.0.2"
    interval = timedelta(minutes=15)

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int, climate: Climate, usage: str = "ecole") -> None:
        super().__init__(tenant, device_id, name, lat=lat, lon=lon, seed=seed)
        rng = self.rng
        self.usage = USAGES[usage]
        self.climate = climate
        self.area_m2 = round(rng.uniform(*self.usage.area_m2))
        self.max_occupants = rng.randint(*self.usage.occupants)
        # Heat loss per degree of the whole building: 1.4-2.2 W/(m².K) is an old public
        # building, ~140 kWh/m² of heating a year at 900 m.
        self.ua_kw_k = self.area_m2 * rng.uniform(1.4, 2.2) / 1000
        self.electricity_kwh = rng.uniform(50_000, 800_000)
        self.gas_kwh = rng.uniform(100_000, 3_000_000)
        self.water_m3 = rng.uniform(2_000, 40_000)
        self.indoor_c = COMFORT_C
        self.co2_ppm = 450.0
        self.metadata = {"usage": usage, "floor_area_m2": self.area_m2, "heating": "gaz"}

    # --- the building's behaviour, as functions of time -------------------------------------
    def presence(self, t: datetime) -> float:
        """Share of the building's occupants present at t (0-1)."""
        hour = local_hour(t)
        for start, end, share in self.usage.week[t.astimezone(LOCAL_TZ).weekday()]:
            if start <= hour < end:
                return share
        return 0.0

    def comfort_mode(self, t: datetime) -> bool:
        periods = self.usage.week[t.astimezone(LOCAL_TZ).weekday()]
        if not periods:
            return False
        hour = local_hour(t)
        return periods[0][0] - PREHEAT_H <= hour < periods[-1][1]

    def gas_kw(self, t: datetime) -> float:
        """Heating (degree days, base 18 °C) plus hot water while occupied."""
        deficit = max(0.0, HEATING_BASE_C - self.climate.temperature(t))
        if not heating_season(t):
            deficit = 0.0
        load = 1.0 if self.comfort_mode(t) else SETBACK_LOAD
        heating = self.ua_kw_k * deficit * load / BOILER_EFFICIENCY
        return heating + 0.02 * self.max_occupants * self.presence(t)

    def electricity_kw(self, t: datetime) -> float:
        usage = self.usage
        occupied = self.area_m2 * usage.occupied_w_m2 * self.presence(t) / 1000
        pumps = 0.25 if self.gas_kw(t) > 0.5 else 0.0  # the heating circulators
        return self.area_m2 * usage.base_w_m2 / 1000 + occupied + pumps

    def advance(self, a: datetime, b: datetime) -> None:
        for mid, hours in substeps(a, b, self.substep):
            presence = self.presence(mid)
            self.gas_kwh += self.gas_kw(mid) * hours
            self.electricity_kwh += self.electricity_kw(mid) * hours
            self.water_m3 += (self.max_occupants * presence
                              * self.usage.water_l_per_occupant_h / 1000 * hours)
            # Slow quantities relax towards their target: hours for the rooms, minutes for the air.
            outdoor = self.climate.temperature(mid)
            if outdoor < HEATING_BASE_C and heating_season(mid):
                target = COMFORT_C if self.comfort_mode(mid) else SETBACK_C
            else:
                target = 0.5 * outdoor + 0.5 * 22 + 1.0 * presence
            self.indoor_c += (target - self.indoor_c) * (1 - math.exp(-hours / 1.5))
            co2_target = 420 + self.usage.co2_rise_ppm * presence
            self.co2_ppm += (co2_target - self.co2_ppm) * (1 - math.exp(-hours / 0.5))

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        rng = self.rng
        presence = self.presence(t)
        occupants = round(self.max_occupants * presence * rng.uniform(0.9, 1.05))
        return {
            "electricity_kwh": round(self.electricity_kwh, 3),
            "gas_kwh": round(self.gas_kwh, 3),
            "water_m3": round(self.water_m3, 3),
            "power_w": round(self.electricity_kw(t) * 1000 * (1 + rng.gauss(0, 0.03)), 1),
            "temperature_c": round(self.indoor_c + rng.gauss(0, 0.1), 1),
            "humidity_pct": round(min(70.0, 42 + 10 * presence + rng.gauss(0, 1.5)), 1),
            "co2_ppm": round(self.co2_ppm + rng.gauss(0, 15)),
            "illuminance_lux": round(rng.uniform(300, 500) if presence else rng.uniform(0, 5)),
            "occupancy": occupants,
        }
