"""Bulk exports for GIS, spreadsheets and FIWARE brokers: CSV, GeoJSON, NGSI-LD; and the full
export of a tenant (reversibility).

Every export keeps to the key's scope (its tenant and those below) and needs the
`export_data` permission; the full export needs `export_tenant` (admins).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import JSONResponse, StreamingResponse

from api.deps import Conn, RawConn, TenantFilter, require
from api.errors import invalid
from api.exports import archive, csv, geojson, ngsi_ld
from api.models import AlertStatus
from api.params import format_instant, parse_instant, time_window
from api.queries import exports as q
from api.queries.tenants import tenant_in_scope
from devices.catalogue import COMMON_METRICS, DEVICE_ID_PATTERN, KINDS, METRIC_NAME_PATTERN, TENANT_PATTERN
from phare.db import migration_files
from phare.tenancy import Permission, Principal, audit, scope_literal, set_scope

router = APIRouter(prefix="/exports", tags=["exports"])

Exporter = Annotated[Principal, Depends(require(Permission.EXPORT_DATA))]
TenantExporter = Annotated[Principal, Depends(require(Permission.EXPORT_TENANT))]
# The longest window of one readings export; longer ones are several requests.
MAX_READINGS_WINDOW = timedelta(days=31)
TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CSV = "text/csv; charset=utf-8"


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _units(kind: str) -> dict[str, str]:
    metrics = (*KINDS[kind].metrics, *COMMON_METRICS) if kind in KINDS else COMMON_METRICS
    return {m.name: m.unit for m in metrics}


@router.get("/devices.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def export_devices_csv(conn: Conn, principal: Exporter) -> StreamingResponse:
    """Every device of the scope, one line each (position in WGS 84 degrees)."""
    devices = q.list_devices(conn, scope=principal.scope)
    rows = ([d[c] for c in q.DEVICE_HEADER] for d in devices)
    return StreamingResponse(csv.lines(q.DEVICE_HEADER, rows), media_type=_CSV,
                             headers=_attachment("devices.csv"))


@router.get("/readings.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def export_readings_csv(
    raw: RawConn,
    principal: Exporter,
    tenant_id: TenantFilter,
    device: Annotated[str | None, Query(pattern=f"^{DEVICE_ID_PATTERN}$")] = None,
    metric: Annotated[str | None, Query(pattern=f"^{METRIC_NAME_PATTERN}$")] = None,
    from_: Annotated[str | None, Query(
        alias="from", description="RFC 3339, inclusive; default: 24 hours before `to`")] = None,
    to: Annotated[str | None, Query(description="RFC 3339, exclusive; default: now")] = None,
) -> StreamingResponse:
    """Raw readings in [from, to), at most 31 days, streamed as they are read."""
    start, end = time_window(parse_instant("from", from_), parse_instant("to", to),
                             now=datetime.now(UTC))
    if end - start > MAX_READINGS_WINDOW:
        raise invalid("query", "from", f"an export covers at most {MAX_READINGS_WINDOW.days} "
                      "days: split it into several requests", format_instant(start))

    def rows() -> Iterator[tuple[Any, ...]]:
        # The request's scoped transaction has ended when the body is sent: the stream holds
        # its own, with the same scope, for its server-side cursor.
        with raw.transaction():
            set_scope(raw, principal)
            yield from q.stream_readings(raw, scope=principal.scope, start=start, end=end,
                                         tenant_id=tenant_id, device_id=device, metric=metric)

    return StreamingResponse(csv.lines(q.READING_HEADER, rows()), media_type=_CSV,
                             headers=_attachment("readings.csv"))


class GeoJSONResponse(JSONResponse):
    media_type = geojson.MEDIA_TYPE


@router.get("/devices.geojson", response_class=GeoJSONResponse,
            responses={200: {"content": {geojson.MEDIA_TYPE: {}}}})
def export_devices_geojson(conn: Conn, principal: Exporter) -> GeoJSONResponse:
    """Devices as a FeatureCollection of Points (RFC 7946), for QGIS and web maps."""
    devices = q.list_devices(conn, scope=principal.scope)
    features = (geojson.feature(f"{d['tenant']}/{d['id']}", d["lat"], d["lon"], {
        "tenant": d["tenant"], "id": d["id"], "kind": d["kind"], "name": d["name"],
        "model": d["model"], "online": d["online"], "last_seen": format_instant(d["last_seen"])
        if d["last_seen"] else None}) for d in devices)
    return GeoJSONResponse(geojson.collection(features), headers=_attachment("devices.geojson"))


@router.get("/alerts.geojson", response_class=GeoJSONResponse,
            responses={200: {"content": {geojson.MEDIA_TYPE: {}}}})
def export_alerts_geojson(
    conn: Conn,
    principal: Exporter,
    status: AlertStatus | None = None,
    type_: Annotated[str | None, Query(alias="type", description="e.g. flood, fire")] = None,
) -> GeoJSONResponse:
    """Alerts as Points at their device, newest first."""
    if type_ is not None and not TYPE_RE.match(type_):
        raise invalid("query", "type", "must be an alert type such as flood, fire", type_)
    alerts = q.list_alerts(conn, scope=principal.scope, status=status, type=type_)

    def when(instant: datetime | None) -> str | None:
        return format_instant(instant) if instant else None

    features = (geojson.feature(f"alert-{a['id']}", a["lat"], a["lon"], {
        "id": a["id"], "tenant": a["tenant"], "device_id": a["device_id"], "type": a["type"],
        "severity": a["severity"], "status": a["status"], "message": a["message"],
        "opened_at": when(a["opened_at"]), "acknowledged_at": when(a["acknowledged_at"]),
        "resolved_at": when(a["resolved_at"])}) for a in alerts)
    return GeoJSONResponse(geojson.collection(features), headers=_attachment("alerts.geojson"))


class LDResponse(JSONResponse):
    media_type = ngsi_ld.MEDIA_TYPE


@router.get("/ngsi-ld", response_class=LDResponse,
            responses={200: {"content": {ngsi_ld.MEDIA_TYPE: {}}}})
def export_ngsi_ld(
    conn: Conn,
    principal: Exporter,
    type_: Annotated[str | None, Query(
        alias="type", description=f"one of {', '.join(ngsi_ld.TYPES)}; default: all",
        pattern=f"^({'|'.join(ngsi_ld.TYPES)})$")] = None,
    options: Annotated[Literal["normalized", "keyValues"], Query(
        description="`keyValues`: the simplified form (each attribute's value alone), as the "
        "Smart Data Models JSON schemas describe entities")] = "normalized",
) -> LDResponse:
    """The scope as an array of NGSI-LD entities (normalized), after FIWARE Smart Data Models."""
    wanted = {type_} if type_ else set(ngsi_ld.TYPES)
    entities: list[dict[str, Any]] = []
    if wanted - {ngsi_ld.ALERT}:
        devices = q.list_devices(conn, scope=principal.scope)
        latest = q.latest_readings(conn, uids=[d["uid"] for d in devices], now=datetime.now(UTC))
        for d in devices:
            values = latest.get(d["uid"], {})
            is_cabinet = d["kind"] == ngsi_ld.CABINET_KIND
            if (ngsi_ld.CABINET if is_cabinet else ngsi_ld.DEVICE) in wanted:
                entities.append(ngsi_ld.device_entity(d, values))
            if ngsi_ld.MEASUREMENT in wanted:
                units = _units(d["kind"])
                entities.extend(ngsi_ld.measurement_entity(d, metric, reading, units.get(metric))
                                for metric, reading in sorted(values.items()))
    if ngsi_ld.ALERT in wanted:
        entities.extend(ngsi_ld.alert_entity(a) for a in
                        q.list_alerts(conn, scope=principal.scope, status=None, type=None))
    if options == "keyValues":
        entities = [ngsi_ld.key_values(e) for e in entities]
    return LDResponse(entities)


@router.get("/full", response_class=StreamingResponse,
            responses={200: {"content": {archive.MEDIA_TYPE: {}},
                             "description": "a ZIP archive: one CSV per table, manifest.json, "
                             "LISEZMOI.txt"},
                       404: {"description": "no such tenant in the key's scope"}})
def export_full(
    conn: Conn,
    raw: RawConn,
    principal: TenantExporter,
    tenant: Annotated[str | None, Query(
        pattern=f"^{TENANT_PATTERN}$",
        description="the tenant exported with those below it; default: the key's")] = None,
) -> StreamingResponse:
    """Everything of a tenant and the tenants below it, to leave Phare or restore elsewhere:
    devices, readings (raw and rollups), events, alerts and their history, commands, rejected
    messages, users, keys (without secrets), partner grants, the audit log and the alert
    configuration, as a ZIP archive streamed as it is read (docs/export.md). Audited."""
    slug = tenant or principal.tenant
    # Partners' granted tenants are theirs to read, not to take away: `scope` only.
    tenant_id = tenant_in_scope(conn, principal=principal, slug=slug, write=True)
    if tenant_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tenant '{slug}'")
    row = conn.execute("select name, array(select tenant_subtree(%s)) from tenants where id = %s",
                       (tenant_id, tenant_id)).fetchone()
    assert row is not None
    root = archive.Root(slug=slug, name=row[0],
                        tenant_ids=tuple(i for i in row[1] if i in principal.scope))
    audit(conn, principal.actor, tenant_id=tenant_id, action="tenant.export", target=slug,
          detail={"tenants": len(root.tenant_ids), "format": archive.FORMAT})
    now = datetime.now(UTC)

    def body() -> Iterator[bytes]:
        # Its own transaction, one snapshot for every table, confined by row-level security to
        # the exported tenants (the key may see more).
        with raw.transaction():
            archive.snapshot(raw)
            raw.execute("select set_config('phare.tenant_ids', %s, true), "
                        "set_config('phare.partner_id', '', true)",
                        (scope_literal(set(root.tenant_ids)),))
            yield from archive.stream(raw, root, now=now,
                                      schema_version=migration_files()[-1][0])

    name = f"phare-{slug}-{now:%Y%m%d}.zip"
    return StreamingResponse(body(), media_type=archive.MEDIA_TYPE, headers=_attachment(name))
