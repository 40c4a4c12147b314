"""Tenants and API keys: the tree of who operates for whom, and the keys that act in it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import psycopg

from devices.catalogue import TENANT_RE
from phare.errors import PhareError

ROLES = ("admin", "technician", "operator", "viewer")
KEY_PREFIX = "phk_"


class TenantError(PhareError):
    """A tenant cannot be created or found."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key's tenant and role, and every tenant it may see."""

    key_id: int
    tenant_id: int
    tenant: str
    role: str
    scope: frozenset[int]  # the key's tenant and all tenants below it


def add_tenant(conn: psycopg.Connection, slug: str, name: str, parent: str | None = None) -> int:
    """Creates a tenant, or returns the existing one with that slug (idempotent)."""
    if not TENANT_RE.match(slug):
        raise TenantError(f"tenant slug '{slug}' must match [a-z0-9][a-z0-9-]{{0,62}}")
    parent_id = None
    if parent is not None:
        row = conn.execute("select id from tenants where slug = %s", (parent,)).fetchone()
        if row is None:
            raise TenantError(f"parent tenant '{parent}' does not exist")
        parent_id = row[0]
    row = conn.execute(
        "insert into tenants (slug, name, parent_id) values (%s, %s, %s) "
        "on conflict (slug) do nothing returning id",
        (slug, name, parent_id),
    ).fetchone()
    if row is None:
        existing = conn.execute("select id from tenants where slug = %s", (slug,)).fetchone()
        assert existing is not None
        return int(existing[0])
    return int(row[0])


def hash_key(key: str) -> bytes:
    # Keys are 256-bit random strings: a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(key.encode()).digest()


def create_api_key(conn: psycopg.Connection, tenant: str, role: str, name: str | None = None) -> str:
    """Creates an API key for a tenant and role; returns the key, which is never stored."""
    if role not in ROLES:
        raise TenantError(f"role '{role}' is not one of {', '.join(ROLES)}")
    row = conn.execute("select id from tenants where slug = %s", (tenant,)).fetchone()
    if row is None:
        raise TenantError(f"tenant '{tenant}' does not exist")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        "insert into api_keys (tenant_id, role, prefix, key_hash, name) values (%s, %s, %s, %s, %s)",
        (row[0], role, key[:10], hash_key(key), name),
    )
    return key


def principal_for_key(conn: psycopg.Connection, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None otherwise."""
    row = conn.execute(
        "select k.id, k.tenant_id, t.slug, k.role, "
        "       array(select tenant_subtree(k.tenant_id)) "
        "from api_keys k join tenants t on t.id = k.tenant_id "
        "where k.key_hash = %s and k.revoked_at is null",
        (hash_key(key),),
    ).fetchone()
    if row is None:
        return None
    return Principal(key_id=row[0], tenant_id=row[1], tenant=row[2], role=row[3],
                     scope=frozenset(row[4]))
