"""A public lighting cabinet: astronomical clock, night dimming, three-phase meter, commands.

Faults (`add_fault`): `lamp_failure` (one luminaire of a circuit dark: the phase loses its
watts), `breaker_trip` (a phase's breaker open: its circuits draw nothing), `door_open`,
`driver_stuck` (the cabinet's dimmer stuck at full power: dimming is reported as commanded,
the power drawn is full), `daytime_burning` (clock fault: lit in daylight), `power_loss`
(no supply: dark and silent), `offline`. The cabinet reports the first four as events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from astral import Observer, sun

from devices.messages import Command, CommandAck, MetricValue, format_ts

from .base import LOCAL_TZ, SimDevice, local_hour, parse_ts
from .weather import Weather, cloud_transmission, solar_elevation_deg

# Nightly dimming, local time: (from, level %). 100 % in the evening, 50 % in the heart of
# the night, back to 100 % for the early risers: the usual profile of French communes.
DEFAULT_PROFILE: tuple[tuple[time, int], ...] = ((time(6, 0), 100), (time(22, 0), 50))
STANDBY_W = 4.0  # controller and modem stay powered when the output is off
DAYLIGHT_LUX_MIN, DAYLIGHT_LUX_SPAN, NIGHT_LUX = 400.0, 110_000.0, 0.2
# A reading's electrics: meter noise, voltage (a little higher at night, the network being
# less loaded), LED drivers' power factor (lower when dimmed), the controller's alone.
POWER_NOISE = 0.004
VOLTAGE_V, VOLTAGE_NOISE_V, NIGHT_VOLTAGE_RISE_V, NIGHT_UNTIL_H = 230.0, 0.8, 1.5, 5.0
PF_FULL, PF_DIMMED_LOSS, PF_NOISE = 0.96, 0.06, 0.003
PF_STANDBY, PF_STANDBY_NOISE = 0.45, 0.02


@dataclass(frozen=True, slots=True)
class Circuit:
    """A departure of the cabinet: luminaires of the same wattage on one phase."""

    name: str
    phase: int  # 1, 2 or 3
    luminaires: int
    watts: float


def split_circuits(luminaires: int, watts: float, shares: Sequence[float]) -> tuple[Circuit, ...]:
    """One circuit a phase, sharing `luminaires` in proportion to `shares`."""
    counts = [int(luminaires * s) for s in shares]
    for i in range(luminaires - sum(counts)):  # the remainder, one each
        counts[i % 3] += 1
    return tuple(Circuit(f"C{p}", p, n, watts) for p, n in enumerate(counts, start=1) if n)


def ambient_lux(elevation_deg: float, clear: float) -> float:
    """The cabinet's light sensor, facing the sky away from the luminaires: daylight by the
    sun's height and the clouds' transmission, civil twilight, night."""
    if elevation_deg > 0:
        return DAYLIGHT_LUX_MIN + DAYLIGHT_LUX_SPAN * math.sin(math.radians(elevation_deg)) ** 1.2 * clear
    if elevation_deg > -6:  # civil twilight: from ~400 lx at sunset to ~0 at dusk
        return DAYLIGHT_LUX_MIN * 10 ** (elevation_deg / 1.5)
    return NIGHT_LUX


class LightingCabinet(SimDevice):
    """An `armoire d'éclairage public` feeding LED luminaires over three phases."""

    kind = "lighting_cabinet"
    model = "phare-sim-armoire-1"
    fw = "3.2.0"
    takes_commands = True
    fault_types = frozenset({"lamp_failure", "breaker_trip", "door_open", "driver_stuck",
                             "daytime_burning", "power_loss", "offline"})
    edge_events = {"lamp_failure": "lamp_failure", "breaker_trip": "breaker_trip",
                   "door_open": "door_open", "power_loss": "power_loss"}
    interval = timedelta(minutes=10)

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int, luminaires: int | None = None, luminaire_w: float | None = None,
                 circuits: Sequence[Circuit] | None = None, weather: Weather | None = None,
                 profile: tuple[tuple[time, int], ...] = DEFAULT_PROFILE) -> None:
        super().__init__(tenant, device_id, name, lat=lat, lon=lon, seed=seed)
        rng = self.rng
        # Drawn even when given, so that giving one leaves the rest of the device unchanged.
        drawn_n, drawn_w = rng.randint(12, 70), rng.choice((39.0, 52.0, 68.0, 90.0))
        shares = [1 + rng.uniform(-0.06, 0.06) for _ in range(3)]  # luminaires per phase
        if circuits is None:
            circuits = split_circuits(luminaires if luminaires is not None else drawn_n,
                                      luminaire_w if luminaire_w is not None else drawn_w,
                                      [s / sum(shares) for s in shares])
        self.circuits = tuple(circuits)
        self.luminaires = sum(c.luminaires for c in self.circuits)
        self.installed_w = sum(c.luminaires * c.watts for c in self.circuits)
        self.luminaire_w = self.installed_w / self.luminaires
        self.losses = rng.uniform(0.04, 0.06)  # cables and drivers, upstream of the meter
        self.profile = tuple(sorted(profile))
        self.energy_kwh = rng.uniform(2_000, 60_000)  # meters are not new
        self.phase_offsets_v = [rng.gauss(0, 1.5) for _ in range(3)]
        self.weather = weather
        self.metadata = {"luminaires": self.luminaires,
                         "luminaire_w": round(self.luminaire_w, 1),
                         "installed_w": round(self.installed_w, 1), "technology": "LED",
                         "circuits": [{"name": c.name, "phase": c.phase,
                                       "luminaires": c.luminaires, "watts": c.watts}
                                      for c in self.circuits]}
        self.observer = Observer(latitude=lat, longitude=lon)
        self.forced: tuple[bool, datetime] | None = None  # `switch`: (on, until)
        self.dimming: tuple[int, datetime] | None = None  # `set_dimming`: (level, until)
        self.schedule_steps: list[tuple[datetime, int]] = []  # `set_schedule`, sorted by time
        self._sun: dict[date, tuple[datetime, datetime]] = {}
        self._breaks: dict[date, list[datetime]] = {}
        self._cloud: dict[date, float] = {}

    # --- what the cabinet does ------------------------------------------------------------
    def level_at(self, t: datetime) -> int:
        """Output level (0-100 %) the cabinet commands and reports at t: commands, then the
        schedule, then the clock."""
        on = self.astro_on(t) or self.fault("daytime_burning", t) is not None
        if self.forced is not None and t < self.forced[1]:
            on = self.forced[0]
        if not on:
            return 0
        level = self._profile_level(t)
        for at, step_level in reversed(self.schedule_steps):
            if at <= t:
                level = step_level
                break
        if self.dimming is not None and t < self.dimming[1]:
            level = self.dimming[0]
        return level

    def phase_loads_w(self, t: datetime, level: int) -> list[float]:
        """What the luminaires of each phase draw at t for an output level, faults included."""
        if level == 0 or self.silent(t):
            return [0.0, 0.0, 0.0]
        if self.fault("driver_stuck", t) is not None:
            level = 100  # the dimmer no longer dims, whatever it is told
        dark: dict[str, int] = {}
        for f in self.faults_of("lamp_failure", t):
            dark[f.params["circuit"]] = dark.get(f.params["circuit"], 0) + 1
        tripped = {f.params["phase"] for f in self.faults_of("breaker_trip", t)}
        loads = [0.0, 0.0, 0.0]
        for c in self.circuits:
            if c.phase not in tripped:
                lit = max(0, c.luminaires - dark.get(c.name, 0))
                loads[c.phase - 1] += lit * c.watts * level / 100
        return loads

    def power_w(self, t: datetime, level: int | None = None) -> float:
        """Active power at the meter: luminaires' load plus losses, plus the controller."""
        if self.silent(t):
            return 0.0
        loads = self.phase_loads_w(t, self.level_at(t) if level is None else level)
        return sum(loads) * (1 + self.losses) + STANDBY_W

    def nominal_power_w(self, level: int) -> float:
        """Power drawn at an output level with every luminaire working."""
        return self.installed_w * level / 100 * (1 + self.losses) + STANDBY_W

    def astro_on(self, t: datetime) -> bool:
        sunrise, sunset = self.sun_times(t.astimezone(UTC).date())
        return t < sunrise or t >= sunset

    def sun_times(self, day: date) -> tuple[datetime, datetime]:
        """Sunrise and sunset of a UTC day (in France both fall inside it)."""
        if day not in self._sun:
            s = sun.sun(self.observer, date=day, tzinfo=UTC)
            self._sun[day] = (s["sunrise"], s["sunset"])
        return self._sun[day]

    def advance(self, a: datetime, b: datetime) -> None:
        # The power is constant between switchings: integrate exactly, segment by segment.
        cuts = sorted({a, b, *(x for x in self._switchings(a, b) if a < x < b)})
        for s, e in zip(cuts, cuts[1:], strict=False):
            mid = s + (e - s) / 2
            self.energy_kwh += self.power_w(mid) / 1000 * (e - s).total_seconds() / 3600

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        rng = self.rng
        level = self.level_at(t)
        loads = self.phase_loads_w(t, level)
        noise = 1 + rng.gauss(0, POWER_NOISE)
        # Less load on the low-voltage network at night: its voltage rises a little.
        night_v = NIGHT_VOLTAGE_RISE_V if local_hour(t) < NIGHT_UNTIL_H else 0.0
        volts = [VOLTAGE_V + off + night_v + rng.gauss(0, VOLTAGE_NOISE_V)
                 for off in self.phase_offsets_v]
        phase_w = [load * (1 + self.losses) * noise for load in loads]
        phase_w[0] += STANDBY_W  # the controller is on phase 1
        power = sum(phase_w)
        if sum(loads) > 0:  # LED drivers' power factor degrades when dimmed
            pf = PF_FULL - PF_DIMMED_LOSS * (1 - level / 100) + rng.gauss(0, PF_NOISE)
        else:  # only the controller
            pf = PF_STANDBY + rng.gauss(0, PF_STANDBY_NOISE)
        amps = [w / (v * pf) for w, v in zip(phase_w, volts, strict=True)]
        metrics: dict[str, MetricValue] = {
            "power_w": round(power, 1),
            "energy_kwh": round(self.energy_kwh, 3),
            "power_factor": round(pf, 3),
            "dimming_pct": level,
            "output_on": level > 0,
            "ambient_lux": round(self._ambient_lux(t), 1),
        }
        for phase, (v, a) in enumerate(zip(volts, amps, strict=True), start=1):
            metrics[f"voltage_l{phase}_v"] = round(v, 1)
            metrics[f"current_l{phase}_a"] = round(a, 2)
        return metrics

    def _profile_level(self, t: datetime) -> int:
        hour = local_hour(t)
        level = self.profile[-1][1]  # before the first point of the day: last night's level
        for at, step_level in self.profile:
            if at.hour + at.minute / 60 <= hour:
                level = step_level
        return level

    def _switchings(self, a: datetime, b: datetime) -> list[datetime]:
        """Instants in [a, b] where the output or the load may change."""
        out: list[datetime] = []
        day = a.astimezone(UTC).date()
        while day <= b.astimezone(UTC).date():
            out.extend(self._day_breaks(day))
            day += timedelta(days=1)
        if self.forced is not None:
            out.append(self.forced[1])
        if self.dimming is not None:
            out.append(self.dimming[1])
        out.extend(at for at, _ in self.schedule_steps)
        for f in self.faults:
            out.append(f.start)
            if f.end is not None:
                out.append(f.end)
        return out

    def _day_breaks(self, day: date) -> list[datetime]:
        breaks = self._breaks.get(day)
        if breaks is None:
            breaks = list(self.sun_times(day))
            for local_day in (day - timedelta(days=1), day, day + timedelta(days=1)):
                breaks.extend(datetime.combine(local_day, at, tzinfo=LOCAL_TZ).astimezone(UTC)
                              for at, _ in self.profile)
            self._breaks[day] = breaks
        return breaks

    def _ambient_lux(self, t: datetime) -> float:
        elevation = solar_elevation_deg(t, self.lat, self.lon)
        if self.weather is not None:
            clear = cloud_transmission(self.weather.cloud_cover(t))  # as the irradiance
        else:
            day = t.astimezone(UTC).date()
            if day not in self._cloud:
                self._cloud[day] = self.rng.uniform(0.15, 1.0)  # overcast to clear sky
            clear = self._cloud[day]
        return ambient_lux(elevation, clear)

    # --- commands (contract §1.4) ----------------------------------------------------------
    def handle_command(self, cmd: Command) -> CommandAck:
        """Applies `switch`, `set_dimming` or `set_schedule`; anything else is rejected."""
        now = self.clock or cmd.ts
        if cmd.expires is not None and cmd.expires < now:
            return self.ack(cmd, "rejected", reason="expired",
                            message=f"the command expired at {format_ts(cmd.expires)}")
        handlers: dict[str, Callable[[dict[str, Any], datetime], dict[str, Any]]] = {
            "switch": self._switch, "set_dimming": self._set_dimming,
            "set_schedule": self._set_schedule,
        }
        handler = handlers.get(cmd.type)
        if handler is None:
            return self.ack(cmd, "rejected", reason="unknown_command",
                            message=f"unknown command type {cmd.type!r}; a lighting cabinet "
                            f"takes {', '.join(handlers)}")
        try:
            detail = handler(cmd.params, now)
        except (ValueError, TypeError) as exc:
            return self.ack(cmd, "rejected", reason="invalid_params", message=str(exc))
        level = self.level_at(now)
        return self.ack(cmd, "applied", **detail, output_on=level > 0, dimming_pct=level)

    def _switch(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        on = params.get("on")
        if not isinstance(on, bool):
            raise ValueError("'on' must be true or false")
        # Without `until`, a forced state lasts until the clock's next switching, as a
        # cabinet's manual override does: it never leaves a commune dark (or lit) for good.
        until = self._until(params, now) or self._next_transition(now)
        self.forced = (on, until)
        return {"until": format_ts(until)}

    def _set_dimming(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        level = _level(params.get("level_pct"))
        until = self._until(params, now) or self._next_sunrise(now)
        self.dimming = (level, until)
        return {"until": format_ts(until)}

    def _set_schedule(self, params: dict[str, Any], now: datetime) -> dict[str, Any]:
        steps = params.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ValueError("'steps' must be a non-empty list of {\"at\", \"level_pct\"}")
        schedule = []
        for step in steps:
            if not isinstance(step, dict):
                raise ValueError("each step must be an object {\"at\", \"level_pct\"}")
            schedule.append((parse_ts(step.get("at")), _level(step.get("level_pct"))))
        self.schedule_steps = sorted(schedule)
        return {"steps": len(schedule)}

    @staticmethod
    def _until(params: dict[str, Any], now: datetime) -> datetime | None:
        if params.get("until") is None:
            return None
        until = parse_ts(params["until"])
        if until <= now:
            raise ValueError(f"'until' ({format_ts(until)}) is not in the future")
        return until

    def _next_transition(self, now: datetime) -> datetime:
        day = now.astimezone(UTC).date()
        times = [*self.sun_times(day), *self.sun_times(day + timedelta(days=1))]
        return min(x for x in times if x > now)

    def _next_sunrise(self, now: datetime) -> datetime:
        day = now.astimezone(UTC).date()
        sunrise = self.sun_times(day)[0]
        return sunrise if sunrise > now else self.sun_times(day + timedelta(days=1))[0]


def _level(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError(f"'level_pct' must be a number from 0 to 100, got {value!r}")
    return round(value)
