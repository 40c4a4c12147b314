"""Dimming schedules: the `set_schedule` commands of the key's cabinets, with what the lighting
job predicted (energy, saving against full power from dusk to dawn), the regulatory check, the
policy and dark zones they come from and, once the night is over, what the meter measured."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Conn, Reader, TenantFilter
from api.errors import invalid
from api.models import CommandStatus
from api.models_lighting import SchedulesPublic
from api.queries.lighting import list_schedules

router = APIRouter(tags=["lighting"])

DEFAULT_PAGE = 100
MAX_PAGE = 1000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@router.get("/schedules")
def read_schedules(
    conn: Conn,
    principal: Reader,
    tenant_id: TenantFilter,
    device: Annotated[str | None, Query(description="only the schedules of this device id")] = None,
    status: Annotated[CommandStatus | None, Query(description="queued, sent, applied…")] = None,
    night: Annotated[str | None, Query(description="the night's evening, YYYY-MM-DD (local)",
                                       examples=["2026-11-23"])] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> SchedulesPublic:
    """The schedules the key may see, newest first; `count` is the total that match."""
    if night is not None and not _DATE.match(night):
        raise invalid("query", "night", "must be a date YYYY-MM-DD (the night's evening)", night)
    data, total = list_schedules(conn, scope=principal.scope, tenant_id=tenant_id,
                                 device_id=device, status=status, night=night, limit=limit,
                                 offset=offset)
    return SchedulesPublic(data=data, count=total)
