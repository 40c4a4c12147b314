"""Scores detectors against the simulator's ground truth (`ground_truth`, one run's labels).

A detector is a row of `DETECTORS`: which labels it should find (type, and params that select
them), which alerts it raises (type, kinds of device), how a detection matches a label (`scope`:
the same device, or for leaks any logger of the same pipe), within [start, end + grace], and
what one incident is (`incident_key`: labels sharing that param, e.g. the loggers and meter of
one leak, are one incident). Other detectors (energy, fire/flood, cabinets) plug in by adding
a row.

- recall: incidents with at least one matched label / incidents;
- precision: alerts (each opening or reopening) matching at least one label / alerts;
- delay: from an incident's start to its first matching alert (`detected_at` in the alert's
  params when the detector dates its findings, else the observation that opened it, else
  `opened_at`), in `delay_unit`s, rounded up; negative for an early warning (`lead`).

Fire and flood (the real-time rules) are two rows; `hazard_report` also sorts every fire alert
by its cause: a fire, a nuisance alarm (`false_alarm` label: a real smoke alarm without a
fire), a self-test or a tamper of the detector (from its own events), or nothing known.
`evaluate_lighting` scores the dimming schedules: the share that passes the regulatory check
over the coming nights, and the applied nights whose energy, measured on the cabinet's index,
is within `tolerance_pct` of the prediction.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from analytics.leaks import ACOUSTIC_KIND, METER_KIND
from analytics.lighting import PARIS
from analytics.lighting_store import (
    DEFAULT,
    cabinets,
    energy_index,
    measurement,
    plan,
    policies_in_force,
    steps_of,
    zones_by_cabinet,
)


@dataclass(frozen=True, slots=True)
class Label:
    tenant_id: int
    device_id: str
    type: str
    start: datetime
    end: datetime | None
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Detection:
    tenant_id: int
    device_id: str
    kind: str
    metadata: dict[str, Any]
    type: str
    at: datetime
    until: datetime | None  # resolved_at


Scope = Callable[[Detection, Label], bool]
HAZARD_KIND = "hazard_detector"


def same_device(d: Detection, label: Label) -> bool:
    return d.tenant_id == label.tenant_id and d.device_id == label.device_id


def same_pipe(d: Detection, label: Label) -> bool:
    """Same device, or a logger on the pipe of the label's leak."""
    pipe = label.params.get("pipe")
    return same_device(d, label) or (d.tenant_id == label.tenant_id and pipe is not None
                                     and d.metadata.get("pipe") == pipe)


@dataclass(frozen=True, slots=True)
class Detector:
    name: str
    label_type: str
    alert_type: str
    device_kinds: tuple[str, ...]
    scope: Scope = same_device
    label_params: Mapping[str, Any] = field(default_factory=dict)
    incident_key: str | None = None
    grace: timedelta = timedelta(days=1)
    delay_unit: timedelta = timedelta(days=1)
    delay_label: str = "nights"
    lead: timedelta = timedelta(0)  # an alert this long before a label's start still finds it


DETECTORS: dict[str, Detector] = {d.name: d for d in (
    Detector("leaks.acoustic", "water_leak", "water_leak", (ACOUSTIC_KIND,), same_pipe,
             {"seen_as": "noise"}, "leak_id", timedelta(days=2)),
    Detector("leaks.night_flow", "water_leak", "water_leak", (METER_KIND,), same_device,
             {"seen_as": "night_flow"}, "leak_id", timedelta(days=2)),
    # Energy (analytics/jobs/energy.py): one alert type for the building faults it finds.
    *(Detector(f"energy.{fault}", fault, "energy_anomaly", ("building_meter",), same_device,
               grace=timedelta(days=2))
      for fault in ("heating_on_holiday", "baseload_step", "meter_freeze")),
    # Fire and flood (alerts/rules.py): the same detector, within minutes. A flood alert up to
    # 3 hours before the level reaches yellow is the rate of rise warning early.
    Detector("hazards.fire", "fire", "fire", (HAZARD_KIND,), same_device,
             grace=timedelta(minutes=30), delay_unit=timedelta(minutes=1), delay_label="min"),
    Detector("hazards.flood", "flood", "flood", (HAZARD_KIND,), same_device,
             grace=timedelta(hours=1), delay_unit=timedelta(minutes=1), delay_label="min",
             lead=timedelta(hours=3)),
)}


@dataclass(frozen=True, slots=True)
class Score:
    detector: str
    incidents: int
    detected: int
    alerts: int
    true_alerts: int
    delays: list[float]
    delay_label: str

    @property
    def recall(self) -> float:
        return self.detected / self.incidents if self.incidents else math.nan

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else math.nan

    @property
    def median_delay(self) -> float:
        return statistics.median(self.delays) if self.delays else math.nan


def matches(detector: Detector, d: Detection, label: Label) -> bool:
    end = label.end + detector.grace if label.end is not None else None
    return (detector.scope(d, label) and d.at >= label.start - detector.lead
            and (end is None or d.at <= end))


def score(detector: Detector, labels: list[Label], detections: list[Detection]) -> Score:
    """Scores one detector's detections against labels (both already loaded)."""
    wanted = [x for x in labels if x.type == detector.label_type
              and all(x.params.get(k) == v for k, v in detector.label_params.items())]
    mine = [d for d in detections if d.type == detector.alert_type
            and d.kind in detector.device_kinds]
    incidents: dict[Any, list[Label]] = {}
    for i, label in enumerate(wanted):
        key = label.params.get(detector.incident_key) if detector.incident_key else None
        incidents.setdefault((label.tenant_id, key) if key is not None else i, []).append(label)
    delays: list[float] = []
    for group in incidents.values():
        start = min(x.start for x in group)
        hits = [d.at for d in mine if any(matches(detector, d, x) for x in group)]
        if hits:
            delays.append(math.ceil((min(hits) - start) / detector.delay_unit))
    true_alerts = sum(any(matches(detector, d, x) for x in wanted) for d in mine)
    return Score(detector.name, len(incidents), len(delays), len(mine), true_alerts, delays,
                 detector.delay_label)


def latest_run(conn: psycopg.Connection) -> str | None:
    row = conn.execute("select run_id::text from ground_truth order by created_at desc, id desc "
                       "limit 1").fetchone()
    return None if row is None else str(row[0])


def load_labels(conn: psycopg.Connection, run_id: str) -> list[Label]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("select tenant_id, device_id, type, starts_at, ends_at, params "
                           "from ground_truth where run_id = %s order by starts_at",
                           (run_id,)).fetchall()
    return [Label(r["tenant_id"], r["device_id"], r["type"], r["starts_at"], r["ends_at"],
                  dict(r["params"])) for r in rows]


def load_detections(conn: psycopg.Connection, tenant_ids: list[int],
                    since: datetime | None = None) -> list[Detection]:
    """The alerts of these tenants' devices (opened since `since`), dated by their finding.

    An alert whose params date its finding (`detected_at`) is one detection. Otherwise each
    opening and reopening is one (a reopened alert is notified again), at the observation that
    caused it (alerts/lifecycle.py records it in the transition): in a replayed run,
    `opened_at` is when the engine caught up, not when the event happened."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select a.tenant_id, d.id as device_id, d.kind, d.metadata, a.type, a.opened_at, "
            "a.resolved_at, a.params->>'detected_at' as detected_at, "
            "array(select coalesce((x.detail->>'observed_at')::timestamptz, x.at) "
            "      from alert_transitions x where x.alert_id = a.id "
            "      and x.kind in ('opened', 'reopened') order by x.id) as openings "
            "from alerts a join devices d on d.uid = a.device_uid "
            "where a.tenant_id = any(%s) and (%s::timestamptz is null or a.opened_at >= %s)",
            (tenant_ids, since, since)).fetchall()
    out: list[Detection] = []
    for r in rows:
        if r["detected_at"]:
            instants = [datetime.fromisoformat(r["detected_at"])]
        else:
            instants = list(r["openings"]) or [r["opened_at"]]
        out.extend(Detection(r["tenant_id"], r["device_id"], r["kind"], dict(r["metadata"] or {}),
                             r["type"], at, r["resolved_at"]) for at in instants)
    return out


def evaluate(conn: psycopg.Connection, *, run_id: str | None = None,
             detectors: list[str] | None = None,
             since: datetime | None = None) -> list[Score]:
    """Scores the detectors (default: all) against a run's labels (default: the latest run)."""
    run_id = run_id or latest_run(conn)
    if run_id is None:
        return []
    labels = load_labels(conn, run_id)
    tenants = sorted({x.tenant_id for x in labels})
    detections = load_detections(conn, tenants, since)
    names = detectors or list(DETECTORS)
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        raise KeyError(f"unknown detector(s) {', '.join(unknown)} (known: "
                       f"{', '.join(DETECTORS)})")
    return [score(DETECTORS[n], labels, detections) for n in names]


def table(scores: list[Score]) -> str:
    """The scores as a plain-text table."""
    def fmt(x: float) -> str:
        return "-" if math.isnan(x) else f"{x:.2f}"

    head = ("detector", "incidents", "detected", "alerts", "true", "precision", "recall", "F1",
            "median delay")
    rows = [head] + [(s.detector, str(s.incidents), str(s.detected), str(s.alerts),
                      str(s.true_alerts), fmt(s.precision), fmt(s.recall), fmt(s.f1),
                      "-" if not s.delays else f"{s.median_delay:g} {s.delay_label}")
                     for s in scores]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


# --- fire alerts by cause ---------------------------------------------------------------------
TEST_WINDOW = timedelta(minutes=10)   # a test left open (alerts/rules.py: MAX_TEST)
TEST_SETTLE = timedelta(minutes=5)    # and the minutes after it (alerts/rules.py)
TAMPER_WINDOW = timedelta(days=1)     # a tamper that never ended


@dataclass(frozen=True, slots=True)
class HazardReport:
    """Every fire alert of a run, by cause. `during_test` and `during_tamper` must be 0."""

    alerts: int
    fires: int          # match a `fire` label
    nuisance: int       # match a `false_alarm` label: the smoke alarm really sounded
    during_test: int    # opened during a self-test or maintenance of the detector
    during_tamper: int  # opened while the detector was tampered with
    unexplained: int

    @property
    def from_tests_or_tamper(self) -> int:
        return self.during_test + self.during_tamper


def _windows(conn: psycopg.Connection, tenant_ids: list[int]) -> dict[tuple[int, str, str],
                                                                        list[tuple[datetime, datetime]]]:
    """(tenant, device, 'test' | 'tamper') -> [start, end] of each, from the devices' events."""
    rows = conn.execute(
        "select e.tenant_id, d.id, e.type, e.ts, e.active from events e "
        "join devices d on d.uid = e.device_uid where e.tenant_id = any(%s) and "
        "d.kind = %s and e.type in ('test', 'tamper') order by e.device_uid, e.type, e.ts",
        (tenant_ids, HAZARD_KIND)).fetchall()
    out: dict[tuple[int, str, str], list[tuple[datetime, datetime]]] = {}
    open_at: dict[tuple[int, str, str], datetime] = {}
    longest = {"test": TEST_WINDOW, "tamper": TAMPER_WINDOW}
    for tenant_id, device_id, kind, ts, active in rows:
        key = (tenant_id, device_id, kind)
        if active:
            open_at.setdefault(key, ts)
        elif key in open_at:
            out.setdefault(key, []).append((open_at.pop(key), ts))
    for key, start in open_at.items():
        out.setdefault(key, []).append((start, start + longest[key[2]]))
    return out


def hazard_report(conn: psycopg.Connection, *, run_id: str | None = None) -> HazardReport | None:
    """The fire alerts of a run's tenants, by cause; None without ground truth."""
    run_id = run_id or latest_run(conn)
    if run_id is None:
        return None
    labels = load_labels(conn, run_id)
    tenants = sorted({x.tenant_id for x in labels})
    fires = [d for d in load_detections(conn, tenants)
             if d.type == "fire" and d.kind == HAZARD_KIND]
    detector = DETECTORS["hazards.fire"]
    nuisance = Detector("nuisance", "false_alarm", "fire", (HAZARD_KIND,),
                        grace=timedelta(minutes=30))
    windows = _windows(conn, tenants)

    def within(d: Detection, kind: str, settle: timedelta) -> bool:
        return any(a <= d.at <= b + settle
                   for a, b in windows.get((d.tenant_id, d.device_id, kind), []))

    counts = {"fire": 0, "false_alarm": 0, "test": 0, "tamper": 0, "other": 0}
    for d in fires:
        if any(x.type == "fire" and matches(detector, d, x) for x in labels):
            counts["fire"] += 1
        elif any(x.type == "false_alarm" and matches(nuisance, d, x) for x in labels):
            counts["false_alarm"] += 1
        elif within(d, "test", TEST_SETTLE):
            counts["test"] += 1
        elif within(d, "tamper", timedelta(0)):
            counts["tamper"] += 1
        else:
            counts["other"] += 1
    return HazardReport(len(fires), counts["fire"], counts["false_alarm"], counts["test"],
                        counts["tamper"], counts["other"])


def hazard_table(report: HazardReport) -> str:
    return "\n".join([
        "fire alerts by cause",
        f"  fires (fire labels)                 {report.fires}",
        f"  nuisance alarms (false_alarm labels) {report.nuisance}",
        f"  during a self-test or maintenance   {report.during_test}",
        f"  during a tamper                     {report.during_tamper}",
        f"  unexplained                         {report.unexplained}",
        f"  total                               {report.alerts}"])


# --- lighting ---------------------------------------------------------------------------------
CABINET_FAULTS = ("lamp_failure", "breaker_trip", "driver_stuck", "daytime_burning",
                  "power_loss", "offline", "door_open")


@dataclass(frozen=True, slots=True)
class LightingScore:
    """Dimming schedules against the regulation and the meters."""

    cabinets: int
    schedules: int          # planned over the coming nights
    passing: int            # of those, passing the regulatory check (as sent)
    policy_passing: int     # the policies' own schedules passing, before `comply`
    applied: int            # applied schedules whose night is over
    measured: int           # ... with the index readings to measure them
    excluded: int           # ... on a cabinet with a fault that night (ground truth)
    within: int             # ... of the rest, within the tolerance
    saving_errors: list[float]  # measured vs predicted saving, % (the rest)
    energy_errors: list[float]  # measured vs predicted energy, %
    tolerance_pct: float

    @property
    def passing_share(self) -> float:
        return self.passing / self.schedules if self.schedules else math.nan

    @property
    def within_share(self) -> float:
        judged = self.measured - self.excluded
        return self.within / judged if judged else math.nan


def evaluate_lighting(conn: psycopg.Connection, *, tenant_ids: list[int] | None = None,
                      now: datetime | None = None, nights: int = 7,
                      run_id: str | None = None, tolerance_pct: float = 5.0) -> LightingScore:
    """Plans every cabinet's coming `nights` under its stored policy and zones and checks them;
    measures the applied schedules of past nights on the cabinets' energy index. Nights of a
    cabinet with a ground-truth fault (of `run_id`, default the latest run) are excluded from
    the energy score: a dark lamp does not draw what the schedule predicts."""
    now = now or datetime.now(UTC)
    cabs = cabinets(conn, tenant_ids)
    policies, zones = policies_in_force(conn), zones_by_cabinet(conn)
    today = now.astimezone(PARIS).date()
    schedules = passing = policy_passing = 0
    for cab in cabs:
        if not cab.spec.luminaires:
            continue
        for k in range(nights):
            p = plan(cab.spec, today + timedelta(days=k), policies.get(cab.tenant_id, DEFAULT),
                     zones.get(cab.uid, []))
            schedules += 1
            passing += p.verdict.ok
            policy_passing += p.policy_verdict.ok
    run_id = run_id or latest_run(conn)
    faults: dict[tuple[int, str], list[Label]] = {}
    for x in load_labels(conn, run_id) if run_id else []:
        if x.type in CABINET_FAULTS:
            faults.setdefault((x.tenant_id, x.device_id), []).append(x)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select c.tenant_id, d.id as device_id, c.device_uid, c.params, c.detail "
            "from commands c join devices d on d.uid = c.device_uid "
            "where c.type = 'set_schedule' and c.status = 'applied' and c.detail ? 'prediction' "
            "and (%s::int[] is null or c.tenant_id = any(%s::int[])) order by c.created_at",
            (tenant_ids, tenant_ids)).fetchall()
    applied = measured = excluded = within = 0
    saving_errors: list[float] = []
    energy_errors: list[float] = []
    for r in rows:
        steps = steps_of(r["params"])
        if len(steps) < 2 or steps[-1].at > now:
            continue
        applied += 1
        result = measurement(steps, r["detail"]["prediction"],
                             energy_index(conn, r["device_uid"], steps[0].at, steps[-1].at))
        if result is None:
            continue
        measured += 1
        if any(x.start < steps[-1].at and (x.end is None or x.end > steps[0].at)
               for x in faults.get((r["tenant_id"], r["device_id"]), [])):
            excluded += 1
            continue
        s_err, e_err = result["saving_error_pct"], result["energy_error_pct"]
        saving_errors.append(s_err if s_err is not None else math.nan)
        energy_errors.append(e_err if e_err is not None else math.nan)
        within += all(x is not None and abs(x) <= tolerance_pct for x in (s_err, e_err))
    return LightingScore(len(cabs), schedules, passing, policy_passing, applied, measured,
                         excluded, within, saving_errors, energy_errors, tolerance_pct)


def lighting_table(s: LightingScore) -> str:
    def pct(x: float) -> str:
        return "-" if math.isnan(x) else f"{100 * x:.1f} %"

    def worst(xs: list[float]) -> str:
        xs = [abs(x) for x in xs if not math.isnan(x)]
        return f"{max(xs):.2f} %" if xs else "-"

    return "\n".join([
        f"lighting: {s.cabinets} cabinets",
        f"  schedules planned (coming nights)   {s.schedules}",
        f"  passing the arrêté du 27/12/2018    {s.passing} ({pct(s.passing_share)}); "
        f"policies alone: {s.policy_passing}",
        f"  applied nights over                 {s.applied}, measured {s.measured}, "
        f"excluded (cabinet fault) {s.excluded}",
        f"  measured within {s.tolerance_pct:g} % of predicted   {s.within} "
        f"({pct(s.within_share)}); worst saving error {worst(s.saving_errors)}, "
        f"worst energy error {worst(s.energy_errors)}"])
