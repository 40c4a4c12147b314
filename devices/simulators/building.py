"""A public building's meters and comfort sensors: occupancy, the calendar and the weather
drive its energy; its roof may produce solar power.

Heating follows heating degree days (base 18 °C) times the mode of the heating programme:
comfort while the building is used, setback at night and at weekends, frost protection
while it is closed for holidays. Faults: `heating_on_holiday` (the programme left in comfort
during a closure), `baseload_step` (equipment left on), `night_water_leak`
(a running cistern or pipe: the water index grows day and night, seen at night),
`meter_freeze` (the indexes stop changing), `offline`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from devices.messages import Event, MetricValue

from .base import Fault, SimDevice, local_day, local_hour, local_weekday, substeps
from .calendar_fr import SchoolCalendar
from .weather import HEATING_BASE_C, Weather

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
    school_holidays: float  # share of its ordinary use during school holidays (0: closed)


_SCHOOL_DAY: tuple[Period, ...] = ((7.5, 8.5, 0.15), (8.5, 11.75, 1.0), (11.75, 13.5, 0.85),
                                   (13.5, 16.5, 1.0), (16.5, 18.5, 0.2))  # with garderie, canteen
_TOWN_HALL_DAY: tuple[Period, ...] = ((8.5, 12.0, 1.0), (13.5, 17.5, 0.8))
_LEISURE_DAY: tuple[Period, ...] = ((8.0, 18.0, 0.15),)  # Wednesday's centre de loisirs
_GYM_DAY: tuple[Period, ...] = ((9.0, 12.0, 0.5), (14.0, 17.0, 0.5), (17.5, 22.0, 0.7))
_CLUBS_EVENING: tuple[Period, ...] = ((18.5, 22.0, 0.4),)
_FESTIVE_SATURDAY: tuple[Period, ...] = ((14.0, 18.0, 0.3), (19.0, 23.5, 1.0))

USAGES: dict[str, Usage] = {
    # Four-day school week: no class on Wednesday, the leisure centre uses a few rooms.
    "ecole": Usage("école", (600, 2000), (60, 220),
                   (_SCHOOL_DAY, _SCHOOL_DAY, _LEISURE_DAY, _SCHOOL_DAY, _SCHOOL_DAY, (), ()),
                   base_w_m2=1.5, occupied_w_m2=6.0, water_l_per_occupant_h=1.5,
                   co2_rise_ppm=1100, school_holidays=0.0),
    "mairie": Usage("mairie", (250, 900), (5, 20),
                    (_TOWN_HALL_DAY,) * 5 + (((9.0, 12.0, 0.6),), ()),
                    base_w_m2=2.0, occupied_w_m2=12.0, water_l_per_occupant_h=2.0,
                    co2_rise_ppm=450, school_holidays=1.0),
    "gymnase": Usage("gymnase", (800, 2500), (30, 90),
                     (_GYM_DAY,) * 5 + (((9.0, 18.0, 0.6),), ()),
                     base_w_m2=1.0, occupied_w_m2=10.0, water_l_per_occupant_h=6.0,  # showers
                     co2_rise_ppm=500, school_holidays=0.3),  # the clubs only
    "salle_polyvalente": Usage("salle polyvalente", (200, 700), (40, 200),
                               ((), _CLUBS_EVENING, (), _CLUBS_EVENING, (), _FESTIVE_SATURDAY,
                                ((11.0, 17.0, 0.5),)),
                               base_w_m2=0.8, occupied_w_m2=8.0, water_l_per_occupant_h=1.0,
                               co2_rise_ppm=700, school_holidays=1.0),
}
HEATING = ("gaz", "électrique")

COMFORT_C, SETBACK_C, FROST_PROTECTION_C = 19.5, 16.0, 12.0
SET_POINT_C = {"comfort": COMFORT_C, "setback": SETBACK_C, "frost": FROST_PROTECTION_C}
PREHEAT_H = 1.5  # the boiler starts before the first arrivals
# Heating load relative to comfort, at the setback and frost-protection set points.
HEATING_LOAD = {"comfort": 1.0, "setback": 0.65, "frost": 0.3}
BOILER_EFFICIENCY = 0.9
# Photovoltaics: performance ratio (inverter, heat, dirt) and the gain of a roof tilted
# ~30° south over the horizontal irradiance, averaged over the year.
PV_PERFORMANCE_RATIO = 0.8
PV_TILT_GAIN = 1.1
# A water meter's leak alarm: water never stopped flowing for a whole day.
LEAK_ALARM_AFTER = timedelta(hours=24)
INDEXES = ("electricity_kwh", "gas_kwh", "water_m3", "pv_kwh")
# Rooms follow their target within hours, the air's CO2 within half an hour.
ROOMS_H, AIR_H, OUTDOOR_CO2_PPM = 1.5, 0.5, 420.0
HOT_WATER_KW_PER_OCCUPANT = 0.02
CIRCULATORS_KW, CIRCULATORS_FROM_KW = 0.25, 0.5  # heating pumps run when the boiler does
_EPOCH_DAY = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Instant:
    """What drives a building's meters at one instant."""

    presence: float  # share of the occupants in
    mode: str  # of the heating programme: comfort, setback or frost
    outdoor_c: float
    heating_season: bool
    heating_kw: float


def free_running_c(outdoor_c: Any, presence: Any) -> Any:
    """Indoor temperature a building drifts to without heating (floats or arrays)."""
    return 0.5 * outdoor_c + 0.5 * 22 + 1.0 * presence


def heating_season(t: datetime) -> bool:
    """The commune's heating period: boilers are shut down from 16 May to 30 September."""
    return _heating_day(local_day(t))


@lru_cache(maxsize=4096)
def _heating_day(index: int) -> bool:
    day = _EPOCH_DAY + timedelta(days=index)
    return not ((day.month, day.day) >= (5, 16) and day.month <= 9)


class BuildingMeter(SimDevice):
    """The gas, electricity and water meters, solar production and comfort sensors of one
    public building."""

    kind = "building_meter"
    model = "phare-sim-batiment-1"
    fw = "4.0.2"
    fault_types = frozenset({"heating_on_holiday", "baseload_step", "night_water_leak",
                             "meter_freeze", "offline"})
    interval = timedelta(minutes=15)

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int, weather: Weather, usage: str = "ecole",
                 calendar: SchoolCalendar | None = None, floor_area_m2: float | None = None,
                 occupants: int | None = None, heating: str = "gaz", pv_kwc: float = 0.0,
                 altitude_m: float | None = None) -> None:
        super().__init__(tenant, device_id, name, lat=lat, lon=lon, seed=seed)
        if usage not in USAGES:
            raise ValueError(f"unknown building use {usage!r}: one of {', '.join(USAGES)}")
        if heating not in HEATING:
            raise ValueError(f"unknown heating {heating!r}: one of {', '.join(HEATING)}")
        rng = self.rng
        self.usage = USAGES[usage]
        self.weather = weather
        self.calendar = calendar or SchoolCalendar("A")
        self.altitude_m = altitude_m
        drawn_area, drawn_occupants = rng.uniform(*self.usage.area_m2), rng.randint(*self.usage.occupants)
        self.area_m2 = round(floor_area_m2 if floor_area_m2 is not None else drawn_area)
        self.max_occupants = occupants if occupants is not None else drawn_occupants
        self.heating = heating
        self.pv_kwc = pv_kwc
        # Heat loss per degree of the whole building: 1.4-2.2 W/(m².K) is an old public
        # building, ~140 kWh/m² of heating a year at 900 m.
        self.ua_kw_k = self.area_m2 * rng.uniform(1.4, 2.2) / 1000
        self.electricity_kwh = rng.uniform(50_000, 800_000)
        self.gas_kwh = rng.uniform(100_000, 3_000_000)
        self.water_m3 = rng.uniform(2_000, 40_000)
        self.pv_kwh = rng.uniform(1_000, 60_000) if pv_kwc else 0.0
        self.indoor_c = COMFORT_C
        self.co2_ppm = 450.0
        self.metadata = {"usage": usage, "floor_area_m2": self.area_m2, "heating": heating,
                         "occupants": self.max_occupants}
        if pv_kwc:
            self.metadata["pv_kwc"] = pv_kwc
        self._days: dict[int, tuple[float, str | None]] = {}
        self._frozen: dict[int, dict[str, float]] = {}

    def add_fault(self, fault: Fault) -> None:
        super().add_fault(fault)
        if fault.type == "night_water_leak" and (
                fault.end is None or fault.end - fault.start > LEAK_ALARM_AFTER):
            detail = {"flow_l_h": fault.params.get("flow_l_h")}
            self.schedule(Event(fault.start + LEAK_ALARM_AFTER, "water_leak", True, detail))
            if fault.end is not None:
                self.schedule(Event(fault.end, "water_leak", False, detail))

    # --- the building's behaviour, as functions of time -------------------------------------
    def day_use(self, t: datetime) -> tuple[float, str | None]:
        """Share of its ordinary use the building has on t's local day, and the closure's
        name when it is closed (a public holiday, or school holidays for a school)."""
        index = local_day(t)
        cached = self._days.get(index)
        if cached is None:
            day = _EPOCH_DAY + timedelta(days=index)
            public = self.calendar.public_holiday(day)
            school = self.calendar.school_holiday(day)
            if public is not None:
                cached = (0.0, public)
            elif school is not None:
                share = self.usage.school_holidays
                cached = (share, school if share == 0 else None)
            else:
                cached = (1.0, None)
            self._days[index] = cached
        return cached

    def presence(self, t: datetime) -> float:
        """Share of the building's occupants present at t (0-1)."""
        share, _ = self.day_use(t)
        if share == 0:
            return 0.0
        hour = local_hour(t)
        for start, end, part in self.usage.week[local_weekday(t)]:
            if start <= hour < end:
                return part * share
        return 0.0

    def heating_mode(self, t: datetime) -> str:
        """`comfort` while used, `setback` at night, at weekends and on public holidays,
        `frost` (frost protection) while closed for school holidays. A programme left in
        comfort (`heating_on_holiday`) heats as if the building were used."""
        if self.fault("heating_on_holiday", t) is not None:
            return "comfort"
        _, closure = self.day_use(t)
        if closure is not None:
            return "frost" if self._school_closure(t) else "setback"
        periods = self.usage.week[local_weekday(t)]
        if not periods:
            return "frost" if self._school_closure(t) else "setback"
        hour = local_hour(t)
        return "comfort" if periods[0][0] - PREHEAT_H <= hour < periods[-1][1] else "setback"

    def instant(self, t: datetime) -> Instant:
        """What drives the meters at t, computed once for all of them."""
        outdoor = self.weather.temperature(t, self.altitude_m)
        season = heating_season(t)
        mode = self.heating_mode(t)
        heating = 0.0
        if season:  # degree days (base 18 °C) in the programme's mode
            deficit = max(0.0, HEATING_BASE_C - outdoor)
            heating = self.ua_kw_k * deficit * HEATING_LOAD[mode] / BOILER_EFFICIENCY
        return Instant(self.presence(t), mode, outdoor, season, heating)

    def heating_kw(self, t: datetime) -> float:
        """Heating power (whatever the fuel) at t."""
        return self.instant(t).heating_kw

    def gas_kw(self, t: datetime, now: Instant | None = None) -> float:
        """Gas: heating if the boiler burns gas, and hot water while occupied."""
        now = now or self.instant(t)
        hot_water = HOT_WATER_KW_PER_OCCUPANT * self.max_occupants * now.presence
        return hot_water + (now.heating_kw if self.heating == "gaz" else 0.0)

    def electricity_kw(self, t: datetime, now: Instant | None = None) -> float:
        now = now or self.instant(t)
        usage = self.usage
        occupied = self.area_m2 * usage.occupied_w_m2 * now.presence / 1000
        pumps = CIRCULATORS_KW if now.heating_kw > CIRCULATORS_FROM_KW else 0.0
        electric_heating = now.heating_kw if self.heating == "électrique" else 0.0
        extra = sum(f.params.get("extra_w", 0.0) for f in self.faults_of("baseload_step", t))
        return (self.area_m2 * usage.base_w_m2 / 1000 + occupied + pumps + electric_heating
                + extra / 1000)

    def pv_kw(self, t: datetime) -> float:
        """Solar production: installed peak power × irradiance / 1 kW/m² × performance."""
        if not self.pv_kwc:
            return 0.0
        irradiance = self.weather.irradiance_w_m2(t)
        return self.pv_kwc * irradiance / 1000 * PV_TILT_GAIN * PV_PERFORMANCE_RATIO

    def water_m3h(self, t: datetime, now: Instant | None = None) -> float:
        presence = (now or self.instant(t)).presence
        used = self.max_occupants * presence * self.usage.water_l_per_occupant_h / 1000
        leaking = sum(f.params["flow_l_h"] for f in self.faults_of("night_water_leak", t))
        return used + leaking / 1000

    def advance(self, a: datetime, b: datetime) -> None:
        for mid, hours in substeps(a, b, self.substep):
            now = self.instant(mid)
            self.gas_kwh += self.gas_kw(mid, now) * hours
            self.electricity_kwh += self.electricity_kw(mid, now) * hours
            self.water_m3 += self.water_m3h(mid, now) * hours
            self.pv_kwh += self.pv_kw(mid) * hours
            # Slow quantities relax towards their target: hours for the rooms, minutes for the air.
            if now.outdoor_c < HEATING_BASE_C and now.heating_season:
                target = max(SET_POINT_C[now.mode], now.outdoor_c)
            else:
                target = free_running_c(now.outdoor_c, now.presence)
            self.indoor_c += (target - self.indoor_c) * (1 - math.exp(-hours / ROOMS_H))
            co2_target = OUTDOOR_CO2_PPM + self.usage.co2_rise_ppm * now.presence
            self.co2_ppm += (co2_target - self.co2_ppm) * (1 - math.exp(-hours / AIR_H))

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        rng = self.rng
        presence = self.presence(t)
        occupants = round(self.max_occupants * presence * rng.uniform(0.9, 1.05))
        now = self.instant(t)
        indexes = {"electricity_kwh": self.electricity_kwh, "water_m3": self.water_m3}
        if self.heating == "gaz":
            indexes["gas_kwh"] = self.gas_kwh
        if self.pv_kwc:
            indexes["pv_kwh"] = self.pv_kwh
        freeze = self.fault("meter_freeze", t)
        if freeze is not None:  # the gateway repeats the values it last read
            indexes = self._frozen.setdefault(id(freeze), indexes)
        return {
            **{name: round(value, 3) for name, value in indexes.items()},
            "power_w": round(self.electricity_kw(t, now) * 1000 * (1 + rng.gauss(0, 0.03)), 1),
            "temperature_c": round(self.indoor_c + rng.gauss(0, 0.1), 1),
            "humidity_pct": round(min(70.0, 42 + 10 * presence + rng.gauss(0, 1.5)), 1),
            "co2_ppm": round(self.co2_ppm + rng.gauss(0, 15)),
            "illuminance_lux": round(rng.uniform(300, 500) if presence else rng.uniform(0, 5)),
            "occupancy": occupants,
        }

    def _school_closure(self, t: datetime) -> bool:
        """Whether the building is closed for school holidays on t's local day."""
        return self.usage.school_holidays == 0 and (
            self.calendar.school_holiday(_EPOCH_DAY + timedelta(days=local_day(t))) is not None)
