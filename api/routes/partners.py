"""Partners' grants: which partner reads which kinds of devices of which tenant, until when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.deps import Conn, PartnerManager, write_scope
from api.errors import invalid
from api.models import GrantCreate, GrantPublic, GrantsPublic
from api.queries.partners import get_grant, list_grants
from phare.tenancy import TenantError, grant_partner, revoke_grant

router = APIRouter(prefix="/partners", tags=["partners"])


@router.get("/grants")
def read_grants(
    conn: Conn, principal: PartnerManager,
    include_expired: Annotated[bool, Query(description="also the expired grants")] = False,
) -> GrantsPublic:
    """Grants on the key's tenants, or, for a partner's key, the grants made to it."""
    grants = list_grants(conn, principal=principal, include_expired=include_expired)
    return GrantsPublic(data=grants, count=len(grants))


@router.post("/grants", status_code=status.HTTP_201_CREATED,
             responses={403: {"description": "role not allowed, or tenant outside the scope"}})
def create_grant(conn: Conn, principal: PartnerManager, body: GrantCreate) -> GrantPublic:
    """Lets a partner read the devices of `kinds` in `tenant` (and below) until `expires_at`.

    Granting the same partner on the same tenant again replaces its kinds and expiry.
    """
    write_scope(conn, principal, body.tenant, "grant access")
    try:
        grant_id = grant_partner(conn, partner=body.partner, tenant=body.tenant,
                                 kinds=body.kinds, expires_at=body.expires_at,
                                 actor=principal.actor)
    except TenantError as exc:
        raise invalid("body", "partner", str(exc), body.partner) from exc
    grant = get_grant(conn, principal=principal, grant_id=grant_id)
    assert grant is not None  # just written, in scope
    return grant


@router.delete("/grants/{grant_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no such grant on the key's tenants"}})
def delete_grant(conn: Conn, principal: PartnerManager, grant_id: int) -> Response:
    """Ends a grant now."""
    if get_grant(conn, principal=principal, grant_id=grant_id) is None or \
            not revoke_grant(conn, grant_id, actor=principal.actor):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no grant {grant_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
