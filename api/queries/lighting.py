"""Lighting policies, dark zones and schedules, always within a key's scope (row-level
security confines the tables; the policy in force is read through `lighting_policy_in_force`,
which answers for tenants of the request's scope only)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from analytics.lighting import Policy
from analytics.lighting_store import POLICY_COLUMNS, policy_from_row
from api.errors import Conflict
from api.models_lighting import (
    DarkZoneCreate,
    DarkZonePublic,
    DarkZoneUpdate,
    LightingPolicyBody,
    LightingPolicyPublic,
    ScheduleCheck,
    ScheduleMeasured,
    SchedulePrediction,
    SchedulePublic,
    ScheduleStep,
)

# Policy (analytics/lighting.py) field -> the API's name for it.
API_FIELDS = {"evening_level": "evening_level_pct", "dim_level": "dim_level_pct",
              "morning_level": "morning_level_pct", "safety_level": "safety_level_pct",
              "dusk_offset": "dusk_offset_min", "dawn_offset": "dawn_offset_min",
              "dusk_offset_min": "dusk_offset_min", "dawn_offset_min": "dawn_offset_min"}


def hhmm(t: time | None) -> str | None:
    return None if t is None else t.strftime("%H:%M")


def _time(text: str | None) -> time | None:
    return None if text is None else time.fromisoformat(text)


# --- policies -------------------------------------------------------------------------------
def policy_of(body: LightingPolicyBody) -> Policy:
    return Policy(dusk_offset=timedelta(minutes=body.dusk_offset_min),
                  dawn_offset=timedelta(minutes=body.dawn_offset_min),
                  evening_level=body.evening_level_pct, dim_at=_time(body.dim_at),
                  dim_level=body.dim_level_pct, off_from=_time(body.off_from),
                  off_until=time.fromisoformat(body.off_until),
                  morning_level=body.morning_level_pct, safety_level=body.safety_level_pct)


def problems(body: LightingPolicyBody) -> list[tuple[str, str]]:
    """(API field, reason) of what makes the policy unusable."""
    return [(API_FIELDS.get(name, name), reason) for name, reason in policy_of(body).problems()]


def _public(policy: Policy, *, tenant: str, source: str, from_tenant: str | None,
            updated_at: datetime | None = None, updated_by: str | None = None,
            note: str | None = None) -> LightingPolicyPublic:
    return LightingPolicyPublic(
        tenant=tenant, source=source, from_tenant=from_tenant, updated_at=updated_at,  # type: ignore[arg-type]
        updated_by=updated_by, note=note,
        dusk_offset_min=int(policy.dusk_offset.total_seconds() // 60),
        dawn_offset_min=int(policy.dawn_offset.total_seconds() // 60),
        evening_level_pct=policy.evening_level, dim_at=hhmm(policy.dim_at),
        dim_level_pct=policy.dim_level, off_from=hhmm(policy.off_from),
        off_until=hhmm(policy.off_until) or "05:00", morning_level_pct=policy.morning_level,
        safety_level_pct=policy.safety_level)


_POLICY_SELECT = sql.SQL("select t.slug, {}, p.note, p.updated_at, p.updated_by "
                         "from lighting_policies p join tenants t on t.id = p.tenant_id").format(
    sql.SQL(", ").join(sql.Identifier("p", c) for c in POLICY_COLUMNS))


def list_policies(conn: psycopg.Connection, *, scope: frozenset[int], tenant_id: int | None,
                  limit: int, offset: int) -> tuple[list[LightingPolicyPublic], int]:
    """The policies set in `scope` (not the inherited ones), by tenant slug."""
    where = sql.SQL("p.tenant_id = any(%s) and (%s::int is null or p.tenant_id = %s)")
    params: list[Any] = [list(scope), tenant_id, tenant_id]
    total = conn.execute(sql.SQL("select count(*) from lighting_policies p where {}")
                         .format(where), params).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql.SQL("{} where {} order by t.slug limit %s offset %s")
                           .format(_POLICY_SELECT, where), [*params, limit, offset]).fetchall()
    return ([_public(policy_from_row(r), tenant=r["slug"], source="own", from_tenant=r["slug"],
                     updated_at=r["updated_at"], updated_by=r["updated_by"], note=r["note"])
             for r in rows], int(total[0]) if total else 0)


def policy_in_force(conn: psycopg.Connection, *, tenant_id: int,
                    slug: str) -> LightingPolicyPublic:
    """The tenant's own policy, else the nearest one above it, else the default."""
    with conn.cursor(row_factory=dict_row) as cur:
        own = cur.execute(sql.SQL("{} where p.tenant_id = %s").format(_POLICY_SELECT),
                          (tenant_id,)).fetchone()
        if own is not None:
            return _public(policy_from_row(own), tenant=slug, source="own", from_tenant=slug,
                           updated_at=own["updated_at"], updated_by=own["updated_by"],
                           note=own["note"])
        above = cur.execute("select * from lighting_policy_in_force(%s)", (tenant_id,)).fetchone()
    if above is not None:
        return _public(policy_from_row(above), tenant=slug, source="inherited",
                       from_tenant=above["source_slug"], updated_at=above["updated_at"])
    return _public(Policy(), tenant=slug, source="default", from_tenant=None)


def put_policy(conn: psycopg.Connection, *, tenant_id: int, body: LightingPolicyBody,
               by: str, now: datetime) -> bool:
    """Sets the tenant's policy; True when it had none before."""
    p = policy_of(body)
    row = conn.execute(
        "insert into lighting_policies as l (tenant_id, dusk_offset_min, dawn_offset_min, "
        " evening_level, dim_at, dim_level, off_from, off_until, morning_level, safety_level, "
        " note, updated_at, updated_by) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "on conflict (tenant_id) do update set dusk_offset_min = excluded.dusk_offset_min, "
        "dawn_offset_min = excluded.dawn_offset_min, evening_level = excluded.evening_level, "
        "dim_at = excluded.dim_at, dim_level = excluded.dim_level, off_from = excluded.off_from, "
        "off_until = excluded.off_until, morning_level = excluded.morning_level, "
        "safety_level = excluded.safety_level, note = excluded.note, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by "
        "returning (xmax = 0)",
        (tenant_id, body.dusk_offset_min, body.dawn_offset_min, p.evening_level, p.dim_at,
         p.dim_level, p.off_from, p.off_until, p.morning_level, p.safety_level, body.note, now,
         by)).fetchone()
    return bool(row and row[0])


def delete_policy(conn: psycopg.Connection, *, tenant_id: int) -> bool:
    return conn.execute("delete from lighting_policies where tenant_id = %s",
                        (tenant_id,)).rowcount > 0


# --- dark zones -----------------------------------------------------------------------------
_ZONE_SELECT = sql.SQL(
    "select z.id, t.slug as tenant, z.name, st_asgeojson(z.area) as area, z.level_pct, "
    "z.starts, z.ends, z.reason, z.created_at, z.updated_at, z.updated_by, "
    "(select count(*) from devices d where d.kind = 'lighting_cabinet' "
    "   and d.tenant_id in (select tenant_subtree(z.tenant_id)) "
    "   and st_covers(z.area, d.location::geometry)) as cabinets "
    "from dark_zones z join tenants t on t.id = z.tenant_id")


def _zone(row: dict[str, Any]) -> DarkZonePublic:
    return DarkZonePublic(**{**row, "area": orjson.loads(row["area"]),
                             "starts": hhmm(row["starts"]), "ends": hhmm(row["ends"])})


def list_zones(conn: psycopg.Connection, *, scope: frozenset[int], tenant_id: int | None,
               limit: int, offset: int) -> tuple[list[DarkZonePublic], int]:
    where = sql.SQL("z.tenant_id = any(%s) and (%s::int is null or z.tenant_id = %s)")
    params: list[Any] = [list(scope), tenant_id, tenant_id]
    total = conn.execute(sql.SQL("select count(*) from dark_zones z where {}").format(where),
                         params).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql.SQL("{} where {} order by t.slug, z.name limit %s offset %s")
                           .format(_ZONE_SELECT, where), [*params, limit, offset]).fetchall()
    return [_zone(r) for r in rows], int(total[0]) if total else 0


def get_zone(conn: psycopg.Connection, *, scope: frozenset[int],
             zone_id: int) -> DarkZonePublic | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql.SQL("{} where z.id = %s and z.tenant_id = any(%s)")
                          .format(_ZONE_SELECT), (zone_id, list(scope))).fetchone()
    return None if row is None else _zone(row)


def zone_tenant(conn: psycopg.Connection, *, scope: frozenset[int], zone_id: int) -> int | None:
    row = conn.execute("select tenant_id from dark_zones where id = %s and tenant_id = any(%s)",
                       (zone_id, list(scope))).fetchone()
    return None if row is None else int(row[0])


_AREA = sql.SQL("st_multi(st_setsrid(st_geomfromgeojson(%s), 4326))")


def create_zone(conn: psycopg.Connection, *, tenant_id: int, body: DarkZoneCreate,
                geojson: str, by: str, now: datetime) -> int:
    """Inserts a zone; Conflict when its tenant has one of that name."""
    try:
        with conn.transaction():
            row = conn.execute(
                sql.SQL("insert into dark_zones (tenant_id, name, area, level_pct, starts, ends, "
                        "reason, created_at, updated_at, updated_by) "
                        "values (%s, %s, {}, %s, %s, %s, %s, %s, %s, %s) returning id")
                .format(_AREA),
                (tenant_id, body.name, geojson, body.level_pct, _time(body.starts),
                 _time(body.ends), body.reason, now, now, by)).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"a dark zone named '{body.name}' already exists in this tenant") from exc
    assert row is not None
    return int(row[0])


def update_zone(conn: psycopg.Connection, *, zone_id: int, changes: DarkZoneUpdate,
                geojson: str | None, by: str, now: datetime) -> dict[str, Any]:
    """Applies the fields given; returns them (for the audit log)."""
    given = changes.model_dump(exclude_unset=True)
    sets: list[sql.Composable] = []
    params: list[Any] = []
    for name in ("name", "level_pct", "reason"):
        if name in given:
            sets.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
            params.append(given[name])
    for name in ("starts", "ends"):
        if name in given:
            sets.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
            params.append(_time(given[name]))
    if geojson is not None:
        sets.append(sql.SQL("area = {}").format(_AREA))
        params.append(geojson)
    sets += [sql.SQL("updated_at = %s"), sql.SQL("updated_by = %s")]
    params += [now, by, zone_id]
    try:
        with conn.transaction():
            conn.execute(sql.SQL("update dark_zones set {} where id = %s")
                         .format(sql.SQL(", ").join(sets)), params)
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"a dark zone named '{given.get('name')}' already exists in this "
                       "tenant") from exc
    return {k: v for k, v in given.items() if k != "area"} | (
        {"area": "changed"} if geojson is not None else {})


def delete_zone(conn: psycopg.Connection, *, zone_id: int) -> None:
    conn.execute("delete from dark_zones where id = %s", (zone_id,))


# --- schedules ------------------------------------------------------------------------------
_SCHEDULE_FROM = sql.SQL("commands c join devices d on d.uid = c.device_uid "
                         "join tenants t on t.id = c.tenant_id")


def list_schedules(conn: psycopg.Connection, *, scope: frozenset[int], tenant_id: int | None,
                   device_id: str | None, status: str | None, night: str | None, limit: int,
                   offset: int) -> tuple[list[SchedulePublic], int]:
    """The `set_schedule` commands in `scope`, newest first, with their prediction."""
    conditions: list[sql.Composable] = [sql.SQL("c.type = 'set_schedule'"),
                                        sql.SQL("c.tenant_id = any(%s)")]
    params: list[Any] = [list(scope)]
    for column, value in (("c.tenant_id", tenant_id), ("d.id", device_id),
                          ("c.status", status), ("c.detail ->> 'night'", night)):
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(sql.SQL(column)))
            params.append(value)
    where = sql.SQL(" and ").join(conditions)
    total = conn.execute(sql.SQL("select count(*) from {} where {}").format(_SCHEDULE_FROM, where),
                         params).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("select c.id, t.slug as tenant, d.id as device_id, c.status, c.source, "
                    "c.params, c.detail, c.created_at, c.sent_at, c.acked_at, c.expires_at "
                    "from {} where {} order by c.created_at desc, c.id limit %s offset %s")
            .format(_SCHEDULE_FROM, where), [*params, limit, offset]).fetchall()
    return [_schedule(r) for r in rows], int(total[0]) if total else 0


def _schedule(row: dict[str, Any]) -> SchedulePublic:
    detail = row.pop("detail") or {}
    params = row.pop("params") or {}
    check = detail.get("check")
    policy = detail.get("policy")
    return SchedulePublic(
        **row, night=detail.get("night"),
        steps=[ScheduleStep(**s) for s in params.get("steps") or []],
        prediction=SchedulePrediction(**detail["prediction"]) if "prediction" in detail else None,
        measured=ScheduleMeasured(**detail["measured"]) if "measured" in detail else None,
        check=ScheduleCheck(ok=bool(check.get("ok")), reasons=check.get("reasons", []),
                            adjusted=check.get("adjusted", []),
                            policy_reasons=check.get("policy_reasons", []))
        if isinstance(check, dict) else None,
        policy_from=policy.get("from") if isinstance(policy, dict) else None,
        dark_zones=list(detail.get("dark_zones") or []))
