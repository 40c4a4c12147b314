"""Pictures of a simulated period, one per family, computed in-process from the simulator
objects (no broker, no database): what an engineer looks at to judge the physics.

Each picture runs the scenario's territory over its own period with one fault placed for
it (the scenario's generated faults are left out, so that the picture shows one thing),
and marks the fault from the ground-truth labels, as analytics would be scored against:

- `sim-leak-noise.png`: night noise of the nearest and farthest loggers of a metal and of a
  plastic main, around a leak's onset and repair;
- `sim-lighting-night.png`: a cabinet's power over one night, its dimming steps, a lamp failure;
- `sim-building-heating.png`: a school's daily gas against degree days over a heating season;
- `sim-flood-level.png`: a river gauge through an intense rain episode, with its thresholds.

    python -m devices.simulators.plots --scenario default --out docs/images
    phare simulate --scenario default --plot docs/images
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from devices.catalogue import Channel
from devices.messages import Reading

from .base import LOCAL_TZ, SimDevice
from .building import BuildingMeter
from .hazard import HazardDetector
from .labels import Label
from .leaks import METAL
from .lighting import LightingCabinet
from .scenario import FaultsSpec, Scenario, ScheduledFault, load
from .simulate import Simulation, prepare
from .water import AcousticLeakSensor
from .weather import HEATING_BASE_C

# The periods drawn (local dates): a winter for the leaks and the night, a heating season,
# an autumn rain episode (the Massif central's "épisodes cévenols" come in October-November).
LEAK_START = date(2026, 1, 5)
LEAK_DAYS = 60
NIGHT = date(2026, 1, 14)
SEASON_START, SEASON_END = date(2025, 10, 1), date(2026, 5, 16)  # boilers stop on 16 May
FLOOD_START = date(2025, 11, 10)
LEAK_FLOW_M3H = 0.8  # a 3-4 mm crack under 5 bar
DEFAULT_STORM_MM, DEFAULT_STORM_H = 95.0, 12.0
DPI = 110
COLOURS = {"near": "#1f77b4", "far": "#ff7f0e", "fault": "#d62728", "yellow": "#e6b800",
           "orange": "#ff7f0e", "red": "#d62728"}
NAMES = ("sim-leak-noise.png", "sim-lighting-night.png", "sim-building-heating.png",
         "sim-flood-level.png")


# --- running a piece of territory ------------------------------------------------------------
def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def _with_faults(scenario: Scenario, faults: list[ScheduledFault]) -> Scenario:
    """The scenario with only these faults (scheduled, the generator off)."""
    return scenario.model_copy(update={"faults": FaultsSpec(scheduled=faults)})


def _run(sim: Simulation, devices: Sequence[SimDevice], start: datetime, end: datetime,
         step: timedelta) -> dict[str, list[Reading]]:
    """The readings each device publishes from start to end, by device id (no broker)."""
    out: dict[str, list[Reading]] = {d.device_id: [] for d in devices}
    t = start
    while t <= end:
        for d in devices:
            for channel, item in d.step(t):
                if channel is Channel.TELEMETRY:
                    items = item if isinstance(item, list) else [item]
                    out[d.device_id].extend(r for r in items if isinstance(r, Reading))
        t += step
    return out


def _series(readings: list[Reading], metric: str) -> tuple[list[datetime], list[float]]:
    pairs = [(r.ts, float(r.metrics[metric])) for r in readings if metric in r.metrics]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _figure(width: float = 10.0, height: float = 4.8) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig


def _mark(ax: Axes, label: Label, text: str, *, until: datetime,
          repair: str = "réparation") -> None:
    """A fault's span from its ground-truth label: shaded, onset and end drawn."""
    end = label.end or until
    ax.axvspan(label.start, end, color=COLOURS["fault"], alpha=0.08, lw=0)
    ax.axvline(label.start, color=COLOURS["fault"], ls="--", lw=1.2)
    ax.annotate(text, (label.start, 1.0), xycoords=("data", "axes fraction"),
                xytext=(4, -4), textcoords="offset points", va="top", fontsize=8,
                color=COLOURS["fault"])
    if label.end is not None and label.end <= until:
        ax.axvline(label.end, color="#2ca02c", ls="--", lw=1.2)
        ax.annotate(repair, (label.end, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(4, -4), textcoords="offset points", va="top", fontsize=8,
                    color="#2ca02c")


def _day_axis(ax: Axes) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m", tz=LOCAL_TZ))
    ax.grid(True, alpha=0.3)


def _first_gap(pipe: Any) -> float:
    positions = sorted(s.at_m for s in pipe.sensors)
    return positions[1] - positions[0]


# --- (a) leak noise ------------------------------------------------------------------------
def draw_leak_noise(scenario: Scenario, out: Path, *, seed: int | None = None,
                    days: float | None = None) -> Path:
    """Night noise (`noise_min_db`) of the nearest and farthest loggers of a metal and of a
    plastic main, around a leak's onset and repair."""
    span = days if days is not None else LEAK_DAYS
    pipes = []
    for metal in (True, False):
        fits = [p for p in scenario.water.pipes
                if (p.material in METAL) == metal and len(p.sensors) >= 2]
        if fits:  # the widest spacing between its first two loggers
            pipes.append(max(fits, key=_first_gap))
    if not pipes:
        raise ValueError(f"scenario {scenario.name} has no main with two loggers to draw")
    faults = []
    for p in pipes:
        first = min(s.at_m for s in p.sensors)
        faults.append(ScheduledFault(
            type="water_leak", pipe=p.id, at_m=min(p.length_m, first + 20),
            after_days=round(span * 0.3, 3), duration_days=round(span * 0.4, 3),
            params={"profile": "abrupt", "flow_m3h": LEAK_FLOW_M3H}))
    start = _midnight(LEAK_START)
    end = start + timedelta(days=span)
    sim = prepare(_with_faults(scenario, faults), start, end, seed)
    labels = sim.labels()
    fig = _figure(11.0, 4.8)
    axes = fig.subplots(1, len(pipes), sharey=True, squeeze=False)[0]
    for ax, p, fault in zip(axes, pipes, faults, strict=True):
        assert fault.at_m is not None
        sensors = [d for d in sim.devices if isinstance(d, AcousticLeakSensor)
                   and d.pipe is not None and d.pipe.id == p.id]
        sensors.sort(key=lambda d: abs(d.position_m - fault.at_m))  # type: ignore[operator]
        # The neighbouring logger: the pair a correlator would use, hundreds of metres apart.
        near, far = sensors[0], sensors[1]
        data = _run(sim, [near, far], start, end, timedelta(days=1))
        heard = {x.device_id for x in labels if x.type == "water_leak"
                 and x.params.get("pipe") == p.id and x.params.get("seen_as") == "noise"}
        for role, d in (("near", near), ("far", far)):
            ts, db = _series(data[d.device_id], "noise_min_db")
            distance = abs(d.position_m - fault.at_m)
            status = "étiqueté" if d.device_id in heard else "non étiqueté : inaudible"
            ax.plot(ts, db, marker="o", ms=3, lw=1.2, color=COLOURS[role],
                    label=f"{d.device_id} à {distance:.0f} m ({status})")
        leak = next(x for x in labels if x.type == "water_leak" and x.params.get("pipe") == p.id
                    and x.params.get("seen_as") == "night_flow")
        _mark(ax, leak, f"fuite {LEAK_FLOW_M3H:g} m³/h", until=end)
        ax.set_title(f"{p.id} — {p.material}, DN {p.diameter_mm} "
                     f"({sim.territory.network.pipes[p.id].attenuation_db_per_m:g} dB/m)",
                     fontsize=10)
        ax.set_xlabel("Nuit (jj/mm)")
        _day_axis(ax)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("Bruit minimal de nuit, 02h–04h (dB)")
    fig.suptitle("Fuite sur conduite : bruit de nuit au capteur proche et au capteur voisin",
                 fontsize=11)
    return _save(fig, out / NAMES[0])


# --- (b) a lighting cabinet's night ----------------------------------------------------------
def draw_lighting_night(scenario: Scenario, out: Path, *, seed: int | None = None) -> Path:
    """A cabinet's power over one night with its dimming steps, and a lamp failing."""
    dimmed = [c for c in scenario.lighting
              if c.profile is None or min(level for _, level in c.profile) < 100]
    if not dimmed:
        raise ValueError(f"scenario {scenario.name} has no dimmed lighting cabinet to draw")
    # The fewest luminaires: one lamp out is a visible step.
    spec = min(dimmed, key=lambda c: (sum(x.luminaires for x in c.circuits), c.tenant, c.id))
    start = datetime.combine(NIGHT, time(14), tzinfo=LOCAL_TZ).astimezone(UTC)
    end = start + timedelta(hours=22)
    failure_at = datetime.combine(NIGHT, time(20, 40), tzinfo=LOCAL_TZ).astimezone(UTC)
    fault = ScheduledFault(type="lamp_failure", device=f"{spec.tenant}/{spec.id}",
                           after_days=(failure_at - start) / timedelta(days=1),
                           duration_days=5)
    sim = prepare(_with_faults(scenario, [fault]), start, end, seed)
    cabinet = sim.territory.device(f"{spec.tenant}/{spec.id}")
    assert isinstance(cabinet, LightingCabinet)
    readings = _run(sim, [cabinet], start, end, timedelta(minutes=10))[cabinet.device_id]
    ts, power = _series(readings, "power_w")
    _, level = _series(readings, "dimming_pct")
    fig = _figure()
    ax = fig.subplots()
    ax.plot(ts, power, drawstyle="steps-post", color=COLOURS["near"], lw=1.5,
            label="Puissance active mesurée")
    for pct in sorted({lv for _, lv in cabinet.profile}):
        ax.axhline(cabinet.nominal_power_w(pct), color="grey", lw=0.8, ls=":")
        ax.annotate(f"nominal {pct} %", (ts[0], cabinet.nominal_power_w(pct)), fontsize=8,
                    xytext=(2, 2), textcoords="offset points", color="grey")
    twin = ax.twinx()
    twin.plot(ts, level, drawstyle="steps-post", color="#9467bd", lw=1, alpha=0.7,
              label="Gradation commandée")
    twin.set_ylabel("Gradation (%)", color="#9467bd")
    twin.set_ylim(0, 112)
    sunrise = cabinet.sun_times((end - timedelta(hours=1)).date())[0]
    sunset = cabinet.sun_times(start.date())[1]
    for at, text in ((sunset, "coucher du soleil"), (sunrise, "lever du soleil")):
        ax.axvline(at, color="black", lw=0.8, alpha=0.5)
        ax.annotate(text, (at, 0.02), xycoords=("data", "axes fraction"), rotation=90,
                    fontsize=8, xytext=(-10, 0), textcoords="offset points", va="bottom")
    label = next(x for x in sim.labels() if x.type == "lamp_failure")
    circuit = next(c for c in cabinet.circuits if c.name == label.params["circuit"])
    _mark(ax, label, f"lampe HS ({circuit.name}, −{circuit.watts:g} W)", until=end)
    ax.set_ylabel("Puissance (W)")
    ax.set_xlabel(f"Heure locale, nuit du {NIGHT:%d/%m/%Y}")
    ax.set_ylim(0, cabinet.nominal_power_w(100) * 1.25)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Hh", tz=LOCAL_TZ))
    ax.xaxis.set_major_locator(mdates.HourLocator(interval=2, tz=LOCAL_TZ))
    ax.grid(True, alpha=0.3)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper right")
    ax.set_title(f"{cabinet.name} ({cabinet.luminaires} luminaires LED, "
                 f"{cabinet.installed_w:.0f} W installés)", fontsize=10)
    return _save(fig, out / NAMES[1])


# --- (c) a building's heating season ---------------------------------------------------------
def draw_building_heating(scenario: Scenario, out: Path, *, seed: int | None = None,
                          days: float | None = None) -> Path:
    """A gas-heated school's daily gas against heating degree days over a season."""
    fits = [b for b in scenario.buildings if b.heating == "gaz"]
    if not fits:
        raise ValueError(f"scenario {scenario.name} has no gas-heated building to draw")
    spec = next((b for b in fits if b.use == "ecole"), fits[0])
    last = SEASON_END if days is None else SEASON_START + timedelta(days=max(2, round(days)))
    start, end = _midnight(SEASON_START), _midnight(last)
    sim = prepare(_with_faults(scenario, []), start, end, seed)
    meter = sim.territory.device(f"{spec.tenant}/{spec.id}")
    assert isinstance(meter, BuildingMeter)
    readings = _run(sim, [meter], start, end, timedelta(hours=6))[meter.device_id]
    index = dict(zip(*_series(readings, "gas_kwh"), strict=True))
    day_list: list[date] = []
    energy: list[float] = []
    dju: list[float] = []
    closed: list[bool] = []
    day = SEASON_START
    while day < last:
        a, b = _midnight(day), _midnight(day + timedelta(days=1))
        if a in index and b in index:
            day_list.append(day)
            energy.append(index[b] - index[a])
            noon = datetime.combine(day, time(12), tzinfo=LOCAL_TZ)
            dju.append(sum(max(0.0, HEATING_BASE_C - sim.territory.weather.temperature(
                a + timedelta(hours=h + 0.5), meter.altitude_m)) for h in range(24)) / 24)
            closed.append(meter.heating_mode(noon) != "comfort")
        day += timedelta(days=1)
    fig = _figure(11.0, 5.2)
    ax, sig = fig.subplots(1, 2, width_ratios=(2.3, 1))
    x = [datetime.combine(d, time(12), tzinfo=LOCAL_TZ) for d in day_list]
    ax.bar(x, energy, width=0.9, color=["#aec7e8" if c else COLOURS["near"] for c in closed],
           label="Gaz consommé (chauffage + ECS)")
    for h in sim.territory.calendar.periods(SEASON_START, last):
        ax.axvspan(datetime.combine(h.first, time(0), tzinfo=LOCAL_TZ),
                   datetime.combine(h.resume, time(0), tzinfo=LOCAL_TZ),
                   color="grey", alpha=0.12, lw=0)
        ax.annotate(h.name, (datetime.combine(h.first, time(0), tzinfo=LOCAL_TZ), 1.0),
                    xycoords=("data", "axes fraction"), xytext=(2, -2),
                    textcoords="offset points", va="top", fontsize=7, color="dimgrey",
                    rotation=90)
    twin = ax.twinx()
    twin.plot(x, dju, color=COLOURS["far"], lw=1.2, label=f"DJU (base {HEATING_BASE_C:g} °C)")
    twin.set_ylabel("Degrés-jours unifiés (°C·j)", color=COLOURS["far"])
    twin.set_ylim(0, max(dju + [1]) * 1.6)
    ax.set_ylabel("Gaz (kWh/jour)")
    ax.set_xlabel("Jour (jj/mm) — barres claires : week-ends, vacances, fériés (réduit/hors-gel)")
    ax.set_ylim(0, max(energy + [1]) * 1.15)
    _day_axis(ax)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left",
              bbox_to_anchor=(0.02, 0.9))
    ax.set_title(f"{meter.name} — {meter.area_m2} m², chaudière gaz", fontsize=10)
    for flag, colour, text in ((False, COLOURS["near"], "jours de classe"),
                               (True, "#aec7e8", "fermé / réduit")):
        pts = [(d, e) for d, e, c in zip(dju, energy, closed, strict=True) if c == flag]
        if pts:
            sig.scatter([p[0] for p in pts], [p[1] for p in pts], s=10, color=colour,
                        label=text, edgecolors="none" if flag else None)
    sig.set_xlabel("DJU du jour (°C·j)")
    sig.set_ylabel("Gaz (kWh/jour)")
    sig.set_title("Signature énergétique", fontsize=10)
    sig.grid(True, alpha=0.3)
    sig.legend(fontsize=8)
    return _save(fig, out / NAMES[2])


# --- (d) a flood ------------------------------------------------------------------------------
def draw_flood_level(scenario: Scenario, out: Path, *, seed: int | None = None) -> Path:
    """A river gauge through an intense rain episode, against its vigilance thresholds."""
    gauges = [(r, g) for r in scenario.hazards.rivers for g in r.gauges]
    if not gauges:
        raise ValueError(f"scenario {scenario.name} has no river gauge to draw")
    river, spec = gauges[0]
    # The scenario's own rain episode when it schedules one, else a 95 mm one.
    storm = next((f for f in scenario.faults.scheduled if f.type == "flood"), None)
    mm = float(storm.params.get("mm", DEFAULT_STORM_MM)) if storm else DEFAULT_STORM_MM
    hours = storm.duration_days * 24 if storm and storm.duration_days else DEFAULT_STORM_H
    start = _midnight(FLOOD_START)
    end = start + timedelta(days=4)
    fault = ScheduledFault(type="flood", after_days=1.25, duration_days=hours / 24,
                           params={"mm": mm})
    sim = prepare(_with_faults(scenario, [fault]), start, end, seed)
    gauge = sim.territory.device(f"{spec.tenant}/{spec.id}")
    assert isinstance(gauge, HazardDetector) and gauge.gauge is not None
    readings = _run(sim, [gauge], start, end, timedelta(minutes=5))[gauge.device_id]
    ts, level = _series(readings, "water_level_cm")
    fig = _figure()
    ax = fig.subplots()
    ax.plot(ts, level, color=COLOURS["near"], lw=1.5, label="Hauteur d'eau mesurée")
    th = gauge.gauge.thresholds
    names = {"yellow": "vigilance jaune", "orange": "vigilance orange", "red": "vigilance rouge"}
    for key, value in (("yellow", th.yellow), ("orange", th.orange), ("red", th.red)):
        ax.axhline(value, color=COLOURS[key], lw=1.5, ls="--",
                   label=f"{names[key]} : {value:g} cm")
    flood = [x for x in sim.labels(until=end) if x.type == "flood"
             and (x.tenant, x.device_id) == (gauge.tenant, gauge.device_id)]
    colours_fr = {"yellow": "jaune", "orange": "orange", "red": "rouge"}
    for i, x in enumerate(flood):  # a shower on the recession may re-cross yellow: a 2nd label
        crossed = ", ".join(colours_fr[c] for c in x.params["thresholds_crossed"])
        _mark(ax, x, f"crue (étiquette : {crossed})" if i == 0 else "", until=end,
              repair="" if i < len(flood) - 1 else "fin")
    rain_t = [start + timedelta(minutes=30 * i) for i in range(4 * 48)]
    rain = [sim.territory.weather.rain_mm_h(t) for t in rain_t]
    twin = ax.twinx()
    twin.bar(rain_t, rain, width=1 / 48, color="#17becf", alpha=0.6, label="Pluie")
    twin.set_ylim(max(rain + [1]) * 3, 0)  # a hyetograph hangs from the top
    twin.set_ylabel("Pluie (mm/h)", color="#17becf")
    ax.set_ylim(0, max(max(level), th.red) * 1.15)
    ax.set_ylabel("Hauteur d'eau (cm)")
    ax.set_xlabel("Date et heure locale (jj/mm hh h)")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d/%m %Hh", tz=LOCAL_TZ))
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=(0, 12), tz=LOCAL_TZ))
    ax.grid(True, alpha=0.3)
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="center right")
    ax.set_title(f"{gauge.name} — épisode pluvieux de {mm:g} mm en {hours:g} h "
                 f"(réponse du bassin {river.response_h:g} h)", fontsize=10)
    return _save(fig, out / NAMES[3])


# --- all of them ------------------------------------------------------------------------------
def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def draw_all(scenario: str | Scenario = "default", out: Path = Path("docs/images"), *,
             seed: int | None = None, days: float | None = None) -> list[Path]:
    """The four pictures of a scenario into `out`; `days` shortens the leak and heating
    periods (tests)."""
    sc = load(scenario) if isinstance(scenario, str) else scenario
    return [draw_leak_noise(sc, out, seed=seed, days=days),
            draw_lighting_night(sc, out, seed=seed),
            draw_building_heating(sc, out, seed=seed, days=days),
            draw_flood_level(sc, out, seed=seed)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenario", default="default",
                        help="default, a YAML file, or large:N")
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--days", type=float, default=None,
                        help="shorten the leak and heating periods to this many days")
    args: Any = parser.parse_args(argv)
    for path in draw_all(args.scenario, args.out, seed=args.seed, days=args.days):
        print(path)


if __name__ == "__main__":
    main()
