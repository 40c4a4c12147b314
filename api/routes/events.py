"""`GET /events`: device events (door open, smoke, breaker trip…) over a bounded time window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Conn, Reader, TenantFilter
from api.errors import invalid
from api.models import EventsPublic
from api.params import format_instant, parse_instant
from api.queries.events import list_events
from devices.catalogue import DEVICE_ID_PATTERN

router = APIRouter(prefix="/events", tags=["events"])

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=366)
DEFAULT_PAGE = 100
MAX_PAGE = 10_000


@router.get("")
def read_events(
    conn: Conn,
    principal: Reader,
    tenant_id: TenantFilter,
    device: Annotated[str | None, Query(pattern=f"^{DEVICE_ID_PATTERN}$",
                                        description="only this device's events (by its id)")] = None,
    type: Annotated[str | None, Query(max_length=64, examples=["door_open"],
                                      description="only events of this type")] = None,
    from_: Annotated[str | None, Query(
        alias="from", description="RFC 3339, inclusive; default: 7 days before `to`")] = None,
    to: Annotated[str | None, Query(description="RFC 3339, exclusive; default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> EventsPublic:
    """Events of the devices the key may see in [from, to), newest first (at most 366 days)."""
    end = parse_instant("to", to) or datetime.now(UTC)
    start = parse_instant("from", from_) or end - DEFAULT_WINDOW
    if start >= end:
        raise invalid("query", "from", f"'from' ({format_instant(start)}) must be earlier than "
                      f"'to' ({format_instant(end)})", from_)
    if end - start > MAX_WINDOW:
        raise invalid("query", "from", f"the window from 'from' to 'to' is at most "
                      f"{MAX_WINDOW.days} days", from_)
    # `visible`: a partner's granted devices too (row-level security filters them by kind).
    events, total = list_events(conn, scope=principal.visible, start=start, end=end,
                                tenant_id=tenant_id, device_id=device, type=type,
                                limit=limit, offset=offset)
    return EventsPublic(data=events, count=total)
