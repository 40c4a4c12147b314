"""Public lighting's stored settings and schedules: policies in force, dark zones, cabinets,
the schedule of a night as the job computes it, and the energy a schedule measured.

The platform's own view (the `phare` role: every tenant), for the lighting job and
`phare evaluate`; the API reads the same tables within a key's scope (api/queries/lighting.py).
Tables: migration 0009 (`lighting_policies`, `dark_zones`); schedules are `set_schedule`
commands whose `detail` the job fills.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from analytics.lighting import (
    Cabinet,
    DarkZone,
    Policy,
    Prediction,
    Step,
    Verdict,
    check,
    comply,
    measured_energy,
    predict,
    schedule,
)

POLICY_COLUMNS = ("dusk_offset_min", "dawn_offset_min", "evening_level", "dim_at", "dim_level",
                  "off_from", "off_until", "morning_level", "safety_level")
# Every tenant with each tenant above it (itself at depth 0).
_UP = sql.SQL("with recursive up(tenant_id, ancestor_id, depth) as ("
              " select id, id, 0 from tenants"
              " union all"
              " select up.tenant_id, t.parent_id, up.depth + 1 from up"
              " join tenants t on t.id = up.ancestor_id where t.parent_id is not null) ")


def policy_from_row(row: Mapping[str, Any]) -> Policy:
    """A `Policy` from a row of `lighting_policies` (or of `lighting_policy_in_force`)."""
    return Policy(dusk_offset=timedelta(minutes=int(row["dusk_offset_min"])),
                  dawn_offset=timedelta(minutes=int(row["dawn_offset_min"])),
                  evening_level=int(row["evening_level"]), dim_at=row["dim_at"],
                  dim_level=int(row["dim_level"]), off_from=row["off_from"],
                  off_until=row["off_until"], morning_level=int(row["morning_level"]),
                  safety_level=int(row["safety_level"]))


@dataclass(frozen=True, slots=True)
class InForce:
    """The policy a tenant follows, and the slug of the tenant it comes from (None: the
    platform's default)."""

    policy: Policy
    source: str | None


DEFAULT = InForce(Policy(), None)


def policies_in_force(conn: psycopg.Connection) -> dict[int, InForce]:
    """For every tenant with a policy of its own or above it: that policy (nearest first)."""
    columns = sql.SQL(", ").join(sql.Identifier("p", c) for c in POLICY_COLUMNS)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _UP + sql.SQL("select distinct on (up.tenant_id) up.tenant_id, a.slug, {} "
                          "from up join lighting_policies p on p.tenant_id = up.ancestor_id "
                          "join tenants a on a.id = up.ancestor_id "
                          "order by up.tenant_id, up.depth").format(columns)).fetchall()
    return {r["tenant_id"]: InForce(policy_from_row(r), r["slug"]) for r in rows}


def zone_from_row(row: Mapping[str, Any]) -> DarkZone:
    geometry = row["area"]
    if isinstance(geometry, str | bytes):
        geometry = orjson.loads(geometry)
    return DarkZone.from_geojson(row["name"], geometry, level_pct=int(row["level_pct"]),
                                 start=row["starts"], end=row["ends"])


def zones_by_cabinet(conn: psycopg.Connection) -> dict[int, list[DarkZone]]:
    """The dark zones over each lighting cabinet: zones of its tenant or of a tenant above,
    whose area covers the cabinet (PostGIS)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _UP + sql.SQL("select d.uid, z.name, st_asgeojson(z.area) as area, z.level_pct, "
                          "z.starts, z.ends from devices d join up on up.tenant_id = d.tenant_id "
                          "join dark_zones z on z.tenant_id = up.ancestor_id "
                          "where d.kind = 'lighting_cabinet' and d.location is not null "
                          "and st_covers(z.area, d.location::geometry) order by d.uid, z.id")
        ).fetchall()
    out: dict[int, list[DarkZone]] = defaultdict(list)
    for r in rows:
        out[r["uid"]].append(zone_from_row(r))
    return dict(out)


@dataclass(frozen=True, slots=True)
class CabinetRow:
    uid: int
    tenant_id: int
    tenant: str
    id: str
    spec: Cabinet
    row: dict[str, Any] = field(repr=False)  # what commands.targets.Target takes


def cabinets(conn: psycopg.Connection, tenant_ids: list[int] | None = None) -> list[CabinetRow]:
    """The lighting cabinets with a location (of these tenants, default all)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select d.uid, d.tenant_id, t.slug as tenant, d.id, d.kind, d.model, d.dev_eui, "
            "d.lorawan_id, d.metadata, d.online, d.last_seen, "
            "st_y(d.location::geometry) as lat, st_x(d.location::geometry) as lon "
            "from devices d join tenants t on t.id = d.tenant_id "
            "where d.kind = 'lighting_cabinet' and d.location is not null "
            "and (%s::int[] is null or d.tenant_id = any(%s::int[])) order by d.uid",
            (tenant_ids, tenant_ids)).fetchall()
    out = []
    for r in rows:
        lat, lon = r.pop("lat"), r.pop("lon")
        r["metadata"] = r["metadata"] or {}
        out.append(CabinetRow(r["uid"], r["tenant_id"], r["tenant"], r["id"],
                              Cabinet.from_metadata(lat, lon, r["metadata"]), r))
    return out


# --- a night's plan ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Plan:
    """A cabinet's schedule for a night: the policy's, and as sent (made compliant)."""

    night: date
    steps: list[Step]
    verdict: Verdict             # of `steps`
    policy_verdict: Verdict      # of the policy's own schedule, before `comply`
    adjusted: list[str]          # what `comply` changed, in French
    prediction: Prediction
    in_force: InForce
    zones: list[str]             # names of the dark zones over the cabinet

    def detail(self, spec: Cabinet) -> dict[str, Any]:
        """What the job keeps in the command's `detail`."""
        return {"night": self.night.isoformat(), "prediction": self.prediction.to_json(),
                "category": spec.category, "safety": spec.safety,
                "policy": {"from": self.in_force.source, **self.in_force.policy.to_json()},
                "dark_zones": self.zones,
                "check": {"ok": self.verdict.ok, "reasons": list(self.verdict.reasons_fr),
                          "adjusted": self.adjusted,
                          "policy_reasons": list(self.policy_verdict.reasons_fr)}}


def plan(spec: Cabinet, night: date, in_force: InForce, zones: list[DarkZone]) -> Plan:
    """The night's schedule of a cabinet under its policy and zones, made compliant."""
    raw = schedule(spec, night, in_force.policy, zones)
    steps, adjusted = comply(spec, night, raw)
    return Plan(night, steps, check(spec, night, steps), check(spec, night, raw), adjusted,
                predict(spec, steps), in_force,
                [z.name for z in zones if z.contains(spec.lat, spec.lon)])


# --- measured energy ------------------------------------------------------------------------------
MEASURE_MARGIN = timedelta(minutes=30)


def energy_index(conn: psycopg.Connection, uid: int, start: datetime,
                 end: datetime) -> list[tuple[datetime, float]]:
    """The cabinet's `energy_kwh` readings from `start` - 30 min to `end` + 30 min."""
    return [(ts, float(v)) for ts, v in conn.execute(
        "select ts, value from readings where device_uid = %s and metric = 'energy_kwh' "
        "and ts >= %s and ts <= %s order by ts",
        (uid, start - MEASURE_MARGIN, end + MEASURE_MARGIN))]


def measurement(steps: list[Step], prediction: Mapping[str, Any],
                points: list[tuple[datetime, float]]) -> dict[str, Any] | None:
    """The night as the meter saw it, against the prediction; None without the readings."""
    kwh = measured_energy(points, steps)
    if kwh is None:
        return None
    full, predicted = float(prediction["full_kwh"]), float(prediction["energy_kwh"])
    saving = full - kwh
    predicted_saving = full - predicted
    return {"energy_kwh": round(kwh, 3), "saving_kwh": round(saving, 3),
            "saving_pct": round(100 * saving / full, 1) if full else 0.0,
            "energy_error_pct": round(100 * (kwh - predicted) / predicted, 2) if predicted
            else None,
            "saving_error_pct": round(100 * (saving - predicted_saving) / predicted_saving, 2)
            if predicted_saving else None}


def steps_of(params: Mapping[str, Any]) -> list[Step]:
    return [Step(datetime.fromisoformat(s["at"].replace("Z", "+00:00")), int(s["level_pct"]))
            for s in params.get("steps") or []]
