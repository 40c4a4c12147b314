"""The devices a command goes to: one device, or a selection (a tenant, a zone, a list of ids).

Zones are GeoJSON polygons (or multipolygons) in WGS 84, `[longitude, latitude]` as GeoJSON
says, or a bounding box `[west, south, east, north]`; PostGIS selects the devices whose
location intersects them, so a cabinet on the zone's edge is in it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from commands.errors import InvalidCommand

MAX_TARGETS = 10_000  # one request; a département's cabinets, not the whole platform


@dataclass(frozen=True, slots=True)
class Target:
    """A device as commands see it: who it is, how to reach it, when it was last heard."""

    uid: int
    tenant_id: int
    tenant: str
    id: str
    kind: str
    model: str | None
    dev_eui: str | None
    lorawan_id: str | None
    metadata: dict[str, Any]
    online: bool | None
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class Zone:
    """A GeoJSON polygon or multipolygon (as text), or a bounding box."""

    geojson: str | None = None
    bbox: tuple[float, float, float, float] | None = None

    def condition(self) -> tuple[sql.Composable, list[Any]]:
        if self.bbox is not None:
            return (sql.SQL("st_intersects(d.location::geometry, "
                            "st_makeenvelope(%s, %s, %s, %s, 4326))"), list(self.bbox))
        return (sql.SQL("st_intersects(d.location::geometry, "
                        "st_setsrid(st_geomfromgeojson(%s), 4326))"), [self.geojson])


_COLUMNS = sql.SQL(
    "d.uid, d.tenant_id, t.slug as tenant, d.id, d.kind, d.model, d.dev_eui, d.lorawan_id, "
    "d.metadata, d.online, d.last_seen"
)
_FROM = sql.SQL("devices d join tenants t on t.id = d.tenant_id")


def device(conn: psycopg.Connection, *, scope: frozenset[int], tenant: str,
           device_id: str) -> Target | None:
    """The device `device_id` of tenant `tenant`, if it exists within `scope`."""
    with conn.cursor(row_factory=class_row(Target)) as cur:
        return cur.execute(
            sql.SQL("select {} from {} where d.tenant_id = any(%s) and t.slug = %s and d.id = %s")
            .format(_COLUMNS, _FROM),
            (list(scope), tenant, device_id),
        ).fetchone()


def select(conn: psycopg.Connection, *, tenant_id: int, kinds: Sequence[str],
           zone: Zone | None = None) -> list[Target]:
    """Devices of `kinds` in the tenant and those below it, in `zone` if given, by tenant and
    id; at most MAX_TARGETS + 1 (the caller refuses more than MAX_TARGETS)."""
    conditions: list[sql.Composable] = [
        sql.SQL("d.tenant_id in (select tenant_subtree(%s))"), sql.SQL("d.kind = any(%s)")]
    params: list[Any] = [tenant_id, list(kinds)]
    if zone is not None:
        condition, zone_params = zone.condition()
        conditions.append(condition)
        params.extend(zone_params)
    with conn.cursor(row_factory=class_row(Target)) as cur:
        return cur.execute(
            sql.SQL("select {} from {} where {} order by t.slug, d.id limit %s")
            .format(_COLUMNS, _FROM, sql.SQL(" and ").join(conditions)),
            [*params, MAX_TARGETS + 1],
        ).fetchall()


def devices_by_id(conn: psycopg.Connection, *, tenant_id: int,
                  device_ids: Sequence[str]) -> dict[str, Target]:
    """The listed devices of the tenant itself (ids are unique within a tenant, not below it),
    whatever their kind, by id."""
    with conn.cursor(row_factory=class_row(Target)) as cur:
        rows = cur.execute(
            sql.SQL("select {} from {} where d.tenant_id = %s and d.id = any(%s)")
            .format(_COLUMNS, _FROM),
            (tenant_id, list(device_ids)),
        ).fetchall()
    return {r.id: r for r in rows}


# --- zones -------------------------------------------------------------------------------
def parse_zone(zone: Any = None, bbox: Any = None, *, prefix: str = "") -> Zone | None:
    """A zone from a GeoJSON geometry (or Feature) or a bbox; None when neither is given.

    `prefix` locates the fields in the request body for error messages (`target.`).
    """
    field = f"{prefix}zone"
    if zone is not None and bbox is not None:
        raise InvalidCommand(field, "give either a GeoJSON 'zone' or a 'bbox', not both")
    if bbox is not None:
        return Zone(bbox=_bbox(bbox, f"{prefix}bbox"))
    if zone is None:
        return None
    if isinstance(zone, Mapping) and zone.get("type") == "Feature":
        zone = zone.get("geometry")
    if not isinstance(zone, Mapping) or zone.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidCommand(field, "must be a GeoJSON Polygon or MultiPolygon (or a Feature "
                             "holding one)")
    coordinates = zone.get("coordinates")
    polygons = [coordinates] if zone["type"] == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        raise InvalidCommand(f"{field}.coordinates", "must be a non-empty list of polygons")
    for polygon in polygons:
        _polygon(polygon, f"{field}.coordinates")
    return Zone(geojson=json.dumps({"type": zone["type"], "coordinates": coordinates}))


def check_zone(conn: psycopg.Connection, zone: Zone, *, field: str = "zone") -> None:
    """InvalidCommand when PostGIS finds the polygon invalid (e.g. its edges cross)."""
    if zone.geojson is None:
        return
    try:
        with conn.transaction():
            row = conn.execute(
                "select st_isvalid(g), st_isvalidreason(g) "
                "from (select st_geomfromgeojson(%s) as g) z", (zone.geojson,)
            ).fetchone()
    except psycopg.DataError as exc:  # PostGIS's own reading of the GeoJSON
        raise InvalidCommand(field, f"is not a usable GeoJSON geometry: {exc.diag.message_primary}") \
            from exc
    if row is not None and not row[0]:
        raise InvalidCommand(field, f"is not a valid polygon: {row[1]}")


def _polygon(polygon: Any, where: str) -> None:
    if not isinstance(polygon, list) or not polygon:
        raise InvalidCommand(where, "a polygon must be a non-empty list of linear rings")
    for ring in polygon:
        if not isinstance(ring, list) or len(ring) < 4:
            raise InvalidCommand(where, "a polygon's ring must have at least 4 positions")
        for position in ring:
            _position(position, where)
        if ring[0] != ring[-1]:
            raise InvalidCommand(where, "a polygon's ring must end where it starts (closed)")


def _position(position: Any, where: str) -> None:
    if (not isinstance(position, list) or len(position) < 2
            or not all(_finite(v) for v in position)):
        raise InvalidCommand(where, f"a position must be [longitude, latitude], got {position!r:.60}")
    lon, lat = position[0], position[1]
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidCommand(where, f"position {position!r:.60} is outside [-180, 180] x [-90, 90] "
                             "(GeoJSON puts the longitude first)")


def _bbox(bbox: Any, field: str) -> tuple[float, float, float, float]:
    if not isinstance(bbox, list | tuple) or len(bbox) != 4 or not all(_finite(v) for v in bbox):
        raise InvalidCommand(field, "must be [west, south, east, north] in degrees")
    west, south, east, north = (float(v) for v in bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidCommand(field, f"[{west}, {south}, {east}, {north}] is not a box: it must be "
                             "[west, south, east, north] with west < east and south < north")
    return west, south, east, north


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
