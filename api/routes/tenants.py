"""`GET /tenants`: the tenants a key may see."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Conn, CurrentPrincipal
from api.models import TenantsPublic
from api.queries.tenants import list_tenants

router = APIRouter(prefix="/tenants", tags=["tenants"])


@router.get("")
def read_tenants(conn: Conn, principal: CurrentPrincipal) -> TenantsPublic:
    """The key's tenant and every tenant below it, with their parent's slug."""
    tenants = list_tenants(conn, principal=principal)
    return TenantsPublic(data=tenants, count=len(tenants))
