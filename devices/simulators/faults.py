"""The faults of a run: drawn by a seeded generator at the rates a scenario sets, plus the
ones it schedules; then injected into the devices, the water network and the weather.

Each fault type has a maker that draws what the scenario leaves out (when, how long, which
circuit, how big a leak…) with plausible distributions, named below. `tamper` is injected
like a fault but is no fault: it gets no label (see `labels.py`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from .base import LOCAL_TZ, OUTAGE_FAULTS, Fault, SimDevice
from .building import BuildingMeter, heating_season
from .errors import ScenarioError
from .hazard import HazardDetector, fire_timeline
from .leaks import Leak, orifice_flow_m3h
from .lighting import LightingCabinet
from .scenario import ScheduledFault
from .territory import Territory
from .water import AcousticLeakSensor, WaterFlowMeter
from .weather import Rain

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
# BattLeDIM (L-Town, 2019) had 14 incipient leaks for 9 abrupt ones.
INCIPIENT_SHARE = 0.6
FALSE_ALARM_CAUSES = ("fumée de cuisson", "vapeur de douche", "poussière de travaux",
                      "insecte dans la chambre de détection")
OFFLINE_CAUSES = ("passerelle LoRaWAN hors service", "perte de couverture réseau",
                  "antenne endommagée")
BASELOAD_CAUSES = ("ventilation laissée en marche", "chauffage d'appoint oublié",
                   "éclairage du gymnase resté allumé", "serveur ajouté")


@dataclass
class Plan:
    """What a run injects: faults of devices, leaks of mains, storms of the weather."""

    start: datetime
    end: datetime
    faults: list[tuple[SimDevice, Fault]] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    storms: list[Rain] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # type -> draws with no fitting place


@dataclass(frozen=True, slots=True)
class _Ask:
    """What the scenario fixes of one fault (None: drawn)."""

    device: SimDevice | None = None
    start: datetime | None = None
    duration: timedelta | None = None
    open_ended: bool = False  # a scheduled fault without duration: not repaired in the run
    params: dict[str, Any] = field(default_factory=dict)
    pipe: str | None = None
    at_m: float | None = None


Maker = Callable[["_Context", random.Random, _Ask], None]


class _Context:
    def __init__(self, territory: Territory, plan: Plan) -> None:
        self.territory = territory
        self.plan = plan
        self.phases: dict[str, float] = {}

    def devices(self, cls: type[SimDevice], where: Callable[[Any], bool] | None = None
                ) -> list[Any]:
        return [d for d in self.territory.devices
                if isinstance(d, cls) and (where is None or where(d))]

    def when(self, rng: random.Random, ask: _Ask, *, margin: timedelta = HOUR) -> datetime:
        """The fault's start: asked, or uniform over the period (ending `margin` before it)."""
        if ask.start is not None:
            return ask.start
        span = max(0.0, (self.plan.end - self.plan.start - margin).total_seconds())
        return self.plan.start + timedelta(seconds=rng.uniform(0, span))

    def end(self, ask: _Ask, start: datetime, drawn: timedelta) -> datetime | None:
        if ask.open_ended:
            return None
        return start + (ask.duration if ask.duration is not None else drawn)

    def phase(self, kind: str, rng: random.Random) -> float:
        """A random offset drawn once per plan and type, for stratified choices."""
        if kind not in self.phases:
            self.phases[kind] = rng.random()
        return self.phases[kind]

    def add(self, device: SimDevice, fault: Fault) -> None:
        self.plan.faults.append((device, Fault(fault.type, _second(fault.start),
                                               _second(fault.end), fault.params)))

    def outage_free(self, device: SimDevice, start: datetime, end: datetime | None) -> bool:
        last = end or datetime.max.replace(tzinfo=UTC)
        return not any(f.type in OUTAGE_FAULTS and d is device and f.start < last
                       and (f.end is None or start < f.end) for d, f in self.plan.faults)


def _pick(rng: random.Random, ask: _Ask, candidates: list[Any], kind: str) -> Any | None:
    if ask.device is not None:
        if ask.device not in candidates:
            raise ScenarioError(f"{ask.device.tenant}/{ask.device.device_id} cannot have a "
                                f"{kind} fault")
        return ask.device
    return rng.choice(candidates) if candidates else None


def _days(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(days=rng.uniform(low, high))


def _log_uniform_hours(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(hours=math.exp(rng.uniform(math.log(low), math.log(high))))


@overload
def _second(t: datetime) -> datetime: ...


@overload
def _second(t: None) -> None: ...


def _second(t: datetime | None) -> datetime | None:
    """Fault times to the second: labels are read by people too."""
    return None if t is None else t.replace(microsecond=0)


def _at_local_hour(t: datetime, hour: float) -> datetime:
    local = t.astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return (local + timedelta(hours=hour)).astimezone(UTC)


# --- lighting ------------------------------------------------------------------------------
def _lamp_failure(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    cabinet = _pick(rng, ask, ctx.devices(LightingCabinet), "lamp_failure")
    if cabinet is None:
        return
    # LED drivers die when switched on: the failure shows at dusk.
    day = ctx.when(rng, ask, margin=DAY)
    start = ask.start or cabinet.sun_times(day.date())[1] + timedelta(minutes=rng.uniform(0, 30))
    circuit = rng.choices(cabinet.circuits, weights=[c.luminaires for c in cabinet.circuits])[0]
    params = {"circuit": circuit.name, "phase": circuit.phase, "luminaire_w": circuit.watts,
              **ask.params}
    # The maintenance contract: a lamp out is replaced within days to two weeks.
    ctx.add(cabinet, Fault("lamp_failure", start, ctx.end(ask, start, _days(rng, 2, 15)), params))


def _breaker_trip(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    cabinet = _pick(rng, ask, ctx.devices(LightingCabinet), "breaker_trip")
    if cabinet is None:
        return
    day = ctx.when(rng, ask, margin=DAY)
    # A fault to earth on a wet night trips a phase's breaker; reset the next working day.
    start = ask.start or cabinet.sun_times(day.date())[1] + timedelta(hours=rng.uniform(0.2, 9))
    phase = rng.choice(sorted({c.phase for c in cabinet.circuits}))
    circuits = [c.name for c in cabinet.circuits if c.phase == phase]
    params = {"phase": phase, "circuits": circuits, "cause": "défaut d'isolement", **ask.params}
    ctx.add(cabinet, Fault("breaker_trip", start,
                           ctx.end(ask, start, timedelta(hours=rng.uniform(8, 60))), params))


def _door_open(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    cabinet = _pick(rng, ask, ctx.devices(LightingCabinet), "door_open")
    if cabinet is None:
        return
    t = ctx.when(rng, ask, margin=DAY)
    if rng.random() < 0.6:  # a maintenance visit, in working hours
        start = ask.start or _at_local_hour(t, rng.uniform(8, 16.5))
        params, duration = {"cause": "intervention"}, timedelta(minutes=rng.uniform(20, 90))
    else:  # forced or left open: found by the next patrol
        start = ask.start or _at_local_hour(t, rng.uniform(19, 23.5))
        params, duration = {"cause": "effraction"}, timedelta(hours=rng.uniform(0.2, 14))
    ctx.add(cabinet, Fault("door_open", start, ctx.end(ask, start, duration),
                           {**params, **ask.params}))


def _driver_stuck(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    dimmed = ctx.devices(LightingCabinet, lambda c: min(level for _, level in c.profile) < 100)
    cabinet = _pick(rng, ask, dimmed, "driver_stuck")
    if cabinet is None:
        return
    start = ctx.when(rng, ask, margin=DAY)
    ctx.add(cabinet, Fault("driver_stuck", start, ctx.end(ask, start, _days(rng, 4, 30)),
                           {"stuck_at_pct": 100, **ask.params}))


def _daytime_burning(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    cabinet = _pick(rng, ask, ctx.devices(LightingCabinet), "daytime_burning")
    if cabinet is None:
        return
    day = ctx.when(rng, ask, margin=DAY)
    # The astronomical clock loses its time: the morning switch-off does not happen.
    start = ask.start or cabinet.sun_times(day.date())[0]
    ctx.add(cabinet, Fault("daytime_burning", start, ctx.end(ask, start, _days(rng, 1, 10)),
                           {"cause": "horloge astronomique déréglée", **ask.params}))


def _power_loss(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    for _ in range(10):  # another place if it overlaps an outage of that device
        cabinet = _pick(rng, ask, ctx.devices(LightingCabinet), "power_loss")
        if cabinet is None:
            return
        start = ctx.when(rng, ask, margin=12 * HOUR)
        end = ctx.end(ask, start, _log_uniform_hours(rng, 0.5, 12))
        if ctx.outage_free(cabinet, start, end):
            ctx.add(cabinet, Fault("power_loss", start, end,
                                   {"cause": "coupure du réseau de distribution", **ask.params}))
            return


# --- water ---------------------------------------------------------------------------------
def _water_leak(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    network = ctx.territory.network
    pipes = list(network.pipes.values())
    if not pipes:
        return
    if ask.pipe is not None:
        pipe = network.pipes[ask.pipe]
    else:
        pipe = rng.choices(pipes, weights=[p.length_m for p in pipes])[0]  # longer, more leaks
    position = ask.at_m if ask.at_m is not None else rng.uniform(0, pipe.length_m)
    meter = ctx.territory.by_key[(pipe.tenant, pipe.district)]
    assert isinstance(meter, WaterFlowMeter)
    start = ctx.when(rng, ask, margin=3 * DAY)
    p = dict(ask.params)
    # Stratified rather than independent draws: any few leaks mix both kinds in proportion.
    i, phase = len(ctx.plan.leaks), ctx.phase("water_leak", rng)
    incipient = math.floor((i + 1) * INCIPIENT_SHARE + phase) > math.floor(i * INCIPIENT_SHARE + phase)
    profile = p.get("profile") or ("incipient" if incipient else "abrupt")
    if profile not in ("incipient", "abrupt"):
        raise ScenarioError(f"water_leak profile must be incipient or abrupt, not {profile!r}")
    if profile == "incipient":
        # A crack that opens over days to weeks, to 2-7 mm (0.2-2 m³/h).
        peak_at = start + timedelta(days=p.get("peak_after_days", rng.uniform(5, 30)))
        drawn_flow = orifice_flow_m3h(rng.uniform(2.0, 7.0), meter.static_bar)
        repair = _days(rng, 3, 20) if rng.random() < 0.5 else None
        end = None if repair is None else peak_at + repair
    else:
        # A burst or a failed joint, 4-10 mm: found and repaired within days to weeks.
        peak_at = start
        drawn_flow = orifice_flow_m3h(rng.uniform(4.0, 10.0), meter.static_bar)
        end = start + _days(rng, 2, 20)
    if ask.duration is not None or ask.open_ended:
        end = ctx.end(ask, start, timedelta(0))
    flow = float(p.get("flow_m3h", drawn_flow))
    leak = Leak(f"fuite-{len(ctx.plan.leaks) + 1:03d}", pipe, round(position, 1), _second(start),
                _second(end), profile, _second(peak_at), round(flow, 3))
    ctx.plan.leaks.append(leak)


# --- hazards -------------------------------------------------------------------------------
def _smoke_detectors(ctx: _Context) -> list[HazardDetector]:
    return ctx.devices(HazardDetector, lambda d: d.variant == "smoke")


def _fire(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    detector = _pick(rng, ask, _smoke_detectors(ctx), "fire")
    if detector is None:
        return
    start = ctx.when(rng, ask, margin=2 * HOUR)
    smoulder = rng.uniform(5, 20)
    params = {"room": detector.metadata.get("room"), "smoulder_min": round(smoulder, 1),
              "smoulder_rate": round(rng.uniform(0.15, 0.4), 2),
              "flaming_min": round(rng.uniform(8, 25), 1),
              "flame_rate": round(rng.uniform(3, 15), 1),
              "alarm_after_min": round(smoulder * rng.uniform(0.4, 0.9), 1), **ask.params}
    line = fire_timeline(start, params, detector.indoor_c)
    params.update(peak_c=round(line["peak_c"], 1), alarm_at=line["alarm_at"],
                  heat_alarm=line["heat_at"] is not None)
    ctx.add(detector, Fault("fire", start, line["smoke_clear"], params))


def _false_alarm(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    detector = _pick(rng, ask, _smoke_detectors(ctx), "false_alarm")
    if detector is None:
        return
    t = ctx.when(rng, ask, margin=DAY)
    start = ask.start or _at_local_hour(t, rng.uniform(7, 20))  # when people are about
    params = {"room": detector.metadata.get("room"), "cause": rng.choice(FALSE_ALARM_CAUSES),
              **ask.params}
    ctx.add(detector, Fault("false_alarm", start,
                            ctx.end(ask, start, timedelta(minutes=rng.uniform(1, 5))), params))


def _tamper(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    candidates = ctx.devices(HazardDetector) + ctx.devices(AcousticLeakSensor)
    device = _pick(rng, ask, candidates, "tamper")
    if device is None:
        return
    start = ctx.when(rng, ask)
    cause = "capot ouvert" if isinstance(device, HazardDetector) else "tampon de regard soulevé"
    ctx.add(device, Fault("tamper", start,
                          ctx.end(ask, start, timedelta(minutes=rng.uniform(2, 30))),
                          {"cause": cause, **ask.params}))


def _flood(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    """An intense rain episode over the territory (40-120 mm in 6-18 h, the autumn
    'épisodes pluvieux' of the Massif central): gauges and low points flood by physics."""
    start = ctx.when(rng, ask, margin=DAY)
    hours = ask.duration.total_seconds() / 3600 if ask.duration else rng.uniform(6, 18)
    total_mm = float(ask.params.get("mm", rng.uniform(40, 120)))
    ctx.plan.storms.append(Rain(_second(start), _second(start + timedelta(hours=hours)),
                                total_mm / hours, "épisode pluvieux intense"))


# --- buildings -----------------------------------------------------------------------------
def _heating_on_holiday(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    """Heating left in comfort over a closure: school holidays for a school when the period
    has some in the heating season, otherwise a weekend."""
    plan, calendar = ctx.plan, ctx.territory.calendar
    buildings = ctx.devices(BuildingMeter)
    if ask.start is not None:
        building = _pick(rng, ask, buildings, "heating_on_holiday")
        if building is None:
            return
        ctx.add(building, Fault("heating_on_holiday", ask.start,
                                ctx.end(ask, ask.start, _days(rng, 2, 9)),
                                {"closure": ask.params.get("closure", "programmée"),
                                 **ask.params}))
        return
    closures: list[tuple[datetime, datetime, str, bool]] = []  # start, end, name, school only
    for h in calendar.periods(plan.start.date(), plan.end.date()):
        a = datetime.combine(h.first, datetime.min.time(), tzinfo=LOCAL_TZ).astimezone(UTC)
        b = datetime.combine(h.resume, datetime.min.time(), tzinfo=LOCAL_TZ).astimezone(UTC)
        if a >= plan.start and heating_season(a):
            closures.append((a, min(b, plan.end), h.name, True))
    day = plan.start
    while day + 3 * DAY <= plan.end:
        local = day.astimezone(LOCAL_TZ)
        if local.weekday() == 4 and heating_season(day):  # Friday evening to Monday morning
            a = _at_local_hour(day, 19)
            closures.append((a, a + timedelta(hours=60), "week-end", False))
        day += DAY
    rng.shuffle(closures)
    for a, b, name, school_only in closures:
        fits = [x for x in buildings if not school_only or x.usage.school_holidays == 0]
        building = _pick(rng, ask, fits, "heating_on_holiday") if fits else None
        taken = any(f.type == "heating_on_holiday" and d is building and f.start < b
                    and (f.end is None or a < f.end) for d, f in plan.faults)
        if building is not None and not taken:
            ctx.add(building, Fault("heating_on_holiday", a, b, {"closure": name, **ask.params}))
            return
    plan.skipped["heating_on_holiday"] = plan.skipped.get("heating_on_holiday", 0) + 1


def _baseload_step(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    building = _pick(rng, ask, ctx.devices(BuildingMeter), "baseload_step")
    if building is None:
        return
    start = ctx.when(rng, ask, margin=DAY)
    params = {"extra_w": round(building.area_m2 * rng.uniform(1.5, 5.0)),  # 1-10 kW
              "cause": rng.choice(BASELOAD_CAUSES), **ask.params}
    ctx.add(building, Fault("baseload_step", start, ctx.end(ask, start, _days(rng, 3, 20)),
                            params))


def _night_water_leak(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    building = _pick(rng, ask, ctx.devices(BuildingMeter), "night_water_leak")
    if building is None:
        return
    start = ctx.when(rng, ask, margin=DAY)
    # A running cistern or a dripping valve: 15-150 litres an hour, day and night.
    params = {"flow_l_h": round(rng.uniform(15, 150), 1), **ask.params}
    ctx.add(building, Fault("night_water_leak", start, ctx.end(ask, start, _days(rng, 2, 15)),
                            params))


def _meter_freeze(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    building = _pick(rng, ask, ctx.devices(BuildingMeter), "meter_freeze")
    if building is None:
        return
    start = ctx.when(rng, ask, margin=DAY)
    ctx.add(building, Fault("meter_freeze", start, ctx.end(ask, start, _days(rng, 1, 7)),
                            {"cause": "liaison compteur perdue", **ask.params}))


# --- any device ----------------------------------------------------------------------------
def _offline(ctx: _Context, rng: random.Random, ask: _Ask) -> None:
    for _ in range(10):
        device = ask.device or rng.choice(ctx.territory.devices)
        # From a gateway reboot (an hour) to a dead gateway replaced (three days).
        start = ctx.when(rng, ask, margin=3 * HOUR)
        end = ctx.end(ask, start, _log_uniform_hours(rng, 1, 72))
        if ctx.outage_free(device, start, end):
            ctx.add(device, Fault("offline", start, end,
                                  {"cause": rng.choice(OFFLINE_CAUSES), **ask.params}))
            return


MAKERS: dict[str, Maker] = {
    "water_leak": _water_leak, "lamp_failure": _lamp_failure, "breaker_trip": _breaker_trip,
    "door_open": _door_open, "driver_stuck": _driver_stuck, "daytime_burning": _daytime_burning,
    "power_loss": _power_loss, "fire": _fire, "false_alarm": _false_alarm, "flood": _flood,
    "heating_on_holiday": _heating_on_holiday, "baseload_step": _baseload_step,
    "night_water_leak": _night_water_leak, "meter_freeze": _meter_freeze, "offline": _offline,
    "tamper": _tamper,
}


def plan_faults(territory: Territory, start: datetime, end: datetime) -> Plan:
    """The faults of a run over [start, end]: the scenario's scheduled ones, then the
    generator's at its rates. The same territory seed and period give the same plan."""
    spec = territory.scenario.faults
    unknown = (spec.per_60_days.keys() | {f.type for f in spec.scheduled}) - MAKERS.keys()
    if unknown:
        raise ScenarioError(f"unknown fault type(s) {', '.join(sorted(unknown))} (known: "
                            f"{', '.join(MAKERS)})")
    plan = Plan(start, end)
    ctx = _Context(territory, plan)
    for i, sf in enumerate(spec.scheduled):
        rng = random.Random(f"{territory.seed}/scheduled/{i}")
        MAKERS[sf.type](ctx, rng, _ask(territory, sf, start))
    days = (end - start) / DAY
    for kind, rate in spec.per_60_days.items():
        rng = random.Random(f"{territory.seed}/faults/{kind}/{start.isoformat()}")
        # Pro rata of the period, the fraction drawn: 60 days give exactly `rate`.
        count = math.floor(rate * days / 60 + rng.random())
        for _ in range(count):
            MAKERS[kind](ctx, rng, _Ask())
    return plan


def _ask(territory: Territory, sf: ScheduledFault, run_start: datetime) -> _Ask:
    return _Ask(device=territory.device(sf.device) if sf.device else None,
                start=run_start + timedelta(days=sf.after_days),
                duration=timedelta(days=sf.duration_days) if sf.duration_days else None,
                open_ended=sf.unrepaired,
                params=dict(sf.params), pipe=sf.pipe, at_m=sf.at_m)


def inject(territory: Territory, plan: Plan) -> None:
    """Puts the plan into the territory, then lets every device prepare for the period."""
    territory.weather.add_storms(plan.storms)
    for leak in plan.leaks:
        territory.network.add_leak(leak)
    for device, fault in plan.faults:
        try:
            device.add_fault(fault)
        except ValueError as exc:
            raise ScenarioError(f"cannot inject {fault.type} into {device.tenant}/"
                                f"{device.device_id}: {exc}") from exc
    for device in territory.devices:
        device.prepare(plan.start, plan.end)
