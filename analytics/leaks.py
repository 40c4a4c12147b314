"""Leak detection on a drinking water network: pure functions on pandas (no database).

Two detectors, one per kind of evidence (the job `analytics/jobs/leaks.py` feeds them):

- acoustic: each logger's nightly quietest level (`noise_min_db`) against a robust baseline
  of its own trailing leak-free nights (median over `baseline_nights`, nights in alarm left
  out); an alarm when the level stays `delta_db` above it on `k` of the last `n` nights with
  a steady night (`noise_spread_db` under `max_spread_db`: a leak hisses all night, traffic
  comes and goes). It clears after `clear_nights` nights back under the threshold. Loggers of
  one pipe in alarm side by side are one leak (a cluster); its position is estimated between
  the two loudest from their leak levels and the pipe's attenuation (dB/m by material).
- night flow: a district meter's minimum flow of the night (02:00-04:00, Paris) against the
  median of its trailing nights; the excess is the leak flow (m³/h), ×24 the volume lost a day.

Every threshold is a `LeakSettings` field with a default; a device's metadata
`leak_detection: {...}` overrides them key by key (docs/analytics.md lists them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import AnalyticsError
from devices.catalogue import KINDS

# The attenuation model is the simulator's (the same constants, from the field ranges it
# documents); a material it does not know falls back to `default_attenuation_db_per_m`.
try:
    from devices.simulators.leaks import ATTENUATION_DB_PER_M
except ImportError:  # pragma: no cover - the simulators ship with Phare
    ATTENUATION_DB_PER_M = {"fonte ductile": 0.02, "fonte grise": 0.015, "acier": 0.012,
                            "PVC": 0.25, "PEHD": 0.4}

ACOUSTIC_KIND = "acoustic_leak_sensor"
METER_KIND = "water_flow_meter"
NOISE_MIN = "noise_min_db"
NOISE_SPREAD = "noise_spread_db"
FLOW = "flow_m3h"
for _kind, _metric in ((ACOUSTIC_KIND, NOISE_MIN), (ACOUSTIC_KIND, NOISE_SPREAD),
                       (METER_KIND, FLOW)):
    if _metric not in KINDS[_kind].metric_names:  # names come from the catalogue
        raise ImportError(f"the catalogue's {_kind} has no metric {_metric}")

METADATA_KEY = "leak_detection"


@dataclass(frozen=True, slots=True)
class LeakSettings:
    """Thresholds of both detectors; `from_mapping` builds them from a device's metadata."""

    baseline_nights: int = 14        # trailing leak-free nights in the baseline
    min_baseline_nights: int = 5     # fewer: no verdict yet
    delta_db: float = 6.0            # night level above baseline that counts as loud
    k: int = 2                       # loud nights ...
    n: int = 3                       # ... among the last n to raise
    max_spread_db: float = 4.0       # a loud night counts only when this steady
    clear_nights: int = 2            # nights back under the threshold to clear
    corroborate_db: float = 2.0      # a neighbour this far above its baseline corroborates
    default_attenuation_db_per_m: float = 0.02
    min_leak_flow_m3h: float = 0.5   # night-flow excess below this is no leak
    flow_mad_factor: float = 4.0     # ... nor below this many robust sigmas of the nights

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None,
                     base: LeakSettings | None = None) -> LeakSettings:
        """`base` (default: the defaults) with `values` applied; unknown keys are refused."""
        base = base or cls()
        if not values:
            return base
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - known.keys())
        if unknown:
            raise AnalyticsError(f"unknown leak_detection setting(s): {', '.join(unknown)} "
                                 f"(known: {', '.join(known)})")
        try:
            typed = {k: (int(v) if known[k] == "int" else float(v)) for k, v in values.items()}
        except (TypeError, ValueError) as exc:
            raise AnalyticsError(f"invalid leak_detection setting: {exc}") from exc
        result = replace(base, **typed)  # type: ignore[arg-type]
        if not 1 <= result.k <= result.n:
            raise AnalyticsError("leak_detection: need 1 <= k <= n")
        return result

    def attenuation(self, material: str | None) -> float:
        """dB per metre along a pipe of that material."""
        return ATTENUATION_DB_PER_M.get(material or "", self.default_attenuation_db_per_m)


# --- acoustic ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AcousticNight:
    """One logger's verdict on one night."""

    night: pd.Timestamp
    level_db: float
    spread_db: float
    baseline_db: float | None
    excess_db: float | None      # level - baseline
    loud: bool                   # above threshold and steady
    alarm: bool                  # the alarm holds after this night


def acoustic_nights(nights: pd.DataFrame, settings: LeakSettings | None = None, *,
                    held_baseline_db: float | None = None) -> list[AcousticNight]:
    """Walks one logger's nights in order (columns `noise_min_db`, `noise_spread_db`, indexed by
    night) and says, for each, its baseline, whether it was loud and whether the alarm holds.

    `held_baseline_db`: the logger was already in alarm before these nights, with that baseline
    (kept in its alert), so the first nights are judged against it, not against leak nights.
    """
    s = settings or LeakSettings()
    frame = nights.sort_index()
    quiet: list[float] = []       # levels of the nights not in alarm, the baseline's pool
    recent: list[bool] = []       # loud or not, the last n nights
    alarm = held_baseline_db is not None
    frozen = held_baseline_db     # the baseline when the alarm was raised
    under = 0                     # nights in a row under the threshold while in alarm
    out: list[AcousticNight] = []
    for night, row in frame.iterrows():
        level, spread = float(row[NOISE_MIN]), float(row[NOISE_SPREAD])
        if alarm:
            baseline: float | None = frozen
        elif len(quiet) >= s.min_baseline_nights:
            baseline = float(np.median(quiet[-s.baseline_nights:]))
        else:
            baseline = None
        excess = None if baseline is None or math.isnan(level) else level - baseline
        above = excess is not None and excess > s.delta_db
        loud = above and not math.isnan(spread) and spread < s.max_spread_db
        recent = [*recent, loud][-s.n:]
        if not alarm and baseline is not None and sum(recent) >= s.k:
            alarm, frozen, under = True, baseline, 0
        elif alarm:
            under = 0 if above else under + 1
            if under >= s.clear_nights:
                alarm, frozen, recent = False, None, []
        if not alarm and not above and not math.isnan(level):
            quiet.append(level)   # a loud night never enters the baseline
        out.append(AcousticNight(pd.Timestamp(night), level, spread, baseline, excess, loud,
                                 alarm))
    return out


@dataclass(frozen=True, slots=True)
class Sensor:
    """An acoustic logger as the detector knows it (from `devices.metadata`)."""

    uid: int
    device_id: str
    pipe: str | None
    position_m: float
    material: str | None


@dataclass(frozen=True, slots=True)
class Cluster:
    """Loggers of one pipe in alarm side by side on one night: one leak."""

    pipe: str
    members: tuple[int, ...]          # uids in alarm, along the pipe
    corroborating: tuple[int, ...]    # neighbours above their baseline but not in alarm
    loudest: int
    excess_db: dict[int, float]
    position_m: float | None          # estimated leak position along the pipe


def leak_level_db(level_db: float, baseline_db: float) -> float:
    """The leak's own level at a logger: the night level minus its background, as energies."""
    diff = 10 ** (level_db / 10) - 10 ** (baseline_db / 10)
    return 10 * math.log10(diff) if diff > 0 else -math.inf


def estimate_position(a_m: float, a_leak_db: float, b_m: float, b_leak_db: float,
                      attenuation_db_per_m: float) -> float:
    """Where between loggers a and b a leak heard at these levels is (metres along the pipe).

    With L = S - α·|x - position|, for a leak between them La - Lb = α·(a + b - 2x); a leak
    beyond one logger reads the largest possible difference, so the estimate stops at it.
    """
    lo, hi = min(a_m, b_m), max(a_m, b_m)
    if not math.isfinite(a_leak_db) and not math.isfinite(b_leak_db):
        return (a_m + b_m) / 2
    if not math.isfinite(b_leak_db):
        return a_m
    if not math.isfinite(a_leak_db):
        return b_m
    x = (a_m + b_m) / 2 - (a_leak_db - b_leak_db) / (2 * attenuation_db_per_m)
    return min(hi, max(lo, x))


def clusters(sensors: Mapping[int, Sensor], verdicts: Mapping[int, AcousticNight],
             settings_of: Mapping[int, LeakSettings]) -> list[Cluster]:
    """The leaks of one night: loggers in alarm grouped by pipe and adjacency.

    `verdicts`: each logger's verdict that night (absent: no reading). Two loggers in alarm
    with no logger in between, or only loggers without a reading, are one cluster.
    """
    by_pipe: dict[str, list[Sensor]] = {}
    for sensor in sensors.values():
        if sensor.pipe is not None:
            by_pipe.setdefault(sensor.pipe, []).append(sensor)
    found: list[Cluster] = []
    for pipe, members in sorted(by_pipe.items()):
        line = sorted(members, key=lambda x: x.position_m)
        groups: list[list[int]] = []
        current: list[int] = []
        for i, sensor in enumerate(line):
            verdict = verdicts.get(sensor.uid)
            if verdict is not None and verdict.alarm:
                current.append(i)
            elif verdict is not None:
                if current:
                    groups.append(current)
                current = []
        if current:
            groups.append(current)
        for group in groups:
            found.append(_cluster(pipe, line, group, verdicts, settings_of))
    return found


def _cluster(pipe: str, line: list[Sensor], group: list[int],
             verdicts: Mapping[int, AcousticNight],
             settings_of: Mapping[int, LeakSettings]) -> Cluster:
    members = [line[i] for i in group]
    excess = {m.uid: verdicts[m.uid].excess_db or 0.0 for m in members}
    corroborating = []
    for i in (group[0] - 1, group[-1] + 1):
        if 0 <= i < len(line):
            v = verdicts.get(line[i].uid)
            s = settings_of.get(line[i].uid, LeakSettings())
            if v is not None and v.excess_db is not None and v.excess_db >= s.corroborate_db:
                corroborating.append(line[i].uid)
                excess[line[i].uid] = v.excess_db
    heard = [m for m in line if m.uid in excess]
    ranked = sorted(heard, key=lambda m: excess[m.uid], reverse=True)
    loudest = max(members, key=lambda m: excess[m.uid])
    position: float | None = loudest.position_m
    if len(ranked) >= 2:
        a, b = ranked[0], ranked[1]
        va, vb = verdicts[a.uid], verdicts[b.uid]
        if va.baseline_db is not None and vb.baseline_db is not None:
            s = settings_of.get(a.uid, LeakSettings())
            position = estimate_position(
                a.position_m, leak_level_db(va.level_db, va.baseline_db),
                b.position_m, leak_level_db(vb.level_db, vb.baseline_db),
                s.attenuation(a.material))
    return Cluster(pipe, tuple(m.uid for m in members), tuple(corroborating), loudest.uid,
                   excess, None if position is None else round(position, 1))


# --- minimum night flow --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FlowNight:
    """One district meter's verdict on one night."""

    night: pd.Timestamp
    min_flow_m3h: float
    baseline_m3h: float | None
    leak_m3h: float | None            # night minimum - baseline
    loud: bool                        # the excess counts as a leak this night
    alarm: bool

    @property
    def lost_m3_per_day(self) -> float | None:
        """Volume the leak loses in a day, at its night flow."""
        return None if self.leak_m3h is None else max(0.0, self.leak_m3h) * 24


def night_minimums(flows: pd.Series) -> pd.Series:
    """The minimum flow of each night window (indexed by night) from readings indexed by the
    night they belong to (the job assigns them)."""
    return flows.groupby(level=0).min().sort_index()


def flow_nights(minimums: pd.Series, settings: LeakSettings | None = None, *,
                held_baseline_m3h: float | None = None) -> list[FlowNight]:
    """Walks one meter's night minimums in order: baseline, estimated leak flow, alarm."""
    s = settings or LeakSettings()
    quiet: list[float] = []
    recent: list[bool] = []
    alarm = held_baseline_m3h is not None
    frozen = held_baseline_m3h
    under = 0
    out: list[FlowNight] = []
    for night, value in minimums.sort_index().items():
        flow = float(value)
        pool = quiet[-s.baseline_nights:]
        baseline: float | None
        threshold = math.inf
        if alarm:
            baseline = frozen
            threshold = s.min_leak_flow_m3h
        elif len(pool) >= s.min_baseline_nights:
            baseline = float(np.median(pool))
            mad = float(np.median(np.abs(np.asarray(pool) - baseline)))
            threshold = max(s.min_leak_flow_m3h, s.flow_mad_factor * 1.4826 * mad)
        else:
            baseline = None
        leak = None if baseline is None else flow - baseline
        loud = leak is not None and leak > threshold
        recent = [*recent, loud][-s.n:]
        if not alarm and baseline is not None and sum(recent) >= s.k:
            alarm, frozen, under = True, baseline, 0
        elif alarm:
            under = 0 if loud else under + 1
            if under >= s.clear_nights:
                alarm, frozen, recent = False, None, []
        if not alarm and not loud:
            quiet.append(flow)
        out.append(FlowNight(pd.Timestamp(night), flow, baseline, leak, loud, alarm))
    return out
