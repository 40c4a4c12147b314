"""Dependencies of the routes: the calling key, its scoped database transaction, permissions.

A route that touches data takes `Conn`: a pooled connection (as the API's database role) inside
a transaction whose scope is the key's, so that PostgreSQL's row-level security shows it only
the key's tenants, whatever the SQL. The transaction commits when the route returns, before
the response is sent, and rolls back if the route raises.

A route states what it needs with `require(Permission.…)`; the roles that have each permission
are in `phare.tenancy.ROLE_PERMISSIONS` (docs/roles.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from api.queries.tenants import tenant_in_scope
from phare.settings import Settings
from phare.tenancy import ROLE_PERMISSIONS, Permission, Principal, principal_for_key, set_scope

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer phk_…`")


def get_pool(request: Request) -> ConnectionPool:
    pool: ConnectionPool = request.app.state.pool
    return pool


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_connection(
    pool: Annotated[ConnectionPool, Depends(get_pool)],
) -> Iterator[psycopg.Connection]:
    """A pooled autocommit connection for the duration of the request, with no scope yet."""
    with pool.connection() as conn:
        yield conn


RawConn = Annotated[psycopg.Connection, Depends(get_connection)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message,
                         headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    conn: RawConn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The principal of the request's API key; 401 when missing, unknown or revoked."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
    principal = principal_for_key(conn, credentials.credentials)
    if principal is None:
        raise _unauthorized("invalid or revoked API key")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_conn(conn: RawConn, principal: CurrentPrincipal) -> Iterator[psycopg.Connection]:
    """The request's connection inside a transaction confined to the key's scope."""
    with conn.transaction():
        set_scope(conn, principal)
        yield conn


# scope="function": the transaction ends when the route returns, before the response leaves,
# so a client never reads a 201 whose row is not committed.
Conn = Annotated[psycopg.Connection, Depends(get_conn, scope="function")]


def require(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency that lets through only keys whose role has `permission` (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            allowed = [role for role, perms in ROLE_PERMISSIONS.items() if permission in perms]
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a key with role '{principal.role}' cannot {permission.value.replace('_', ' ')}; "
                f"it needs one of the roles: {', '.join(allowed)}",
            )
        return principal

    check.__name__ = f"require_{permission.value}"
    return check


Reader = Annotated[Principal, Depends(require(Permission.READ_DATA))]
DeviceManager = Annotated[Principal, Depends(require(Permission.REGISTER_DEVICES))]
KeyManager = Annotated[Principal, Depends(require(Permission.MANAGE_KEYS))]
UserManager = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
PartnerManager = Annotated[Principal, Depends(require(Permission.MANAGE_PARTNERS))]
Auditor = Annotated[Principal, Depends(require(Permission.READ_AUDIT))]
# Kept for routes written before permissions: registering devices.
Writer = DeviceManager


def tenant_filter(
    conn: Conn,
    principal: CurrentPrincipal,
    tenant: Annotated[str | None, Query(description="only this tenant's items")] = None,
) -> int | None:
    """The id of the `tenant` query parameter's tenant; 404 if outside the key's scope."""
    if tenant is None:
        return None
    tenant_id = tenant_in_scope(conn, principal=principal, slug=tenant)
    if tenant_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tenant '{tenant}'")
    return tenant_id


TenantFilter = Annotated[int | None, Depends(tenant_filter)]


def write_scope(conn: psycopg.Connection, principal: Principal, slug: str, what: str) -> int:
    """The id of tenant `slug` if the key may change it; 403 otherwise (absent or out of scope)."""
    tenant_id = tenant_in_scope(conn, principal=principal, slug=slug, write=True)
    if tenant_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key cannot {what} in tenant '{slug}'")
    return tenant_id
