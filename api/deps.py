"""Dependencies of the routes: a database connection, the calling key, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from api.queries.tenants import tenant_in_scope
from phare.settings import Settings
from phare.tenancy import Principal, principal_for_key

# Roles that may change the platform (register devices); every role may read.
WRITER_ROLES = ("admin", "technician")

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer phk_…`")


def get_pool(request: Request) -> ConnectionPool:
    pool: ConnectionPool = request.app.state.pool
    return pool


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_conn(pool: Annotated[ConnectionPool, Depends(get_pool)]) -> Iterator[psycopg.Connection]:
    """A pooled autocommit connection for the duration of the request."""
    with pool.connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection, Depends(get_conn)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message,
                         headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    conn: Conn,
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


def require_roles(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only keys with one of `roles` through (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a key with role '{principal.role}' cannot do this; "
                f"it needs one of: {', '.join(roles)}",
            )
        return principal

    return check


Writer = Annotated[Principal, Depends(require_roles(*WRITER_ROLES))]


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
