"""Rejected messages: what ingest could not store, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Conn, Reader, TenantFilter
from api.models import ReasonCountsPublic, RejectedListPublic
from api.queries.rejected import count_by_reason, list_rejected
from api.queries.tenants import is_platform_operator

router = APIRouter(prefix="/rejected", tags=["rejected messages"])


@router.get("")
def read_rejected(
    conn: Conn,
    principal: Reader,
    tenant_id: TenantFilter,
    reason: Annotated[str | None, Query(description="a reason code, e.g. unknown_device")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RejectedListPublic:
    """Rejections visible to the key, newest first; `count` is the total that match.

    Rejections whose topic named no known tenant are shown to root tenants' keys only.
    """
    items, total = list_rejected(
        conn, scope=principal.scope, operator=is_platform_operator(conn, principal=principal),
        tenant_id=tenant_id, reason=reason, limit=limit, offset=offset,
    )
    return RejectedListPublic(data=items, count=total)


@router.get("/counts")
def read_rejected_counts(conn: Conn, principal: Reader,
                         tenant_id: TenantFilter) -> ReasonCountsPublic:
    """How many visible rejections there are per reason."""
    counts = count_by_reason(conn, scope=principal.scope,
                             operator=is_platform_operator(conn, principal=principal),
                             tenant_id=tenant_id)
    return ReasonCountsPublic(data=counts, count=len(counts))
