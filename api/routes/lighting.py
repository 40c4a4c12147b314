"""Public lighting settings: each tenant's night dimming policy, and dark zones for biodiversity.

The lighting job (analytics/jobs/lighting.py) reads them to compute every cabinet's schedule:
a tenant without a policy of its own follows the nearest tenant above it that has one, else
the default; a dark zone caps the cabinets of its tenant and of the tenants below it that stand
inside. Reading needs `read_data`; changing needs `send_commands` (they decide what the
cabinets do: admin, technician, operator). Every change is audited. A tenant outside the key's
scope answers 404 to a read and 403 to a change (contract §5).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from api.deps import Conn, Reader, TenantFilter, require, write_scope
from api.errors import invalid
from api.models_lighting import (
    DarkZoneCreate,
    DarkZonePublic,
    DarkZonesPublic,
    DarkZoneUpdate,
    LightingPoliciesPublic,
    LightingPolicyBody,
    LightingPolicyPublic,
)
from api.queries import lighting as q
from api.queries.tenants import tenant_in_scope
from commands import targets
from commands.errors import InvalidCommand
from phare.tenancy import Permission, Principal, audit

router = APIRouter(prefix="/lighting", tags=["lighting"])

Planner = Annotated[Principal, Depends(require(Permission.SEND_COMMANDS))]

DEFAULT_PAGE = 100
MAX_PAGE = 1000
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "role not allowed, or tenant outside the key's scope"},
}


def _tenant_or_404(conn: Conn, principal: Principal, slug: str) -> int:
    tenant_id = tenant_in_scope(conn, principal=principal, slug=slug)
    if tenant_id is None or tenant_id not in principal.scope:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tenant '{slug}'")
    return tenant_id


# --- policies -------------------------------------------------------------------------------
@router.get("/policies")
def read_policies(
    conn: Conn, principal: Reader, tenant_id: TenantFilter,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> LightingPoliciesPublic:
    """The policies set in the key's tenants (each tenant's own; see one tenant's policy in
    force, inherited or default, at /lighting/policies/{tenant})."""
    data, total = q.list_policies(conn, scope=principal.scope, tenant_id=tenant_id, limit=limit,
                                  offset=offset)
    return LightingPoliciesPublic(data=data, count=total)


@router.get("/policies/{tenant}", responses={404: {"description": "no such tenant in scope"}})
def read_policy(conn: Conn, principal: Reader, tenant: str) -> LightingPolicyPublic:
    """The policy the tenant's cabinets follow: its own, or inherited, or the default."""
    tenant_id = _tenant_or_404(conn, principal, tenant)
    return q.policy_in_force(conn, tenant_id=tenant_id, slug=tenant)


@router.put("/policies/{tenant}",
            responses={**_WRITE, 201: {"description": "the tenant had no policy of its own",
                                       "model": LightingPolicyPublic},
                       422: {"description": "an unusable policy, with the reasons"}})
def set_policy(conn: Conn, principal: Planner, tenant: str, body: LightingPolicyBody,
               response: Response) -> LightingPolicyPublic:
    """Sets the tenant's own policy (replacing it); the tenants below it that have none follow
    it. 201 when the tenant had none, 200 when it is replaced."""
    tenant_id = write_scope(conn, principal, tenant, "set lighting policies")
    reasons = q.problems(body)
    if reasons:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", name),
                                       "msg": reason, "input": getattr(body, name, None)}
                                      for name, reason in reasons])
    created = q.put_policy(conn, tenant_id=tenant_id, body=body, by=principal.actor.label,
                           now=datetime.now(UTC))
    audit(conn, principal.actor, tenant_id=tenant_id,
          action="lighting_policy.create" if created else "lighting_policy.update",
          target=tenant, detail=body.model_dump())
    if created:
        response.status_code = status.HTTP_201_CREATED
    return q.policy_in_force(conn, tenant_id=tenant_id, slug=tenant)


@router.delete("/policies/{tenant}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**_WRITE, 404: {"description": "the tenant has no policy of its own"}})
def remove_policy(conn: Conn, principal: Planner, tenant: str) -> None:
    """Removes the tenant's own policy: it follows the tenants above it (or the default)."""
    tenant_id = write_scope(conn, principal, tenant, "remove lighting policies")
    if not q.delete_policy(conn, tenant_id=tenant_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"tenant '{tenant}' has no lighting policy of its own")
    audit(conn, principal.actor, tenant_id=tenant_id, action="lighting_policy.delete",
          target=tenant)


# --- dark zones -----------------------------------------------------------------------------
@contextmanager
def _area_422() -> Iterator[None]:
    try:
        yield
    except InvalidCommand as exc:
        raise invalid("body", exc.field.replace("zone", "area", 1), exc.message) from exc


def _area(conn: Conn, area: dict[str, Any]) -> str:
    """The GeoJSON of a valid (Multi)Polygon; 422 otherwise."""
    with _area_422():
        zone = targets.parse_zone(area)
        assert zone is not None and zone.geojson is not None
        targets.check_zone(conn, zone, field="area")
    return zone.geojson


def _window(starts: str | None, ends: str | None) -> None:
    if (starts is None) != (ends is None):
        raise invalid("body", "starts" if starts is None else "ends",
                      "give both 'starts' and 'ends' (a window of the night), or neither "
                      "(all night)")


def _zone_or_404(conn: Conn, principal: Principal, zone_id: int) -> DarkZonePublic:
    zone = q.get_zone(conn, scope=principal.scope, zone_id=zone_id)
    if zone is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dark zone {zone_id}")
    return zone


@router.get("/dark-zones")
def read_zones(
    conn: Conn, principal: Reader, tenant_id: TenantFilter,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> DarkZonesPublic:
    """The dark zones of the key's tenants, by tenant then name."""
    data, total = q.list_zones(conn, scope=principal.scope, tenant_id=tenant_id, limit=limit,
                               offset=offset)
    return DarkZonesPublic(data=data, count=total)


@router.get("/dark-zones/{zone_id}", responses={404: {"description": "no such zone in scope"}})
def read_zone(conn: Conn, principal: Reader,
              zone_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> DarkZonePublic:
    """One dark zone."""
    return _zone_or_404(conn, principal, zone_id)


@router.post("/dark-zones", status_code=status.HTTP_201_CREATED,
             responses={**_WRITE, 409: {"description": "the tenant has a zone of that name"},
                        422: {"description": "an invalid zone, with the reason"}})
def create_zone(conn: Conn, principal: Planner, body: DarkZoneCreate, request: Request,
                response: Response) -> DarkZonePublic:
    """Adds a dark zone: the tenant's cabinets inside (and those of the tenants below it) are
    capped at `level_pct` from the next schedule on."""
    tenant_id = write_scope(conn, principal, body.tenant, "add dark zones")
    _window(body.starts, body.ends)
    geojson = _area(conn, body.area)
    zone_id = q.create_zone(conn, tenant_id=tenant_id, body=body, geojson=geojson,
                            by=principal.actor.label, now=datetime.now(UTC))
    zone = _zone_or_404(conn, principal, zone_id)
    audit(conn, principal.actor, tenant_id=tenant_id, action="dark_zone.create",
          target=f"{body.tenant}/{body.name}",
          detail={"id": zone_id, "level_pct": body.level_pct, "starts": body.starts,
                  "ends": body.ends, "cabinets": zone.cabinets})
    response.headers["Location"] = str(request.url_for("read_zone", zone_id=zone_id))
    return zone


@router.patch("/dark-zones/{zone_id}",
              responses={**_WRITE, 404: {"description": "no such zone in scope"},
                         409: {"description": "the tenant has another zone of that name"},
                         422: {"description": "an invalid change, with the reason"}})
def change_zone(conn: Conn, principal: Planner,
                zone_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                body: DarkZoneUpdate) -> DarkZonePublic:
    """Changes a dark zone's name, area, level, window or reason."""
    current = _zone_or_404(conn, principal, zone_id)
    tenant_id = write_scope(conn, principal, current.tenant, "change dark zones")
    given = body.model_dump(exclude_unset=True)
    for name in ("name", "level_pct", "area"):
        if name in given and given[name] is None:
            raise invalid("body", name, "cannot be null", None)
    _window(given.get("starts", current.starts), given.get("ends", current.ends))
    geojson = _area(conn, body.area) if body.area is not None else None
    changed = q.update_zone(conn, zone_id=zone_id, changes=body, geojson=geojson,
                            by=principal.actor.label, now=datetime.now(UTC))
    audit(conn, principal.actor, tenant_id=tenant_id, action="dark_zone.update",
          target=f"{current.tenant}/{current.name}", detail={"id": zone_id, **changed})
    return _zone_or_404(conn, principal, zone_id)


@router.delete("/dark-zones/{zone_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**_WRITE, 404: {"description": "no such zone in scope"}})
def remove_zone(conn: Conn, principal: Planner,
                zone_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> None:
    """Removes a dark zone: its cabinets follow their policy again from the next schedule."""
    current = _zone_or_404(conn, principal, zone_id)
    tenant_id = write_scope(conn, principal, current.tenant, "remove dark zones")
    q.delete_zone(conn, zone_id=zone_id)
    audit(conn, principal.actor, tenant_id=tenant_id, action="dark_zone.delete",
          target=f"{current.tenant}/{current.name}", detail={"id": zone_id})
