"""Tenants a key may see."""

from __future__ import annotations

import psycopg

from api.models import TenantPublic
from phare.tenancy import PARTNER, Principal


def tenant_in_scope(conn: psycopg.Connection, *, principal: Principal, slug: str,
                    write: bool = False) -> int | None:
    """The id of tenant `slug` if the key may read it (or change it: `write`); None otherwise.

    A partner reads (some devices of) the tenants it is granted, but changes only its own.
    """
    scope = principal.scope if write else principal.visible
    row = conn.execute(
        "select id from tenants where slug = %s and id = any(%s)", (slug, list(scope))
    ).fetchone()
    return None if row is None else int(row[0])


def is_platform_operator(conn: psycopg.Connection, *, principal: Principal) -> bool:
    """Whether the key's tenant is a root of the tree (it operates the platform).

    Partners have no parent but operate nothing.
    """
    if principal.partner:
        return False
    row = conn.execute(
        "select parent_id is null and kind <> %s from tenants where id = %s",
        (PARTNER, principal.tenant_id),
    ).fetchone()
    return bool(row and row[0])


def list_tenants(conn: psycopg.Connection, *, principal: Principal) -> list[TenantPublic]:
    """The key's tenant, every tenant below it and those granted to it, by slug."""
    rows = conn.execute(
        "select t.slug, t.name, p.slug, t.kind "
        "from tenants t left join tenants p on p.id = t.parent_id and p.id = any(%s) "
        "where t.id = any(%s) order by t.slug",
        (list(principal.visible), list(principal.visible)),
    ).fetchall()
    return [TenantPublic(slug=slug, name=name, parent=parent, kind=kind)
            for slug, name, parent, kind in rows]
