"""Users: people with a role in a tenant (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.deps import Conn, TenantFilter, UserManager, write_scope
from api.errors import Conflict, invalid
from api.models import UserCreate, UserPublic, UsersPublic
from api.queries.users import list_users
from phare.tenancy import AlreadyExists, TenantError, add_user

router = APIRouter(prefix="/users", tags=["users"])


@router.get("")
def read_users(conn: Conn, principal: UserManager, tenant_id: TenantFilter) -> UsersPublic:
    """The users of the key's tenant and of the tenants below it."""
    users = list_users(conn, principal=principal, tenant_id=tenant_id)
    return UsersPublic(data=users, count=len(users))


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={403: {"description": "role not allowed, or tenant outside the scope"},
                        409: {"description": "the e-mail address has an account already"}})
def create_user(conn: Conn, principal: UserManager, body: UserCreate) -> UserPublic:
    """Creates a user; give them a key with `POST /keys` and their e-mail address."""
    tenant_id = write_scope(conn, principal, body.tenant, "create users")
    try:
        add_user(conn, tenant=body.tenant, email=body.email, role=body.role, name=body.name,
                 actor=principal.actor)
    except AlreadyExists as exc:
        raise Conflict(str(exc)) from exc
    except TenantError as exc:
        raise invalid("body", "email", str(exc), body.email) from exc
    created = [u for u in list_users(conn, principal=principal, tenant_id=tenant_id)
               if u.email == body.email]
    if not created:  # cannot happen: just inserted, in scope
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error")
    return created[0]
