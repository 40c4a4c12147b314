"""Public lighting: a cabinet's dimming schedule for a night, its regulatory check, its energy.

Pure functions, no database. A night is named by the date of its evening (Europe/Paris). The
schedule starts at sunset (+ `dusk_offset`), ends at sunrise (- `dawn_offset`), both from the
astronomical clock (astral), and follows the commune's `Policy` in local time:

    dusk -> 22:00   100 %      (evening_level)
    22:00 -> 23:00   50 %      (dim_at, dim_level)
    23:00 -> 05:00    0 %      (off_from, off_until), or `safety_level` (30 %) on a cabinet
                               whose metadata says `safety: true` (crossings, stairs...)
    05:00 -> dawn   100 %      (morning_level), when dawn is after 05:00

Dark zones (`DarkZone`: a polygon of [lon, lat] points, GeoJSON order) cap the level of the
cabinets inside them, for the whole night or a window of it; 0 turns them off. A dark zone
overrides the safety floor: it is the commune's deliberate choice for biodiversity.

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
    dim_at: time = time(22, 0)
    dim_level: int = 50
    off_from: time = time(23, 0)
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
                kw[name] = time.fromisoformat(str(v[name]))
        for name in ("evening_level", "dim_level", "morning_level", "safety_level"):
            if name in v:
                kw[name] = int(v[name])
        return cls(**kw)


@dataclass(frozen=True, slots=True)
class DarkZone:
    """A biodiversity dark zone: cabinets inside are capped at `level_pct` (0: off),
    the whole night or from `start` to `end` (local times)."""

    name: str
    polygon: tuple[tuple[float, float], ...]  # (lon, lat), GeoJSON order, ring open or closed
    level_pct: int = 0
    start: time | None = None
    end: time | None = None

    def contains(self, lat: float, lon: float) -> bool:
        return point_in_polygon(lon, lat, self.polygon)


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
    """The steps of a night, from dusk (first step) to dawn (last step, level 0)."""
    policy = policy or Policy()
    sunset, sunrise = sun_times(cabinet.lat, cabinet.lon, night)
    # Whole seconds, what devices keep (LoRaWAN frames carry seconds); never before sunset.
    on = sunset + policy.dusk_offset
    on = on.replace(microsecond=0) + timedelta(seconds=1 if on.microsecond else 0)
    off = (sunrise - policy.dawn_offset).replace(microsecond=0)
    zones = [z for z in dark_zones if z.contains(cabinet.lat, cabinet.lon)]
    dim, off_from, off_until = (_local(night, policy.dim_at), _local(night, policy.off_from),
                                _local(night, policy.off_until))
    windows = [(_local(night, z.start) if z.start else on, _local(night, z.end) if z.end else off,
                z.level_pct) for z in zones]

    def level_at(t: datetime) -> int:
        if t >= off_until:
            level = policy.morning_level
        elif t >= off_from:
            level = policy.safety_level if cabinet.safety else 0
        elif t >= dim:
            level = policy.dim_level
        else:
            level = policy.evening_level
        if cabinet.safety:
            level = max(level, policy.safety_level)
        for start, end, cap in windows:
            if _within(t, start, end):
                level = min(level, cap)
        return level

    cuts = {on, dim, off_from, off_until, *(x for w in windows for x in w[:2])}
    steps: list[Step] = []
    for t in sorted(c for c in cuts if on <= c < off):
        level = level_at(t)
        if not steps or steps[-1].level_pct != level:
            steps.append(Step(t, level))
    steps.append(Step(off, 0))
    return steps


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


def check(cabinet: Cabinet, night: date, steps: Sequence[Step]) -> Verdict:
    """Whether the steps respect the switch-off times of the cabinet's category
    (arrêté du 27 décembre 2018, art. 2); the reasons in French when they do not."""
    reasons: list[str] = []
    sunset, sunrise = sun_times(cabinet.lat, cabinet.lon, night)
    what = _CATEGORY_FR.get(cabinet.category, f"catégorie {cabinet.category}")
    if steps and steps[0].at < sunset and steps[0].level_pct > 0:
        reasons.append(f"{what} : allumage à {_hhmm(steps[0].at)}, avant le coucher du soleil "
                       f"({_hhmm(sunset)}) — arrêté du 27 décembre 2018, art. 2")
    deadline: datetime | None = None
    relight = sunrise
    rule = ""
    if cabinet.category == "b":
        deadline = _local(night, time(1, 0))
        rule = "extinction au plus tard à 1 h"
        if cabinet.closing is not None:
            after_closing = _local(night, cabinet.closing) + timedelta(hours=1)
            if after_closing < deadline:
                deadline = after_closing
                rule = f"extinction une heure après la fermeture ({cabinet.closing:%H:%M})"
    elif cabinet.category == "d":
        deadline, relight = _local(night, time(1, 0)), _local(night, time(7, 0))
        rule = "extinction au plus tard à 1 h, rallumage à 7 h au plus tôt"
    elif cabinet.category == "e" and cabinet.closing is not None:
        deadline = _local(night, cabinet.closing) + timedelta(hours=2)
        rule = f"extinction deux heures après la fin de l'activité ({cabinet.closing:%H:%M})"
    if deadline is not None:
        lit = _lit_between(steps, deadline, max(relight, deadline))
        if lit is not None:
            reasons.append(f"{what} : allumé à {_hhmm(lit)} alors que la règle impose "
                           f"{rule} — arrêté du 27 décembre 2018, art. 2")
    return Verdict(not reasons, tuple(reasons))
