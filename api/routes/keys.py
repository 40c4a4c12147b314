"""API keys: create (shown once), list, revoke (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.deps import Conn, KeyManager, TenantFilter, write_scope
from api.errors import invalid
from api.models import KeyCreate, KeyCreated, KeysPublic
from api.queries.users import get_key, list_keys
from phare.tenancy import TenantError, issue_api_key, revoke_api_key

router = APIRouter(prefix="/keys", tags=["API keys"])


@router.get("")
def read_keys(
    conn: Conn, principal: KeyManager, tenant_id: TenantFilter,
    include_revoked: Annotated[bool, Query(description="also the revoked keys")] = False,
) -> KeysPublic:
    """The keys of the key's tenant and of the tenants below it, newest first (never the keys)."""
    keys = list_keys(conn, principal=principal, tenant_id=tenant_id,
                     include_revoked=include_revoked)
    return KeysPublic(data=keys, count=len(keys))


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={403: {"description": "role not allowed, or tenant (or user) outside "
                                             "the scope"}})
def create_key(conn: Conn, principal: KeyManager, body: KeyCreate) -> KeyCreated:
    """Creates a service key, or a key of a user; the answer holds the key, shown this once."""
    if body.user is not None:
        # The user must be one the key may see: users outside the scope look absent (403).
        row = conn.execute("select t.slug from users u join tenants t on t.id = u.tenant_id "
                           "where lower(u.email) = lower(%s) and u.tenant_id = any(%s)",
                           (body.user, list(principal.scope))).fetchone()
        if row is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this key cannot create keys for user '{body.user}'")
        write_scope(conn, principal, row[0], "create keys")
    else:
        assert body.tenant is not None  # the model requires it without a user
        write_scope(conn, principal, body.tenant, "create keys")
    try:
        issued = issue_api_key(conn, tenant=body.tenant, role=body.role, user=body.user,
                               name=body.name, actor=principal.actor)
    except TenantError as exc:
        raise invalid("body", "role" if body.user else "tenant", str(exc)) from exc
    public = get_key(conn, principal=principal, key_id=issued.id)
    assert public is not None  # just inserted, in scope
    return KeyCreated(key=issued.key, **public.model_dump())


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "no such active key in the key's scope"}})
def revoke_key(conn: Conn, principal: KeyManager, key_id: int) -> Response:
    """Revokes a key: it stops working at once."""
    if get_key(conn, principal=principal, key_id=key_id) is None or \
            not revoke_api_key(conn, key_id, actor=principal.actor):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no active key {key_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
