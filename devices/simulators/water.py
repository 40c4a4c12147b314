"""Drinking water network: acoustic leak loggers on mains and district flow meters."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from devices.messages import MetricValue

from .base import LOCAL_TZ, SimDevice, local_hour, next_local, substeps

# Quietest night level of a sound main (dB), by material: plastics damp the noise that
# metal pipes carry, so the same network reads lower on PVC and PE.
PIPE_NOISE_DB: dict[str, tuple[float, float]] = {
    "fonte ductile": (25.0, 32.0),
    "fonte grise": (27.0, 35.0),
    "acier": (26.0, 33.0),
    "PVC": (20.0, 26.0),
    "PEHD": (20.0, 25.0),
}


def water_temperature_c(t: datetime) -> float:
    """Temperature of water in a buried main: the air's season, damped and a month late."""
    doy = t.astimezone(UTC).timetuple().tm_yday
    return 11.5 - 5.0 * math.cos(2 * math.pi * (doy - 50) / 365.25)


class AcousticLeakSensor(SimDevice):
    """A noise logger on a main: listens between 02:00 and 04:00, reports once a night."""

    kind = "acoustic_leak_sensor"
    model = "phare-sim-acoustique-1"
    fw = "1.8.4"
    interval = timedelta(days=1)

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int, material: str | None = None) -> None:
        super().__init__(tenant, device_id, name, lat=lat, lon=lon, seed=seed)
        rng = self.rng
        drawn = rng.choice(sorted(PIPE_NOISE_DB))
        self.material = material if material is not None else drawn
        self.base_noise_db = rng.uniform(*PIPE_NOISE_DB[self.material])
        self.anomaly_db = 0.0  # day-to-day variation (traffic, consumption), auto-correlated
        self.report_at = time(4, 30 + rng.randrange(30))  # loggers spread their uplinks
        self.battery_pct = rng.uniform(55, 100)
        self.battery_drain_pct_per_day = rng.uniform(0.03, 0.045)  # 6 to 8 years a battery
        self.rssi_dbm = rng.uniform(-118, -102)  # in a valve chamber, under a cast-iron lid
        self.metadata = {"pipe_material": self.material,
                         "pipe_diameter_mm": rng.choice((80, 100, 125, 150, 200)),
                         "night_window": "02:00-04:00"}

    def first_report(self, t: datetime) -> datetime:
        return next_local(t, self.report_at)

    def next_report(self, t: datetime) -> datetime:
        return next_local(t + timedelta(hours=1), self.report_at)

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        rng = self.rng
        self.anomaly_db = 0.6 * self.anomaly_db + rng.gauss(0, 1.2)
        noise_min = max(5.0, self.base_noise_db + self.anomaly_db)
        spread = rng.lognormvariate(math.log(6.0), 0.3)
        return {
            "noise_min_db": round(noise_min, 1),
            "noise_spread_db": round(spread, 1),
            "noise_level_db": round(noise_min + spread * rng.uniform(0.2, 0.8), 1),
            "temperature_c": round(water_temperature_c(t) + rng.gauss(0, 0.15), 1),
            **self.common_metrics(),
        }


def _bump(hour: float, centre: float, width: float) -> float:
    d = (hour - centre + 12) % 24 - 12  # on a 24-hour circle
    return math.exp(-0.5 * (d / width) ** 2)


def _weekday_demand(hour: float) -> float:
    return (0.25 + 1.3 * _bump(hour, 7.5, 1.2) + 0.6 * _bump(hour, 12.5, 1.5)
            + 1.0 * _bump(hour, 19.5, 1.8) + 0.45 * _bump(hour, 14.0, 4.5))


def _weekend_demand(hour: float) -> float:  # people get up later
    return (0.25 + 1.2 * _bump(hour, 9.5, 1.8) + 0.8 * _bump(hour, 12.5, 1.5)
            + 0.9 * _bump(hour, 19.5, 1.8) + 0.45 * _bump(hour, 14.5, 4.5))


def _mean(curve: Callable[[float], float]) -> float:
    return sum(curve(m / 60) for m in range(24 * 60)) / (24 * 60)


_WEEKDAY_MEAN, _WEEKEND_MEAN = _mean(_weekday_demand), _mean(_weekend_demand)


def demand_factor(t: datetime) -> float:
    """Consumers' demand at t relative to the day's mean (1.0): low at night, morning peak."""
    hour = local_hour(t)
    if t.astimezone(LOCAL_TZ).weekday() >= 5:
        return _weekend_demand(hour) / _WEEKEND_MEAN
    return _weekday_demand(hour) / _WEEKDAY_MEAN


class WaterFlowMeter(SimDevice):
    """The meter at the inlet of a district (sector): consumers' demand plus background losses."""

    kind = "water_flow_meter"
    model = "phare-sim-debitmetre-1"
    fw = "2.1.0"
    interval = timedelta(minutes=15)

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int) -> None:
        super().__init__(tenant, device_id, name, lat=lat, lon=lon, seed=seed)
        rng = self.rng
        self.mean_flow_m3h = rng.uniform(3.0, 20.0)  # 500 to 3,000 inhabitants
        self.losses_m3h = self.mean_flow_m3h * rng.uniform(0.06, 0.15)  # what the MNF reveals
        self.static_bar = rng.uniform(3.0, 6.5)  # height of the reservoir above the meter
        self.headloss_bar = rng.uniform(0.3, 1.0)  # at the day's peak flow
        self.volume_m3 = rng.uniform(20_000, 900_000)
        self.noise = 1.0  # consumers are not a curve: a slowly wandering factor
        self.battery_pct = rng.uniform(60, 100)
        self.battery_drain_pct_per_day = rng.uniform(0.015, 0.03)
        self.rssi_dbm = rng.uniform(-105, -88)
        self._peak_m3h = self.flow_m3h(datetime(2026, 1, 5, 6, 30, tzinfo=UTC))  # 07:30 Monday

    def flow_m3h(self, t: datetime) -> float:
        demand = (self.mean_flow_m3h - self.losses_m3h) * demand_factor(t) * self.noise
        return self.losses_m3h + demand

    def advance(self, a: datetime, b: datetime) -> None:
        self.noise = 1 + 0.7 * (self.noise - 1) + self.rng.gauss(0, 0.03)
        for mid, hours in substeps(a, b, self.substep):
            self.volume_m3 += self.flow_m3h(mid) * hours

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        flow = self.flow_m3h(t)
        pressure = self.static_bar - self.headloss_bar * (flow / self._peak_m3h) ** 2
        return {
            "flow_m3h": round(flow * (1 + self.rng.gauss(0, 0.01)), 3),
            "volume_m3": round(self.volume_m3, 3),
            "pressure_bar": round(pressure + self.rng.gauss(0, 0.015), 3),
            **self.common_metrics(),
        }
