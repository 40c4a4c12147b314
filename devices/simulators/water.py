"""Drinking water network: acoustic leak loggers on mains and district flow meters.

Both listen to the same `WaterNetwork`: the leaks of a pipe raise the night noise of the
loggers on it (`leaks.py` says how), the leaks of a district add to its meter's flow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from devices.messages import MetricValue

from .base import SimDevice, local_hour, local_weekday, next_local, substeps
from .leaks import LEAK_SPREAD_DB, Leak, Pipe, combine_db

# Quietest night level of a sound main (dB), by material: plastics damp the noise that
# metal pipes carry, so the same network reads lower on PVC and PE.
PIPE_NOISE_DB: dict[str, tuple[float, float]] = {
    "fonte ductile": (25.0, 32.0),
    "fonte grise": (27.0, 35.0),
    "acier": (26.0, 33.0),
    "PVC": (20.0, 26.0),
    "PEHD": (20.0, 25.0),
}
NIGHT_MIDDLE = time(3, 0)  # loggers listen from 02:00 to 04:00, the quietest hours
# Consumption (litres a person a day) of a rural French district, all uses included.
DEMAND_L_PER_PERSON_DAY = 150.0
BACKGROUND_LOSS_SHARE = 0.08  # undetectable seepage at joints, as a share of the mean flow
# Consumers wander around the demand curve: a factor that keeps 98 % of its deviation over
# 5 minutes, nudged by 1 % each substep. Meters read flow within 1 %, pressure within 15 mbar.
DEMAND_MEMORY, DEMAND_NOISE = 0.98, 0.01
FLOW_NOISE, PRESSURE_NOISE_BAR = 0.01, 0.015
# A logger's night: its background wanders from night to night (keeping 60 %, ±1.2 dB).
NIGHT_MEMORY, NIGHT_NOISE_DB, TRAFFIC_SPREAD_SIGMA = 0.6, 1.2, 0.3


class WaterNetwork:
    """The mains and leaks of a territory, shared by its loggers and meters."""

    def __init__(self, pipes: list[Pipe] | None = None) -> None:
        self.pipes: dict[str, Pipe] = {p.id: p for p in pipes or []}
        self.leaks: list[Leak] = []

    def add_leak(self, leak: Leak) -> None:
        self.leaks.append(leak)

    def leaks_on(self, pipe_id: str) -> list[Leak]:
        return [leak for leak in self.leaks if leak.pipe.id == pipe_id]

    def leaks_in(self, district: str) -> list[Leak]:
        return [leak for leak in self.leaks if leak.pipe.district == district]


def water_temperature_c(t: datetime) -> float:
    """Temperature of water in a buried main: the air's season, damped and a month late."""
    return main_temperature_c(t.astimezone(UTC).timetuple().tm_yday)


def main_temperature_c(day_of_year: Any, xp: Any = math) -> Any:
    """`water_temperature_c` from the UTC day of the year (a number, or an array with xp=numpy)."""
    return 11.5 - 5.0 * xp.cos(2 * math.pi * (day_of_year - 50) / 365.25)


class AcousticLeakSensor(SimDevice):
    """A noise logger on a main: listens between 02:00 and 04:00, reports once a night."""

    kind = "acoustic_leak_sensor"
    model = "phare-sim-acoustique-1"
    fw = "1.8.4"
    fault_types = frozenset({"offline", "tamper"})
    edge_events = {"tamper": "tamper"}
    interval = timedelta(days=1)

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int, material: str | None = None, pipe: Pipe | None = None,
                 position_m: float = 0.0, network: WaterNetwork | None = None,
                 traffic_db: float | None = None) -> None:
        super().__init__(tenant, device_id, name, lat=lat, lon=lon, seed=seed)
        rng = self.rng
        drawn = rng.choice(sorted(PIPE_NOISE_DB))
        drawn_traffic = rng.uniform(0, 4)
        self.pipe = pipe
        self.position_m = position_m
        self.network = network
        self.material = pipe.material if pipe is not None else material or drawn
        # The logger's own quiet level: the pipe, plus the traffic and consumption near it.
        self.traffic_db = drawn_traffic if traffic_db is None else traffic_db
        self.base_noise_db = rng.uniform(*PIPE_NOISE_DB[self.material]) + self.traffic_db
        self.traffic_spread_db = 5.0 + self.traffic_db  # busier streets, wider nights
        self.anomaly_db = 0.0  # day-to-day variation (traffic, consumption), auto-correlated
        self.report_at = time(4, 30 + rng.randrange(30))  # loggers spread their uplinks
        self.battery_pct = rng.uniform(55, 100)
        self.battery_drain_pct_per_day = rng.uniform(0.03, 0.045)  # 6 to 8 years a battery
        self.rssi_dbm = rng.uniform(-118, -102)  # in a valve chamber, under a cast-iron lid
        diameter = rng.choice((80, 100, 125, 150, 200))
        self.metadata = {"pipe_material": self.material,
                         "pipe_diameter_mm": pipe.diameter_mm if pipe else diameter,
                         "night_window": "02:00-04:00"}
        if pipe is not None:
            self.metadata.update(pipe=pipe.id, position_m=round(position_m, 1))

    def first_report(self, t: datetime) -> datetime:
        return next_local(t, self.report_at)

    def next_report(self, t: datetime) -> datetime:
        return next_local(t + timedelta(hours=1), self.report_at)

    def leak_levels_db(self, night: datetime) -> list[float]:
        """Leak noise reaching the logger at a time of its night window."""
        if self.pipe is None or self.network is None:
            return []
        levels = (leak.received_db(night, self.position_m)
                  for leak in self.network.leaks_on(self.pipe.id))
        return [level for level in levels if level is not None]

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        rng = self.rng
        self.anomaly_db = NIGHT_MEMORY * self.anomaly_db + rng.gauss(0, NIGHT_NOISE_DB)
        background = max(5.0, self.base_noise_db + self.anomaly_db)
        traffic_spread = rng.lognormvariate(math.log(self.traffic_spread_db), TRAFFIC_SPREAD_SIGMA)
        night = next_local(t - timedelta(hours=12), NIGHT_MIDDLE)  # the night just ended
        leaks = self.leak_levels_db(night)
        noise_min = combine_db([background, *leaks])
        # Where the leak dominates, the night is steady: the spread narrows to the leak's.
        leak_share = 1 - 10 ** ((background - noise_min) / 10)
        spread = leak_share * LEAK_SPREAD_DB + (1 - leak_share) * traffic_spread
        current = combine_db([background + traffic_spread * rng.uniform(0.2, 0.8), *leaks])
        return {
            "noise_min_db": round(noise_min, 1),
            "noise_spread_db": round(spread, 1),
            "noise_level_db": round(max(current, noise_min), 1),
            "temperature_c": round(water_temperature_c(t) + rng.gauss(0, 0.15), 1),
            **self.common_metrics(),
        }


def _bump(hour: Any, centre: float, width: float, xp: Any) -> Any:
    d = (hour - centre + 12) % 24 - 12  # on a 24-hour circle
    return xp.exp(-0.5 * (d / width) ** 2)


def _weekday_demand(hour: Any, xp: Any = math) -> Any:
    return (0.25 + 1.3 * _bump(hour, 7.5, 1.2, xp) + 0.6 * _bump(hour, 12.5, 1.5, xp)
            + 1.0 * _bump(hour, 19.5, 1.8, xp) + 0.45 * _bump(hour, 14.0, 4.5, xp))


def _weekend_demand(hour: Any, xp: Any = math) -> Any:  # people get up later
    return (0.25 + 1.2 * _bump(hour, 9.5, 1.8, xp) + 0.8 * _bump(hour, 12.5, 1.5, xp)
            + 0.9 * _bump(hour, 19.5, 1.8, xp) + 0.45 * _bump(hour, 14.5, 4.5, xp))


def _mean(curve: Callable[[float], float]) -> float:
    return sum(curve(m / 60) for m in range(24 * 60)) / (24 * 60)


_WEEKDAY_MEAN, _WEEKEND_MEAN = _mean(_weekday_demand), _mean(_weekend_demand)


def demand_factor(t: datetime) -> float:
    """Consumers' demand at t relative to the day's mean (1.0): low at night, morning peak."""
    return demand_curve(local_hour(t), local_weekday(t) >= 5)


def demand_curve(hour: Any, weekend: bool, xp: Any = math) -> Any:
    """`demand_factor` from the local hour (a number, or an array with xp=numpy)."""
    if weekend:
        return _weekend_demand(hour, xp) / _WEEKEND_MEAN
    return _weekday_demand(hour, xp) / _WEEKDAY_MEAN


class WaterFlowMeter(SimDevice):
    """The meter at the inlet of a district (sector): consumers' demand, background losses
    and the district's leaks. Its minimum night flow is the night use plus all losses."""

    kind = "water_flow_meter"
    model = "phare-sim-debitmetre-1"
    fw = "2.1.0"
    fault_types = frozenset({"offline"})
    interval = timedelta(minutes=15)

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int, population: int | None = None, network: WaterNetwork | None = None,
                 background_losses_m3h: float | None = None,
                 pressure_bar: float | None = None) -> None:
        super().__init__(tenant, device_id, name, lat=lat, lon=lon, seed=seed)
        rng = self.rng
        drawn_mean = rng.uniform(3.0, 20.0)  # 500 to 3,000 inhabitants
        drawn_losses = rng.uniform(0.06, 0.15)
        self.network = network
        self.mean_flow_m3h = (drawn_mean if population is None
                              else population * DEMAND_L_PER_PERSON_DAY / 1000 / 24)
        self.losses_m3h = (self.mean_flow_m3h * drawn_losses if background_losses_m3h is None
                           else background_losses_m3h)
        drawn_static = rng.uniform(3.0, 6.5)  # height of the reservoir above the meter
        self.static_bar = drawn_static if pressure_bar is None else pressure_bar
        self.headloss_bar = rng.uniform(0.3, 1.0)  # at the day's peak flow
        self.volume_m3 = rng.uniform(20_000, 900_000)
        self.noise = 1.0  # consumers are not a curve: a slowly wandering factor
        self.battery_pct = rng.uniform(60, 100)
        self.battery_drain_pct_per_day = rng.uniform(0.015, 0.03)
        self.rssi_dbm = rng.uniform(-105, -88)
        self.metadata = {"population": population} if population is not None else {}
        self._peak_m3h = self.demand_m3h(datetime(2026, 1, 5, 6, 30, tzinfo=UTC)) + self.losses_m3h

    def demand_m3h(self, t: datetime) -> float:
        """What consumers draw (a curve around the day's mean, low at night)."""
        return (self.mean_flow_m3h - self.losses_m3h) * demand_factor(t) * self.noise

    def leak_flow_m3h(self, t: datetime) -> float:
        if self.network is None:
            return 0.0
        return sum(leak.flow_m3h(t) for leak in self.network.leaks_in(self.device_id))

    def flow_m3h(self, t: datetime) -> float:
        return self.losses_m3h + self.demand_m3h(t) + self.leak_flow_m3h(t)

    def advance(self, a: datetime, b: datetime) -> None:
        for mid, hours in substeps(a, b, self.substep):
            self.noise = (1 + DEMAND_MEMORY ** (hours * 12) * (self.noise - 1)
                          + self.rng.gauss(0, DEMAND_NOISE))
            self.volume_m3 += self.flow_m3h(mid) * hours

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        flow = self.flow_m3h(t)
        pressure = self.static_bar - self.headloss_bar * (flow / self._peak_m3h) ** 2
        return {
            "flow_m3h": round(flow * (1 + self.rng.gauss(0, FLOW_NOISE)), 3),
            "volume_m3": round(self.volume_m3, 3),
            "pressure_bar": round(pressure + self.rng.gauss(0, PRESSURE_NOISE_BAR), 3),
            **self.common_metrics(),
        }
