"""Scores detectors against the simulator's ground truth (`ground_truth`, one run's labels).

A detector is a row of `DETECTORS`: which labels it should find (type, and params that select
them), which alerts it raises (type, kinds of device), how a detection matches a label (`scope`:
the same device, or for leaks any logger of the same pipe), within [start, end + grace], and
what one incident is (`incident_key`: labels sharing that param, e.g. the loggers and meter of
one leak, are one incident). Other detectors (energy, fire/flood, cabinets) plug in by adding
a row.

- recall: incidents with at least one matched label / incidents;
- precision: alerts matching at least one label / alerts;
- delay: from an incident's start to its first matching alert (`detected_at` in the alert's
  params when the detector dates its findings, else `opened_at`), in `delay_unit`s, rounded up.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from analytics.leaks import ACOUSTIC_KIND, METER_KIND


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


DETECTORS: dict[str, Detector] = {d.name: d for d in (
    Detector("leaks.acoustic", "water_leak", "water_leak", (ACOUSTIC_KIND,), same_pipe,
             {"seen_as": "noise"}, "leak_id", timedelta(days=2)),
    Detector("leaks.night_flow", "water_leak", "water_leak", (METER_KIND,), same_device,
             {"seen_as": "night_flow"}, "leak_id", timedelta(days=2)),
    # Energy (analytics/jobs/energy.py): one alert type for the building faults it finds.
    *(Detector(f"energy.{fault}", fault, "energy_anomaly", ("building_meter",), same_device,
               grace=timedelta(days=2))
      for fault in ("heating_on_holiday", "baseload_step", "meter_freeze")),
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
    return (detector.scope(d, label) and d.at >= label.start
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
    """The alerts of these tenants' devices (opened since `since`), dated by their finding."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select a.tenant_id, d.id as device_id, d.kind, d.metadata, a.type, a.opened_at, "
            "a.resolved_at, a.params->>'detected_at' as detected_at "
            "from alerts a join devices d on d.uid = a.device_uid "
            "where a.tenant_id = any(%s) and (%s::timestamptz is null or a.opened_at >= %s)",
            (tenant_ids, since, since)).fetchall()
    return [Detection(r["tenant_id"], r["device_id"], r["kind"], dict(r["metadata"] or {}),
                      r["type"], datetime.fromisoformat(r["detected_at"]) if r["detected_at"]
                      else r["opened_at"], r["resolved_at"]) for r in rows]


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
