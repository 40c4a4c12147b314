"""Users and API keys, as an admin may list them."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from api.models import KeyPublic, UserPublic
from phare.tenancy import Principal


def list_users(conn: psycopg.Connection, *, principal: Principal,
               tenant_id: int | None = None) -> list[UserPublic]:
    """The users of the key's own tenants (a partner's grants give no access to users)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select u.id, t.slug as tenant, u.email, u.name, u.role, u.created_at, u.disabled_at "
            "from users u join tenants t on t.id = u.tenant_id "
            "where u.tenant_id = any(%s) and (%s::integer is null or u.tenant_id = %s) "
            "order by t.slug, u.email",
            (list(principal.scope), tenant_id, tenant_id),
        ).fetchall()
    return [UserPublic(**r) for r in rows]


_KEY_COLUMNS = (
    "select k.id, t.slug as tenant, coalesce(u.role, k.role) as role, k.prefix, k.name, "
    "       u.email as user, k.created_at, k.revoked_at "
    "from api_keys k join tenants t on t.id = k.tenant_id left join users u on u.id = k.user_id "
)


def list_keys(conn: psycopg.Connection, *, principal: Principal, tenant_id: int | None = None,
              include_revoked: bool = False) -> list[KeyPublic]:
    """The API keys of the key's own tenants, newest first; never the keys themselves."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _KEY_COLUMNS + "where k.tenant_id = any(%s) and (%s::integer is null or k.tenant_id = %s) "
            "and (%s or k.revoked_at is null) order by k.created_at desc, k.id desc",
            (list(principal.scope), tenant_id, tenant_id, include_revoked),
        ).fetchall()
    return [KeyPublic(**r) for r in rows]


def get_key(conn: psycopg.Connection, *, principal: Principal, key_id: int) -> KeyPublic | None:
    """One API key of the key's own tenants."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_KEY_COLUMNS + "where k.id = %s and k.tenant_id = any(%s)",
                          (key_id, list(principal.scope))).fetchone()
    return None if row is None else KeyPublic(**row)
