"""Partners' grants, as an admin of the granted tenants (or the partner) may list them."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from api.models import GrantPublic
from phare.tenancy import Principal

_GRANT = (
    "select g.id, p.slug as partner, t.slug as tenant, g.kinds, g.expires_at, "
    "       g.expires_at > now() as active, g.created_by, g.created_at "
    "from grants g join tenants p on p.id = g.partner_tenant_id "
    "join tenants t on t.id = g.tenant_id "
)


def list_grants(conn: psycopg.Connection, *, principal: Principal,
                include_expired: bool = False) -> list[GrantPublic]:
    """Grants on the key's own tenants, and grants made to the key's tenant (a partner)."""
    own = list(principal.scope)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _GRANT + "where (g.tenant_id = any(%s) or g.partner_tenant_id = any(%s)) "
            "and (%s or g.expires_at > now()) order by p.slug, t.slug",
            (own, own, include_expired),
        ).fetchall()
    return [GrantPublic(**r) for r in rows]


def get_grant(conn: psycopg.Connection, *, principal: Principal,
              grant_id: int) -> GrantPublic | None:
    """A grant on one of the key's own tenants (one it may revoke)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_GRANT + "where g.id = %s and g.tenant_id = any(%s)",
                          (grant_id, list(principal.scope))).fetchone()
    return None if row is None else GrantPublic(**row)
