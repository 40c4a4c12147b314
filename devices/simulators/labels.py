"""Ground truth: every injected fault as a label of the device that shows it, written to a
JSON Lines file and to the `ground_truth` table, so that analytics can be scored.

Label types are the names analytics use: `water_leak`, `lamp_failure`, `breaker_trip`,
`door_open`, `driver_stuck`, `daytime_burning`, `power_loss`, `fire`, `false_alarm`,
`flood`, `heating_on_holiday`, `baseload_step`, `night_water_leak`, `meter_freeze`,
`offline`. A leak is labelled on its district's meter and on each logger of its pipe that
hears it; a flood on each gauge that passes its yellow threshold and each low point that
fills, found from the same physics the devices follow. A label's `end` is None when the
fault was still there at the end of the run.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .faults import Plan
from .hazard import HazardDetector
from .leaks import Leak
from .territory import Territory
from .water import AcousticLeakSensor

LABEL_TYPES = ("water_leak", "lamp_failure", "breaker_trip", "door_open", "driver_stuck",
               "daytime_burning", "power_loss", "fire", "false_alarm", "flood",
               "heating_on_holiday", "baseload_step", "night_water_leak", "meter_freeze",
               "offline")
# A logger "hears" a leak when, at its loudest in the run, the leak adds at least 1 dB to
# the logger's quiet night level: a leak 6 dB under the background adds 0.97 dB.
AUDIBLE_BELOW_BACKGROUND_DB = 6.0
_SCAN = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Run:
    """Which run the labels belong to: scoring compares a run's labels with its alerts."""

    scenario: str
    seed: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True, slots=True)
class Label:
    type: str
    tenant: str
    device_id: str
    start: datetime
    end: datetime | None
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self, run: Run) -> dict[str, Any]:
        return {"run_id": run.id, "scenario": run.scenario, "seed": run.seed,
                "type": self.type, "tenant": self.tenant, "device_id": self.device_id,
                "start": _iso(self.start), "end": _iso(self.end) if self.end else None,
                "params": self.params}


def ground_truth(territory: Territory, plan: Plan, until: datetime | None = None) -> list[Label]:
    """The labels of a plan injected into a territory, for what was simulated up to `until`
    (default: the plan's end): later faults are dropped, later ends become None."""
    until = until or plan.end
    labels = [Label(f.type, d.tenant, d.device_id, f.start, f.end, _jsonable(f.params))
              for d, f in plan.faults if f.type in LABEL_TYPES]
    for leak in plan.leaks:
        labels.extend(_leak_labels(territory, leak, until))
    labels.extend(_flood_labels(territory, plan.start, until))
    out = []
    for label in labels:
        if label.start > until:
            continue
        if label.end is not None and label.end > until:
            label = Label(label.type, label.tenant, label.device_id, label.start, None,
                          label.params)
        out.append(label)
    return sorted(out, key=lambda x: (x.start, x.tenant, x.device_id, x.type))


def _leak_labels(territory: Territory, leak: Leak, until: datetime) -> list[Label]:
    pipe = leak.pipe
    common = {"leak_id": leak.id, "pipe": pipe.id, "material": pipe.material,
              "position_m": round(leak.position_m, 1), "profile": leak.profile,
              "peak_flow_m3h": round(leak.peak_flow_m3h, 3), "peak_at": _iso(leak.peak_at)}
    labels = [Label("water_leak", pipe.tenant, pipe.district, leak.start, leak.end,
                    {**common, "seen_as": "night_flow"})]
    for d in territory.devices:
        if not isinstance(d, AcousticLeakSensor) or d.pipe is None or d.pipe.id != pipe.id:
            continue
        # As loud as it got within the run (an incipient leak may peak after it).
        heard = leak.received_db(max(leak.start, min(leak.peak_at, until)), d.position_m)
        if heard is None or heard < d.base_noise_db - AUDIBLE_BELOW_BACKGROUND_DB:
            continue
        labels.append(Label("water_leak", d.tenant, d.device_id, leak.start, leak.end, {
            **common, "seen_as": "noise", "distance_m": round(abs(d.position_m - leak.position_m), 1),
            "received_db_at_peak": round(heard, 1)}))
    return labels


def _flood_labels(territory: Territory, start: datetime, end: datetime) -> list[Label]:
    labels = []
    for d in territory.devices:
        if not isinstance(d, HazardDetector):
            continue
        if d.gauge is not None:
            labels.extend(_gauge_floods(d, start, end))
        elif d.low_point is not None:
            for a, b, peak in d.low_point.wet_periods(start, end):
                labels.append(Label("flood", d.tenant, d.device_id, a, b,
                                    {"water_detected": True, "peak_rain_mm_h": round(peak, 1)}))
    return labels


def _gauge_floods(d: HazardDetector, start: datetime, end: datetime) -> list[Label]:
    """Episodes above the yellow threshold, from the noiseless level every 10 minutes."""
    assert d.gauge is not None
    gauge = d.gauge
    out: list[Label] = []
    t, began, peak, peak_at = start, None, 0.0, start
    while t <= end:
        level = gauge.level_cm(t)
        if level >= gauge.thresholds.yellow:
            if began is None:
                began, peak, peak_at = t, level, t
            elif level > peak:
                peak, peak_at = level, t
        elif began is not None:
            out.append(_flood(d, began, t, peak, peak_at))
            began = None
        t += _SCAN
    if began is not None:
        out.append(_flood(d, began, None, peak, peak_at))
    return out


def _flood(d: HazardDetector, start: datetime, end: datetime | None, peak: float,
           peak_at: datetime) -> Label:
    assert d.gauge is not None
    th = d.gauge.thresholds
    return Label("flood", d.tenant, d.device_id, start, end, {
        "river": d.gauge.river.name, "max_level_cm": round(peak, 1), "peak_at": _iso(peak_at),
        "thresholds_crossed": th.crossed(peak),
        "thresholds_cm": {"yellow": th.yellow, "orange": th.orange, "red": th.red}})


# --- where labels go ---------------------------------------------------------------------------
def write_jsonl(path: Path, labels: list[Label], run: Run) -> None:
    """One JSON object a line; the file is replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for label in labels:
            f.write(json.dumps(label.to_json(run), ensure_ascii=False) + "\n")
    tmp.replace(path)


def store(conn: psycopg.Connection, labels: list[Label], run: Run) -> int:
    """Inserts the labels into `ground_truth` (storing a run's labels again adds nothing);
    returns how many rows were new. Every label's tenant must exist."""
    tenants = sorted({label.tenant for label in labels})
    known = {row[0] for row in conn.execute("select slug from tenants where slug = any(%s)",
                                            (tenants,))}
    missing = [t for t in tenants if t not in known]
    if missing:
        raise ValueError(f"no tenant {', '.join(missing)} in the database for the labels")
    cur = conn.execute(
        "insert into ground_truth (run_id, scenario, seed, tenant_id, device_id, type, "
        "                          starts_at, ends_at, params) "
        "select %s, %s, %s, t.id, l.device_id, l.type, l.starts_at, l.ends_at, l.params "
        "from unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], "
        "            %s::jsonb[]) as l(tenant, device_id, type, starts_at, ends_at, params) "
        "join tenants t on t.slug = l.tenant "
        "on conflict do nothing",
        (run.id, run.scenario, run.seed, [x.tenant for x in labels],
         [x.device_id for x in labels], [x.type for x in labels], [x.start for x in labels],
         [x.end for x in labels], [Jsonb(x.params) for x in labels]))
    return cur.rowcount


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in params.items()}
