"""Devices: list, read one, register, change, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from api.deps import Conn, DeviceManager, Reader, TenantFilter, write_scope
from api.errors import Conflict, invalid
from api.models import DeviceCreate, DevicePublic, DevicesPublic, DeviceUpdate
from api.queries.devices import (
    create_device,
    delete_device,
    device_history,
    device_uid,
    get_device,
    list_devices,
    update_device,
)
from api.queries.tenants import tenant_in_scope
from devices.catalogue import KINDS
from phare.tenancy import audit

router = APIRouter(prefix="/devices", tags=["devices"])

DEFAULT_PAGE = 1000
MAX_PAGE = 10_000


def not_found(tenant: str, device_id: str) -> HTTPException:
    # Same answer for "absent" and "out of scope": a key learns nothing about other tenants.
    return HTTPException(status.HTTP_404_NOT_FOUND,
                         f"no device '{device_id}' in tenant '{tenant}'")


@router.get("")
def read_devices(
    conn: Conn,
    principal: Reader,
    tenant_id: TenantFilter,
    kind: Annotated[str | None, Query(description="only devices of this kind")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> DevicesPublic:
    """The devices the key may see, by tenant then id; `count` is the total that match."""
    if kind is not None and kind not in KINDS:
        raise invalid("query", "kind", f"must be one of: {', '.join(sorted(KINDS))}", kind)
    # `visible`: a partner's granted tenants too, their devices filtered by kind in SQL (RLS).
    devices, total = list_devices(conn, scope=principal.visible, tenant_id=tenant_id, kind=kind,
                                  limit=limit, offset=offset)
    return DevicesPublic(data=devices, count=total)


@router.get("/{tenant}/{device_id}")
def read_device(conn: Conn, principal: Reader, tenant: str,
                device_id: str) -> DevicePublic:
    """One device; 404 if it does not exist or its tenant is outside the key's scope."""
    device = get_device(conn, scope=principal.visible, tenant=tenant, device_id=device_id)
    if device is None:
        raise not_found(tenant, device_id)
    return device


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={403: {"description": "role not allowed, or tenant outside the scope"},
                        409: {"description": "the id or the DevEUI is already registered"}})
def register_device(conn: Conn, principal: DeviceManager, body: DeviceCreate, request: Request,
                    response: Response) -> DevicePublic:
    """Registers a device; ingest accepts its messages within 2 seconds."""
    tenant_id = tenant_in_scope(conn, principal=principal, slug=body.tenant, write=True)
    if tenant_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"this key cannot register devices in tenant '{body.tenant}'")
    create_device(conn, tenant_id=tenant_id, device=body)
    audit(conn, principal.actor, tenant_id=tenant_id, action="device.register",
          target=f"{body.tenant}/{body.id}",
          detail={"kind": body.kind, "name": body.name, "dev_eui": body.dev_eui})
    device = get_device(conn, scope=principal.scope, tenant=body.tenant, device_id=body.id)
    assert device is not None  # just inserted, in scope
    response.headers["Location"] = str(
        request.url_for("read_device", tenant=body.tenant, device_id=body.id)
    )
    return device


_CHANGE_RESPONSES: dict[int | str, dict[str, object]] = {
    403: {"description": "role not allowed, or tenant outside the scope"},
    404: {"description": "no such device in the tenant"},
}


@router.patch("/{tenant}/{device_id}",
              responses={**_CHANGE_RESPONSES,
                         409: {"description": "the DevEUI is registered to another device"}})
def change_device(conn: Conn, principal: DeviceManager, tenant: str, device_id: str,
                  body: DeviceUpdate) -> DevicePublic:
    """Changes a device's name, location, model, DevEUI, LoRaWAN id or metadata."""
    tenant_id = write_scope(conn, principal, tenant, "change devices")
    uid = device_uid(conn, scope=principal.own, tenant=tenant, device_id=device_id)
    if uid is None:
        raise not_found(tenant, device_id)
    changed = update_device(conn, uid=uid, changes=body)
    audit(conn, principal.actor, tenant_id=tenant_id, action="device.update",
          target=f"{tenant}/{device_id}", detail=changed)
    device = get_device(conn, scope=principal.own, tenant=tenant, device_id=device_id)
    assert device is not None  # just updated, in scope
    return device


@router.delete("/{tenant}/{device_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**_CHANGE_RESPONSES,
                          409: {"description": "the device has history (readings, events, "
                                "alerts or commands), which is kept: it cannot be deleted"}})
def remove_device(conn: Conn, principal: DeviceManager, tenant: str, device_id: str) -> None:
    """Deletes a device that never reported; one with history is kept (409 says why)."""
    tenant_id = write_scope(conn, principal, tenant, "delete devices")
    uid = device_uid(conn, scope=principal.own, tenant=tenant, device_id=device_id)
    if uid is None:
        raise not_found(tenant, device_id)
    history = device_history(conn, uid=uid)
    if history:
        raise Conflict(f"device '{device_id}' of tenant '{tenant}' has {', '.join(history)}: "
                       "its history is kept, so it cannot be deleted")
    delete_device(conn, uid=uid)
    audit(conn, principal.actor, tenant_id=tenant_id, action="device.delete",
          target=f"{tenant}/{device_id}")
