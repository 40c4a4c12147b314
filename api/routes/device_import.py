"""`POST /devices/import`: registers many devices from a CSV file or a GeoJSON FeatureCollection.

Every row is validated like a registration (`DeviceCreate`); the answer gives one result per
row: `created`, `exists` (same id in the tenant: left unchanged) or `invalid` with the reason
and the line. Valid rows are created together, in the request's transaction, even when other
rows are invalid (as ingest keeps the valid readings of a backlog); `dry_run=true` only
validates (valid rows then read `valid`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import ValidationError

from api.deps import Conn, DeviceManager
from api.errors import Conflict, describe, invalid
from api.models import DeviceCreate, ImportPublic, ImportRowPublic, ImportStatus
from api.queries.devices import create_device
from api.queries.tenants import tenant_in_scope
from phare.tenancy import Principal, audit

router = APIRouter(prefix="/devices", tags=["devices"])

MAX_ROWS = 10_000
MAX_BYTES = 5 * 1024 * 1024
CSV_COLUMNS = ("tenant", "id", "kind", "name", "lat", "lon")  # required; model, dev_eui,
# lorawan_id optional
CSV_TYPES = ("text/csv",)
JSON_TYPES = ("application/geo+json", "application/json")

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example":
                         "tenant,id,kind,name,lat,lon,model,dev_eui\n"
                         "saint-flour,armoire-12,lighting_cabinet,Armoire place d'Armes,"
                         "45.0339,3.0933,,\n"},
            "application/geo+json": {"schema": {
                "type": "object", "required": ["type", "features"],
                "properties": {"type": {"const": "FeatureCollection"},
                               "features": {"type": "array", "maxItems": MAX_ROWS,
                                            "items": {"type": "object"}}}}},
        },
    },
}


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    fields: dict[str, Any]


async def _body(request: Request) -> tuple[str, bytes]:
    """The body and its media type; 413 past MAX_BYTES, 415 for another media type."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in CSV_TYPES + JSON_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            "send text/csv or application/geo+json (a FeatureCollection)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise _too_large()
    return media, bytes(body)


def _too_large() -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                         f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it")


Body = Annotated[tuple[str, bytes], Depends(_body)]


@router.post("/import", openapi_extra=_BODY_DOC,
             responses={403: {"description": "role not allowed"},
                        413: {"description": "the file is larger than 5 MB"},
                        415: {"description": "neither CSV nor GeoJSON"}})
def import_devices(
    conn: Conn, principal: DeviceManager, body: Body,
    dry_run: Annotated[bool, Query(description="validate only, create nothing")] = False,
) -> ImportPublic:
    """Registers the valid devices of a CSV file (header `tenant,id,kind,name,lat,lon` and
    optionally `model,dev_eui,lorawan_id`; `,` or `;`) or a GeoJSON FeatureCollection (Point
    geometries `[lon, lat]`, properties `tenant`, `id`, `kind`, `name`…); at most
    10,000 rows and 5 MB."""
    media, raw = body
    rows = list(_csv_rows(raw) if media in CSV_TYPES else _geojson_rows(raw))
    if len(rows) > MAX_ROWS:
        raise invalid("body", "rows", f"at most {MAX_ROWS} rows per import, not {len(rows)}: "
                      "split the file", len(rows))
    results = _import(conn, principal, rows, dry_run=dry_run)
    counts = {s: sum(r.status == s for r in results) for s in ("created", "exists", "invalid")}
    return ImportPublic(dry_run=dry_run, data=results, count=len(results), **counts)


def _import(conn: Conn, principal: Principal, rows: list[_Row], *,
            dry_run: bool) -> list[ImportRowPublic]:
    results: list[ImportRowPublic] = []
    seen: dict[tuple[str, str], int] = {}
    tenants: dict[str, int | None] = {}
    created: dict[int, list[str]] = {}
    for row in rows:
        def result(status: ImportStatus, reason: str | None = None,
                   row: _Row = row) -> ImportRowPublic:
            tenant, device_id = row.fields.get("tenant"), row.fields.get("id")
            return ImportRowPublic(line=row.line, status=status, reason=reason,
                                   tenant=tenant if isinstance(tenant, str) else None,
                                   id=device_id if isinstance(device_id, str) else None)

        try:
            device = DeviceCreate.model_validate(row.fields)
        except ValidationError as exc:
            results.append(result("invalid", _reason(exc)))
            continue
        if (device.tenant, device.id) in seen:
            results.append(result("invalid", f"same tenant and id as line "
                                             f"{seen[(device.tenant, device.id)]}"))
            continue
        seen[(device.tenant, device.id)] = row.line
        if device.tenant not in tenants:
            tenants[device.tenant] = tenant_in_scope(conn, principal=principal,
                                                     slug=device.tenant, write=True)
        tenant_id = tenants[device.tenant]
        if tenant_id is None:
            results.append(result("invalid", f"this key cannot register devices in tenant "
                                             f"'{device.tenant}'"))
            continue
        if _exists(conn, tenant_id, device.id):
            results.append(result("exists", f"device '{device.id}' already exists in tenant "
                                            f"'{device.tenant}'; left unchanged"))
            continue
        if dry_run:
            taken = device.dev_eui is not None and conn.execute(
                "select 1 from devices where dev_eui = %s", (device.dev_eui,)).fetchone()
            results.append(result("invalid", f"DevEUI {device.dev_eui} is already registered "
                                             "to another device") if taken else result("valid"))
            continue
        try:
            with conn.transaction():  # a savepoint: one refused row leaves the others
                create_device(conn, tenant_id=tenant_id, device=device)
        except Conflict as exc:
            results.append(result("invalid", str(exc)))
            continue
        created.setdefault(tenant_id, []).append(device.id)
        results.append(result("created"))
    for tenant_id, ids in created.items():
        audit(conn, principal.actor, tenant_id=tenant_id, action="device.import",
              target=f"{len(ids)} devices", detail={"ids": ids})
    return results


def _exists(conn: Conn, tenant_id: int, device_id: str) -> bool:
    return conn.execute("select 1 from devices where tenant_id = %s and id = %s",
                        (tenant_id, device_id)).fetchone() is not None


def _reason(exc: ValidationError) -> str:
    """The row's problems in one sentence, without the request-level preamble."""
    errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
    return describe(errors).removeprefix("Invalid request: ").removesuffix(".")


# --- formats ------------------------------------------------------------------------------
def _csv_rows(raw: bytes) -> Iterator[_Row]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid("body", "file", "the CSV file is not UTF-8 text") from exc
    first = text.split("\n", 1)[0]
    # Spreadsheets set to French write `;` (the comma is the decimal separator there).
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise invalid("body", "header", f"the CSV header lacks {', '.join(missing)} (expected "
                      f"{','.join(CSV_COLUMNS)},model,dev_eui)", first[:200])
    reader.fieldnames = header
    for record in reader:
        values = {k: (v.strip() or None) if isinstance(v, str) else None
                  for k, v in record.items() if k is not None}
        if not any(values.values()):
            continue  # a blank line
        lat, lon = values.pop("lat", None), values.pop("lon", None)
        fields: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
        if lat is not None or lon is not None:
            fields["location"] = {"lat": lat, "lon": lon}
        yield _Row(reader.line_num, fields)


def _geojson_rows(raw: bytes) -> Iterator[_Row]:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("body", "file", f"the body is not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection" \
            or not isinstance(document.get("features"), list):
        raise invalid("body", "type", "expected a GeoJSON FeatureCollection with `features`")
    for number, feature in enumerate(document["features"], start=1):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        fields: dict[str, Any] = dict(properties) if isinstance(properties, dict) else {}
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if isinstance(geometry, dict) and geometry.get("type") == "Point" \
                and isinstance(geometry.get("coordinates"), list) \
                and len(geometry["coordinates"]) >= 2:
            lon, lat = geometry["coordinates"][:2]
            fields["location"] = {"lat": lat, "lon": lon}
        elif geometry is not None:
            fields["location"] = "a GeoJSON Point [longitude, latitude]"  # fails validation
        yield _Row(number, fields)
