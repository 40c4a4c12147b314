"""`GET /audit`: who changed what, in the key's tenants (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Auditor, Conn, TenantFilter
from api.models import AuditPublic
from api.params import parse_instant
from api.queries.audit import list_audit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
def read_audit(
    conn: Conn,
    principal: Auditor,
    tenant_id: TenantFilter,
    action: Annotated[str | None, Query(description="e.g. device.register, key.create",
                                        pattern=r"^[a-z_]+\.[a-z_]+$")] = None,
    from_: Annotated[str | None, Query(alias="from", description="RFC 3339, inclusive")] = None,
    to: Annotated[str | None, Query(description="RFC 3339, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # PostgreSQL bigint
) -> AuditPublic:
    """Changes in the key's tenant and those below it, newest first."""
    entries, total = list_audit(conn, principal=principal, tenant_id=tenant_id, action=action,
                                start=parse_instant("from", from_), end=parse_instant("to", to),
                                limit=limit, offset=offset)
    return AuditPublic(data=entries, count=total)
