"""`GET /tenants`: the tenants a key may see."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Conn, Reader
from api.models import TenantsPublic
from api.queries.tenants import list_tenants

router = APIRouter(prefix="/tenants", tags=["tenants"])


@router.get("")
def read_tenants(conn: Conn, principal: Reader) -> TenantsPublic:
    """The key's tenant, every tenant below it and those granted to it (a partner's)."""
    tenants = list_tenants(conn, principal=principal)
    return TenantsPublic(data=tenants, count=len(tenants))
