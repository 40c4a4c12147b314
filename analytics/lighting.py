"""Public lighting: a cabinet's dimming schedule for a night, its regulatory check, its energy.

Pure functions, no database. A night is named by the date of its evening (Europe/Paris). The
schedule starts at sunset (+ `dusk_offset`), ends at sunrise (- `dawn_offset`), both from the
astronomical clock (astral), and follows the commune's `Policy` in local time:

    dusk -> 22:00   100 %      (evening_level)
    22:00 -> 23:00   50 %      (dim_at, dim_level)
    23:00 -> 05:00    0 %      (off_from, off_until), or `safety_level` (30 %) on a cabinet
                               whose metadata says `safety: true` (crossings, stairs...)
    05:00 -> dawn   100 %      (morning_level), when dawn is after 05:00

`dim_at` or `off_from` may be None: no dimming step, no switch-off. With a `dusk_offset`,
the schedule starts with a step at 0 % at sunset, so that a cabinet whose own clock lights at
sunset stays dark until the policy's time.

Dark zones (`DarkZone`: a polygon of [lon, lat] points, GeoJSON order, or any GeoJSON
(Multi)Polygon through `DarkZone.from_geojson`) cap the level of the cabinets inside them, for
the whole night or a window of it; 0 turns them off. A dark zone overrides the safety floor:
it is the commune's deliberate choice for biodiversity.

Regulatory check (`check`): arrêté du 27 décembre 2018 relatif à la prévention, à la réduction
et à la limitation des nuisances lumineuses (NOR TREP1831126A). Its article 1 sorts lighting
into categories a) to g); its article 2 sets when each may be lit. What is encoded here:

- every category: lit no earlier than sunset (art. 2, "allumés au plus tôt au coucher du
  soleil"), which the schedule always respects and the check verifies;
- a) lighting of roads and public spaces for the safety of movement: no switch-off time
  (the technical prescriptions of art. 3 — upward light, colour temperature, flux density —
  concern the luminaires, not the schedule, and are not checked);
- b) heritage lighting, parks and gardens: off at 01:00 at the latest or, for parks and
  gardens with a closing time (`closing` in the cabinet's metadata), one hour after closing;
  we apply the earlier of the two (the stricter reading), and nothing lit again before dawn;
- d) non-residential buildings (façades, shop windows — the "commercial" lighting): off at
  01:00 at the latest, lit again no earlier than 07:00;
- e) car parks attached to an activity: off two hours after the activity ends (`closing`);
  without a closing time the category cannot be checked and passes.

Not encoded: c) outdoor sports, f) events, g) building sites (not run by lighting cabinets of
a commune), the stricter rules of art. 4 (astronomical sites, nature reserves) and prefects'
local orders. A failed check gives its reasons in French, for the officials' pages.
`comply` turns a policy's schedule into one that passes: dark from the category's switch-off
time until its relight time (the regulation wins over the policy and over `safety`).

Measured energy (`measured_energy`): the cabinet's cumulative index (`energy_kwh`), read at
the schedule's first and last step by linear interpolation between the readings around each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from astral import Observer, sun

PARIS = ZoneInfo("Europe/Paris")
LOSSES = 0.05      # cables and drivers upstream of the meter (4-6 % on LED cabinets)
STANDBY_W = 4.0    # the controller and its modem, powered all night even when dark
NOON = time(12, 0)  # a policy time before noon belongs to the morning after the evening


@dataclass(frozen=True, slots=True)
class Step:
    """From `at` (UTC) on, the output is at `level_pct`."""

    at: datetime
    level_pct: int

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "level_pct": self.level_pct}


@dataclass(frozen=True, slots=True)
class Policy:
    """A commune's night dimming policy (local times, levels in %)."""

    dusk_offset: timedelta = timedelta(0)  # switch on this long after sunset
    dawn_offset: timedelta = timedelta(0)  # switch off this long before sunrise
    evening_level: int = 100
    dim_at: time | None = time(22, 0)      # None: no dimming step
    dim_level: int = 50
    off_from: time | None = time(23, 0)    # None: no switch-off
    off_until: time = time(5, 0)
    morning_level: int = 100
    safety_level: int = 30

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Policy:
        """A policy from settings or metadata (times "HH:MM", offsets in minutes)."""
        v = dict(values or {})
        kw: dict[str, Any] = {}
        for name in ("dusk_offset", "dawn_offset"):
            if f"{name}_min" in v:
                kw[name] = timedelta(minutes=float(v[f"{name}_min"]))
        for name in ("dim_at", "off_from", "off_until"):
            if name in v:
                kw[name] = None if v[name] is None else time.fromisoformat(str(v[name]))
        for name in ("evening_level", "dim_level", "morning_level", "safety_level"):
            if name in v:
                kw[name] = int(v[name])
        return cls(**kw)

    def to_json(self) -> dict[str, Any]:
        """The policy as `from_mapping` reads it."""
        def hhmm(t: time | None) -> str | None:
            return None if t is None else t.strftime("%H:%M")

        return {"dusk_offset_min": self.dusk_offset.total_seconds() / 60,
                "dawn_offset_min": self.dawn_offset.total_seconds() / 60,
                "evening_level": self.evening_level, "dim_at": hhmm(self.dim_at),
                "dim_level": self.dim_level, "off_from": hhmm(self.off_from),
                "off_until": hhmm(self.off_until), "morning_level": self.morning_level,
                "safety_level": self.safety_level}

    def problems(self) -> list[tuple[str, str]]:
        """(field, reason) of what makes the policy unusable; empty when it is fine."""
        out: list[tuple[str, str]] = []
        for name in ("dusk_offset", "dawn_offset"):
            minutes = getattr(self, name).total_seconds() / 60
            if not 0 <= minutes <= MAX_OFFSET_MIN:
                out.append((f"{name}_min", f"must be between 0 and {MAX_OFFSET_MIN} minutes "
                            "(lighting starts at sunset at the earliest: arrêté du 27 décembre "
                            "2018, art. 2)" if name == "dusk_offset" else
                            f"must be between 0 and {MAX_OFFSET_MIN} minutes"))
        for name in ("evening_level", "dim_level", "morning_level", "safety_level"):
            if not 0 <= getattr(self, name) <= 100:
                out.append((name, "must be a level between 0 and 100 %"))
        if self.off_from is not None:
            if self.dim_at is not None and _night_order(self.dim_at) >= _night_order(self.off_from):
                out.append(("dim_at", f"dimming at {self.dim_at:%H:%M} comes after the switch-off "
                            f"at {self.off_from:%H:%M}"))
            if _night_order(self.off_until) <= _night_order(self.off_from):
                out.append(("off_until", f"the switch-off must end ({self.off_until:%H:%M}) after "
                            f"it begins ({self.off_from:%H:%M}), the same night"))
        return out


MAX_OFFSET_MIN = 180


def _night_order(t: time) -> float:
    """Hours since noon of the evening: evening times first, then the morning after's."""
    hours = t.hour + t.minute / 60 + t.second / 3600
    return hours - 12 if t >= NOON else hours + 12


@dataclass(frozen=True, slots=True)
class DarkZone:
    """A biodiversity dark zone: cabinets inside are capped at `level_pct` (0: off),
    the whole night or from `start` to `end` (local times)."""

    name: str
    polygon: tuple[tuple[float, float], ...]  # (lon, lat), GeoJSON order, ring open or closed
    level_pct: int = 0
    start: time | None = None
    end: time | None = None
    # More rings: holes of the polygon, and the other parts of a MultiPolygon (even-odd rule).
    rings: tuple[tuple[tuple[float, float], ...], ...] = ()

    def contains(self, lat: float, lon: float) -> bool:
        inside = point_in_polygon(lon, lat, self.polygon)
        for ring in self.rings:
            inside ^= point_in_polygon(lon, lat, ring)
        return inside

    @classmethod
    def from_geojson(cls, name: str, geometry: Mapping[str, Any], *, level_pct: int = 0,
                     start: time | None = None, end: time | None = None) -> DarkZone:
        """From a GeoJSON Polygon or MultiPolygon (parts that do not overlap)."""
        coordinates = geometry["coordinates"]
        polygons = [coordinates] if geometry["type"] == "Polygon" else coordinates
        rings = [tuple((float(p[0]), float(p[1])) for p in ring)
                 for polygon in polygons for ring in polygon]
        return cls(name, rings[0], level_pct, start, end, tuple(rings[1:]))


@dataclass(frozen=True, slots=True)
class Cabinet:
    """What the schedule needs of a cabinet: where it is, what it feeds, its site."""

    lat: float
    lon: float
    luminaires: int
    luminaire_w: float
    safety: bool = False
    category: str = "a"  # arrêté du 27/12/2018, art. 1
    closing: time | None = None  # closing time of a park, end of activity of a car park
    losses: float = LOSSES
    standby_w: float = STANDBY_W

    @property
    def installed_w(self) -> float:
        return self.luminaires * self.luminaire_w

    @classmethod
    def from_metadata(cls, lat: float, lon: float, metadata: Mapping[str, Any]) -> Cabinet:
        """From a registered cabinet's metadata (what the simulator and the installer set)."""
        circuits = metadata.get("circuits") or []
        luminaires = int(metadata.get("luminaires")
                         or sum(int(c.get("luminaires", 0)) for c in circuits))
        installed = float(metadata.get("installed_w")
                          or sum(int(c.get("luminaires", 0)) * float(c.get("watts", 0))
                                 for c in circuits))
        closing = metadata.get("closing")
        return cls(lat=lat, lon=lon, luminaires=luminaires,
                   luminaire_w=installed / luminaires if luminaires else 0.0,
                   safety=bool(metadata.get("safety", False)),
                   category=str(metadata.get("lighting_category", "a")).lower(),
                   closing=time.fromisoformat(str(closing)) if closing else None)


@dataclass(frozen=True, slots=True)
class Prediction:
    """A schedule's energy over the night, and what it saves against full power."""

    energy_kwh: float
    full_kwh: float

    @property
    def saving_kwh(self) -> float:
        return self.full_kwh - self.energy_kwh

    @property
    def saving_pct(self) -> float:
        return 100 * self.saving_kwh / self.full_kwh if self.full_kwh else 0.0

    def to_json(self) -> dict[str, float]:
        return {"energy_kwh": round(self.energy_kwh, 3), "full_kwh": round(self.full_kwh, 3),
                "saving_kwh": round(self.saving_kwh, 3), "saving_pct": round(self.saving_pct, 1)}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The regulatory check: ok, or the reasons (in French) why not."""

    ok: bool
    reasons_fr: tuple[str, ...] = field(default_factory=tuple)


# --- geometry ----------------------------------------------------------------------------
def point_in_polygon(x: float, y: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Ray casting: whether (x, y) is inside the polygon (planar; fine at a commune's scale)."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


# --- the astronomical clock --------------------------------------------------------------
# Jobs ask for the same cabinet's night once per reading: astral's solar equations cost ~50 µs.
@lru_cache(maxsize=65_536)
def sun_times(lat: float, lon: float, night: date) -> tuple[datetime, datetime]:
    """Sunset of the evening `night` and sunrise of the morning after, in UTC."""
    observer = Observer(latitude=lat, longitude=lon)
    sunset = sun.sunset(observer, date=night, tzinfo=PARIS)
    sunrise = sun.sunrise(observer, date=night + timedelta(days=1), tzinfo=PARIS)
    return sunset.astimezone(UTC), sunrise.astimezone(UTC)


def _local(night: date, at: time) -> datetime:
    """The instant of local time `at` in the night of `night` (mornings: the day after)."""
    day = night if at >= NOON else night + timedelta(days=1)
    return datetime.combine(day, at, PARIS).astimezone(UTC)


def _within(t: datetime, start: datetime, end: datetime) -> bool:
    return start <= t < end


# --- the schedule ------------------------------------------------------------------------
def schedule(cabinet: Cabinet, night: date, policy: Policy | None = None,
             dark_zones: Sequence[DarkZone] = ()) -> list[Step]:
    """The steps of a night, from sunset (first step) to dawn (last step, level 0)."""
    policy = policy or Policy()
    sunset, sunrise = sun_times(cabinet.lat, cabinet.lon, night)
    # Whole seconds, what devices keep (LoRaWAN frames carry seconds); never before sunset.
    dark_from = _whole_second_after(sunset)
    on = _whole_second_after(sunset + policy.dusk_offset)
    off = (sunrise - policy.dawn_offset).replace(microsecond=0)
    zones = [z for z in dark_zones if z.contains(cabinet.lat, cabinet.lon)]
    dim = _local(night, policy.dim_at) if policy.dim_at is not None else None
    off_from = _local(night, policy.off_from) if policy.off_from is not None else None
    off_until = _local(night, policy.off_until) if off_from is not None else None
    windows = [(_local(night, z.start) if z.start else on, _local(night, z.end) if z.end else off,
                z.level_pct) for z in zones]

    def level_at(t: datetime) -> int:
        if t < on:
            return 0
        if off_until is not None and t >= off_until:
            level = policy.morning_level
        elif off_from is not None and t >= off_from:
            level = policy.safety_level if cabinet.safety else 0
        elif dim is not None and t >= dim:
            level = policy.dim_level
        else:
            level = policy.evening_level
        if cabinet.safety:
            level = max(level, policy.safety_level)
        for start, end, cap in windows:
            if _within(t, start, end):
                level = min(level, cap)
        return level

    cuts = {dark_from, on, *(x for x in (dim, off_from, off_until) if x is not None),
            *(x for w in windows for x in w[:2])}
    steps: list[Step] = []
    for t in sorted(c for c in cuts if dark_from <= c < off):
        level = level_at(t)
        if not steps or steps[-1].level_pct != level:
            steps.append(Step(t, level))
    if not steps:  # dawn before dusk: a summer night eaten by the offsets
        steps.append(Step(dark_from, 0))
    steps.append(Step(max(off, steps[-1].at + timedelta(seconds=1)), 0))
    return steps


def _whole_second_after(t: datetime) -> datetime:
    return t.replace(microsecond=0) + timedelta(seconds=1 if t.microsecond else 0)


def level_of(steps: Sequence[Step], t: datetime) -> int:
    """The level the steps command at t (0 before the first)."""
    level = 0
    for step in steps:
        if step.at <= t:
            level = step.level_pct
    return level


# --- energy ------------------------------------------------------------------------------
def predict(cabinet: Cabinet, steps: Sequence[Step]) -> Prediction:
    """Energy of the night at the meter, from the first step to the last: luminaires × watts ×
    level × duration, plus the losses and the controller; and the same at full power."""
    if len(steps) < 2:
        return Prediction(0.0, 0.0)
    factor = cabinet.installed_w * (1 + cabinet.losses) / 1000  # kW at 100 %
    energy = sum(factor * a.level_pct / 100 * (b.at - a.at).total_seconds() / 3600
                 for a, b in zip(steps, steps[1:], strict=False))
    hours = (steps[-1].at - steps[0].at).total_seconds() / 3600
    standby = cabinet.standby_w / 1000 * hours
    return Prediction(energy + standby, factor * hours + standby)


# --- the regulatory check ----------------------------------------------------------------
def _hhmm(t: datetime) -> str:
    local = t.astimezone(PARIS)
    return f"{local.hour} h {local.minute:02d}"


def _lit_between(steps: Sequence[Step], start: datetime, end: datetime) -> datetime | None:
    """The first instant in [start, end) when the steps light the cabinet, if any."""
    if start >= end:
        return None
    if level_of(steps, start) > 0:
        return start
    for step in steps:
        if start <= step.at < end and step.level_pct > 0:
            return step.at
    return None


_CATEGORY_FR = {"a": "éclairage de la voirie et des espaces publics (catégorie a)",
                "b": "mise en valeur du patrimoine, parcs et jardins (catégorie b)",
                "d": "bâtiments non résidentiels, façades et vitrines (catégorie d)",
                "e": "parc de stationnement (catégorie e)"}


@dataclass(frozen=True, slots=True)
class _Curfew:
    """A category's dark period of one night: from `deadline` until `relight`."""

    deadline: datetime
    relight: datetime
    rule: str


def _curfew(cabinet: Cabinet, night: date) -> _Curfew | None:
    """When the cabinet's category must be dark that night (arrêté du 27/12/2018, art. 2)."""
    _, sunrise = sun_times(cabinet.lat, cabinet.lon, night)
    if cabinet.category == "b":
        deadline, rule = _local(night, time(1, 0)), "extinction au plus tard à 1 h"
        if cabinet.closing is not None:
            after_closing = _local(night, cabinet.closing) + timedelta(hours=1)
            if after_closing < deadline:
                deadline = after_closing
                rule = f"extinction une heure après la fermeture ({cabinet.closing:%H:%M})"
        return _Curfew(deadline, max(sunrise, deadline), rule)
    if cabinet.category == "d":
        deadline = _local(night, time(1, 0))
        return _Curfew(deadline, max(_local(night, time(7, 0)), deadline),
                       "extinction au plus tard à 1 h, rallumage à 7 h au plus tôt")
    if cabinet.category == "e" and cabinet.closing is not None:
        deadline = _local(night, cabinet.closing) + timedelta(hours=2)
        return _Curfew(deadline, max(sunrise, deadline), "extinction deux heures après la fin "
                       f"de l'activité ({cabinet.closing:%H:%M})")
    return None


def check(cabinet: Cabinet, night: date, steps: Sequence[Step]) -> Verdict:
    """Whether the steps respect the switch-off times of the cabinet's category
    (arrêté du 27 décembre 2018, art. 2); the reasons in French when they do not."""
    reasons: list[str] = []
    sunset, _ = sun_times(cabinet.lat, cabinet.lon, night)
    what = _CATEGORY_FR.get(cabinet.category, f"catégorie {cabinet.category}")
    if steps and steps[0].at < sunset and steps[0].level_pct > 0:
        reasons.append(f"{what} : allumage à {_hhmm(steps[0].at)}, avant le coucher du soleil "
                       f"({_hhmm(sunset)}) — arrêté du 27 décembre 2018, art. 2")
    curfew = _curfew(cabinet, night)
    if curfew is not None:
        lit = _lit_between(steps, curfew.deadline, curfew.relight)
        if lit is not None:
            reasons.append(f"{what} : allumé à {_hhmm(lit)} alors que la règle impose "
                           f"{curfew.rule} — arrêté du 27 décembre 2018, art. 2")
    return Verdict(not reasons, tuple(reasons))


def comply(cabinet: Cabinet, night: date, steps: Sequence[Step]) -> tuple[list[Step], list[str]]:
    """The steps made to pass `check`: nothing lit before sunset, dark during the category's
    curfew. Returns them and what was changed (in French; empty when nothing was)."""
    sunset, _ = sun_times(cabinet.lat, cabinet.lon, night)
    out = list(steps)
    notes: list[str] = []
    if out and out[0].at < sunset and out[0].level_pct > 0:
        first = _whole_second_after(sunset)
        out = [Step(first, level_of(out, first)), *(s for s in out if s.at > first)]
        notes.append(f"allumage reporté au coucher du soleil ({_hhmm(first)})")
    curfew = _curfew(cabinet, night)
    if curfew is not None and _lit_between(out, curfew.deadline, curfew.relight) is not None:
        out = _dark_between(out, curfew.deadline, curfew.relight)
        what = _CATEGORY_FR.get(cabinet.category, f"catégorie {cabinet.category}")
        notes.append(f"{what} : éteint de {_hhmm(curfew.deadline)} à {_hhmm(curfew.relight)} "
                     f"({curfew.rule}) — arrêté du 27 décembre 2018, art. 2")
    return out, notes


def _dark_between(steps: Sequence[Step], start: datetime, end: datetime) -> list[Step]:
    """The steps with level 0 in [start, end) (the last step, at 0, is kept)."""
    if not steps:
        return []
    last = steps[-1]
    cuts = sorted({s.at for s in steps[:-1]} | {start, end})
    out: list[Step] = []
    for t in cuts:
        if t < steps[0].at or t >= last.at:
            continue
        level = 0 if start <= t < end else level_of(steps, t)
        if not out or out[-1].level_pct != level:
            out.append(Step(t, level))
    out.append(last)
    return out


# --- measured energy ---------------------------------------------------------------------
def index_at(points: Sequence[tuple[datetime, float]], t: datetime,
             max_gap: timedelta = timedelta(minutes=30)) -> float | None:
    """The cumulative index at t, interpolated between the readings around it (sorted by
    time); None without a reading within `max_gap` on each side."""
    before = [p for p in points if p[0] <= t]
    after = [p for p in points if p[0] >= t]
    if not before or not after:
        return None
    (t0, v0), (t1, v1) = before[-1], after[0]
    if t - t0 > max_gap or t1 - t > max_gap or v1 < v0:
        return None
    if t1 == t0:
        return v0
    return v0 + (v1 - v0) * (t - t0).total_seconds() / (t1 - t0).total_seconds()


def measured_energy(points: Sequence[tuple[datetime, float]],
                    steps: Sequence[Step]) -> float | None:
    """Energy the meter counted from the first step to the last (kWh), from its index; None
    when the readings do not frame both instants (or the index went backwards)."""
    if len(steps) < 2:
        return None
    start, end = index_at(points, steps[0].at), index_at(points, steps[-1].at)
    if start is None or end is None or end < start:
        return None
    return end - start
