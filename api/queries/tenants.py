"""Tenants a key may see."""

from __future__ import annotations

import psycopg

from api.models import TenantPublic
from phare.tenancy import Principal


def tenant_in_scope(conn: psycopg.Connection, *, principal: Principal, slug: str) -> int | None:
    """The id of tenant `slug` if the key may see it; None if absent or out of scope."""
    row = conn.execute(
        "select id from tenants where slug = %s and id = any(%s)", (slug, list(principal.scope))
    ).fetchone()
    return None if row is None else int(row[0])


def is_platform_operator(conn: psycopg.Connection, *, principal: Principal) -> bool:
    """Whether the key's tenant is a root of the tree (it operates the platform)."""
    row = conn.execute(
        "select parent_id is null from tenants where id = %s", (principal.tenant_id,)
    ).fetchone()
    return bool(row and row[0])


def list_tenants(conn: psycopg.Connection, *, principal: Principal) -> list[TenantPublic]:
    """The key's tenant and every tenant below it, by slug."""
    rows = conn.execute(
        "select t.slug, t.name, p.slug from tenants t left join tenants p on p.id = t.parent_id "
        "where t.id = any(%s) order by t.slug",
        (list(principal.scope),),
    ).fetchall()
    return [TenantPublic(slug=slug, name=name, parent=parent) for slug, name, parent in rows]
