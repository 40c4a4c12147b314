"""Commands to devices: to one device, to a group (tenant, zone, list), an emergency force-on;
listing and reading them.

Commands are queued here and sent by the dispatcher (`phare worker`): a 201 means queued, and
the command's `status` says what became of it. Sending needs the permission `send_commands`
(admin, technician, operator); a viewer only reads. A tenant the key may not change answers
403 to a command, and one outside its scope 404 to a read (contract §5).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from api.deps import Conn, Reader, TenantFilter, get_settings, require, write_scope
from api.errors import invalid
from api.models import (
    CommandCreate,
    CommandGroupCreate,
    CommandGroupPublic,
    CommandPublic,
    CommandsPublic,
    CommandStatus,
    ForceOnCreate,
)
from api.queries.commands import get_command, list_commands
from api.routes.devices import not_found
from commands import targets
from commands.errors import InvalidCommand
from commands.params import kinds_taking
from commands.service import (
    PRIORITY_EMERGENCY,
    Group,
    Policy,
    Source,
    force_on_orders,
    prepare,
    queue_command,
    queue_group,
)
from phare.settings import Settings
from phare.tenancy import Permission, Principal

router = APIRouter(tags=["commands"])

Commander = Annotated[Principal, Depends(require(Permission.SEND_COMMANDS))]
AppSettings = Annotated[Settings, Depends(get_settings)]

DEFAULT_PAGE = 100
MAX_PAGE = 10_000
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "role not allowed, or tenant outside the key's scope"},
    422: {"description": "invalid command, with the reason"},
}


@router.post("/devices/{tenant}/{device_id}/commands", status_code=status.HTTP_201_CREATED,
             responses={**_WRITE_ERRORS, 404: {"description": "no such device in the tenant"}})
def send_command(conn: Conn, principal: Commander, settings: AppSettings, request: Request,
                 response: Response, tenant: str, device_id: str,
                 body: CommandCreate) -> CommandPublic:
    """Queues a command to one device."""
    now = datetime.now(UTC)
    write_scope(conn, principal, tenant, "send commands")
    target = targets.device(conn, scope=principal.own, tenant=tenant, device_id=device_id)
    if target is None:
        raise not_found(tenant, device_id)
    with _as_422():
        order = prepare(body.type, body.params, expires=body.expires, now=now,
                        policy=Policy.from_settings(settings))
        command_id = queue_command(conn, target, order, now=now, actor=principal.actor)
    response.headers["Location"] = str(request.url_for("read_command", command_id=command_id))
    command = get_command(conn, scope=principal.scope, command_id=command_id)
    assert command is not None  # just queued, in scope
    return command


@router.post("/commands", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
def send_group_command(conn: Conn, principal: Commander, settings: AppSettings,
                       body: CommandGroupCreate) -> CommandGroupPublic:
    """Queues a command to every device of a tenant, of a zone, or of a list of ids."""
    now = datetime.now(UTC)
    selector = body.target
    slug = selector.tenant or principal.tenant
    tenant_id = write_scope(conn, principal, slug, "send commands")
    with _as_422():
        zone = targets.parse_zone(selector.zone, selector.bbox, prefix="target.")
        if zone is not None and selector.devices is not None:
            raise InvalidCommand("target", "give either 'devices' or a zone, not both")
        order = prepare(body.type, body.params, expires=body.expires, now=now,
                        policy=Policy.from_settings(settings))
        if selector.devices is not None:
            selected = _listed(conn, tenant_id, slug, selector.devices, body.type)
        else:
            if zone is not None:
                targets.check_zone(conn, zone, field="target.zone")
            selected = targets.select(conn, tenant_id=tenant_id, kinds=kinds_taking(body.type),
                                      zone=zone)
            _check_selection(selected, slug, body.type, field="target", zoned=zone is not None)
        group = Group(tenant_id, body.type, order.params,
                      selector.model_dump(exclude_none=True) | {"tenant": slug})
        queued = queue_group(conn, selected, [order], group, now=now,
                             actor=principal.actor)
    return _group_public(conn, principal, queued.group_id, len(selected), queued.undeliverable)


@router.post("/commands/force-on", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
def force_on(conn: Conn, principal: Commander, body: ForceOnCreate) -> CommandGroupPublic:
    """Emergency: every lighting cabinet of a zone on at 100 % until the given time, before any
    other command. As rescue services ask at night; audited with its reason."""
    now = datetime.now(UTC)
    slug = body.tenant or principal.tenant
    tenant_id = write_scope(conn, principal, slug, "send commands")
    with _as_422():
        zone = targets.parse_zone(body.zone, body.bbox)
        assert zone is not None  # the model requires one
        targets.check_zone(conn, zone)
        until = body.until or now + timedelta(minutes=body.duration_minutes or 0)
        orders = force_on_orders(until, now=now)
        selected = targets.select(conn, tenant_id=tenant_id, kinds=("lighting_cabinet",),
                                  zone=zone)
        _check_selection(selected, slug, "switch", field="zone", zoned=True)
        group = Group(tenant_id, "force_on", {"on": True, "level_pct": 100,
                                              "until": orders[0].params["until"]},
                      body.model_dump(mode="json", exclude_none=True, exclude={"reason"})
                      | {"tenant": slug}, reason=body.reason)
        queued = queue_group(conn, selected, orders, group, now=now,
                             actor=principal.actor, source=Source.FORCE_ON,
                             priority=PRIORITY_EMERGENCY)
    return _group_public(conn, principal, queued.group_id, len(selected), queued.undeliverable)


@router.get("/commands")
def read_commands(
    conn: Conn,
    principal: Reader,
    tenant_id: TenantFilter,
    status: Annotated[CommandStatus | None, Query(description="only commands in this status")] = None,
    device: Annotated[str | None, Query(description="only commands to this device id")] = None,
    group: Annotated[uuid.UUID | None, Query(description="only the commands of this group")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> CommandsPublic:
    """The commands the key may see, newest first; `count` is the total that match."""
    data, total = list_commands(conn, scope=principal.scope, tenant_id=tenant_id, status=status,
                                device_id=device, group_id=group, limit=limit, offset=offset)
    return CommandsPublic(data=data, count=total)


@router.get("/commands/{command_id}")
def read_command(conn: Conn, principal: Reader, command_id: uuid.UUID) -> CommandPublic:
    """One command with its history; 404 if it does not exist or is outside the key's scope."""
    command = get_command(conn, scope=principal.scope, command_id=command_id)
    if command is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no command {command_id}")
    return command


# --- helpers ------------------------------------------------------------------------------
@contextmanager
def _as_422() -> Iterator[None]:
    """Turns InvalidCommand into the API's 422, naming the input at fault."""
    try:
        yield
    except InvalidCommand as exc:
        source, name = ("path", "device_id") if exc.field == "device" else ("body", exc.field)
        raise invalid(source, name, exc.message) from exc


def _listed(conn: Conn, tenant_id: int, slug: str, ids: Sequence[str],
            command_type: str) -> list[targets.Target]:
    wanted = list(dict.fromkeys(ids))
    found = targets.devices_by_id(conn, tenant_id=tenant_id, device_ids=wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        raise InvalidCommand("target.devices", f"no device {', '.join(map(repr, missing[:20]))} "
                             f"in tenant '{slug}'")
    kinds = kinds_taking(command_type)
    wrong = [found[i] for i in wanted if found[i].kind not in kinds]
    if wrong:
        raise InvalidCommand("target.devices", f"'{wrong[0].id}' is a {wrong[0].kind}, which "
                             f"takes no '{command_type}' command")
    return [found[i] for i in wanted]


def _check_selection(selected: list[targets.Target], slug: str, command_type: str, *,
                     field: str, zoned: bool) -> None:
    if len(selected) > targets.MAX_TARGETS:
        raise InvalidCommand(field, f"selects more than {targets.MAX_TARGETS} devices: narrow "
                             "it (a smaller zone, a tenant below)")
    if not selected:
        kinds = " or ".join(kinds_taking(command_type))
        where = " in the zone (GeoJSON puts the longitude first: [lon, lat])" if zoned else ""
        raise InvalidCommand(field, f"selects no device: no {kinds} in tenant '{slug}' "
                             f"(or below it){where}")


def _group_public(conn: Conn, principal: Principal, group_id: uuid.UUID, devices: int,
                  undeliverable: int) -> CommandGroupPublic:
    data, total = list_commands(conn, scope=principal.scope, group_id=group_id,
                                limit=2 * targets.MAX_TARGETS)
    return CommandGroupPublic(group_id=group_id, devices=devices, count=total,
                              undeliverable=undeliverable, data=data)

