"""Devices: listing, lookup, registration, changes and deletion, always within a key's scope."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.errors import Conflict
from api.models import DeviceCreate, DevicePublic, DeviceUpdate, Location

_COLUMNS = sql.SQL(
    "d.id, t.slug as tenant, d.kind, d.name, d.model, "
    "st_y(d.location::geometry) as lat, st_x(d.location::geometry) as lon, "
    "d.dev_eui, d.lorawan_id, d.metadata, d.last_seen, d.online"
)
_FROM = sql.SQL("devices d join tenants t on t.id = d.tenant_id")


def _public(row: dict[str, Any]) -> DevicePublic:
    lat, lon = row.pop("lat"), row.pop("lon")
    location = None if lat is None else Location(lat=lat, lon=lon)
    return DevicePublic(location=location, **row)


def _where(scope: frozenset[int], tenant_id: int | None, kind: str | None,
           device_id: str | None = None) -> tuple[sql.Composed, list[Any]]:
    conditions: list[sql.Composable] = [sql.SQL("d.tenant_id = any(%s)")]
    params: list[Any] = [list(scope)]
    for column, value in (("tenant_id", tenant_id), ("kind", kind), ("id", device_id)):
        if value is not None:
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier("d", column)))
            params.append(value)
    return sql.SQL(" and ").join(conditions), params


def list_devices(
    conn: psycopg.Connection, *, scope: frozenset[int], tenant_id: int | None = None,
    kind: str | None = None, limit: int, offset: int,
) -> tuple[list[DevicePublic], int]:
    """One page of the devices in `scope` (by tenant, then id) and the total that match."""
    where, params = _where(scope, tenant_id, kind)
    total = conn.execute(
        sql.SQL("select count(*) from devices d where {}").format(where), params
    ).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("select {} from {} where {} order by t.slug, d.id limit %s offset %s")
            .format(_COLUMNS, _FROM, where),
            [*params, limit, offset],
        ).fetchall()
    return [_public(r) for r in rows], int(total[0]) if total else 0


def get_device(
    conn: psycopg.Connection, *, scope: frozenset[int], tenant: str, device_id: str
) -> DevicePublic | None:
    """The device `device_id` of tenant `tenant`, if it exists within `scope`."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("select {} from {} where d.tenant_id = any(%s) and t.slug = %s and d.id = %s")
            .format(_COLUMNS, _FROM),
            (list(scope), tenant, device_id),
        ).fetchone()
    return None if row is None else _public(row)


def device_uid(
    conn: psycopg.Connection, *, scope: frozenset[int], tenant: str, device_id: str
) -> int | None:
    """The surrogate key of a device within `scope` (what readings refer to)."""
    row = conn.execute(
        "select d.uid from devices d join tenants t on t.id = d.tenant_id "
        "where d.tenant_id = any(%s) and t.slug = %s and d.id = %s",
        (list(scope), tenant, device_id),
    ).fetchone()
    return None if row is None else int(row[0])


def create_device(conn: psycopg.Connection, *, tenant_id: int, device: DeviceCreate) -> None:
    """Registers a device; raises Conflict if its id (in its tenant) or its DevEUI is taken."""
    try:
        conn.execute(
            "insert into devices "
            "(tenant_id, id, kind, name, model, location, dev_eui, lorawan_id, metadata) "
            "values (%s, %s, %s, %s, %s, "
            "        st_setsrid(st_makepoint(%s, %s), 4326)::geography, %s, %s, %s)",
            (tenant_id, device.id, device.kind, device.name, device.model,
             device.location.lon, device.location.lat, device.dev_eui, device.lorawan_id,
             Jsonb(device.metadata)),
        )
    except psycopg.errors.UniqueViolation as exc:
        if "dev_eui" in (exc.diag.constraint_name or ""):
            raise Conflict(
                f"DevEUI {device.dev_eui} is already registered to another device"
            ) from exc
        raise Conflict(
            f"device '{device.id}' already exists in tenant '{device.tenant}'"
        ) from exc


def update_device(conn: psycopg.Connection, *, uid: int, changes: DeviceUpdate) -> dict[str, Any]:
    """Applies the fields sent in `changes`; returns them as stored (raises Conflict on a
    DevEUI taken by another device)."""
    sent = changes.model_dump(include=changes.model_fields_set)
    assignments: list[sql.Composable] = []
    params: list[Any] = []
    for column, value in sent.items():
        if column == "location":
            assignments.append(sql.SQL(
                "location = st_setsrid(st_makepoint(%s, %s), 4326)::geography"))
            params += [value["lon"], value["lat"]]
        else:
            assignments.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(Jsonb(value) if column == "metadata" else value)
    try:
        conn.execute(sql.SQL("update devices set {} where uid = %s")
                     .format(sql.SQL(", ").join(assignments)), [*params, uid])
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"DevEUI {changes.dev_eui} is already registered to another device") from exc
    return sent


# What keeps a device: its history (time series, never deleted by the API) and the rows that
# refer to it. Checked in this order; the first found is the reason given.
_HISTORY = (
    ("readings", "readings"),
    ("events", "events"),
    ("alerts", "alerts"),
    ("commands", "commands"),
)


def device_history(conn: psycopg.Connection, *, uid: int) -> list[str]:
    """The kinds of rows that refer to the device (readings, events, alerts, commands)."""
    found = []
    for table, label in _HISTORY:
        row = conn.execute(sql.SQL("select exists (select 1 from {} where device_uid = %s)")
                           .format(sql.Identifier(table)), (uid,)).fetchone()
        if row and row[0]:
            found.append(label)
    return found


def delete_device(conn: psycopg.Connection, *, uid: int) -> bool:
    """Deletes a device that has no history; False if it was gone already."""
    try:
        return conn.execute("delete from devices where uid = %s", (uid,)).rowcount == 1
    except psycopg.errors.ForeignKeyViolation as exc:  # a row referring to it arrived meanwhile
        raise Conflict("the device has history (alerts or commands) and cannot be deleted") from exc
