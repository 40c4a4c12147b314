"""Tenants, users, partners, API keys, roles and the audit log: who acts for whom, and may do what.

The tree of tenants (syndicate -> EPCI -> commune) says whose data a key reads and changes: its
tenant's and those below it. A partner (a tenant of kind `partner`: a delegated water operator,
the SDIS) is granted reading of chosen device kinds in chosen tenants until a date. A key's
role says what it may do there (`ROLE_PERMISSIONS`, written out in docs/roles.md).

PostgreSQL enforces the tenant part too: `set_scope` gives the request's transaction the scope
that the row-level security policies of migration 0005 read.
"""

from __future__ import annotations

import getpass
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from devices.catalogue import KINDS, TENANT_RE
from phare.errors import PhareError

ROLES = ("admin", "technician", "operator", "viewer")
TENANT_KINDS = ("syndicate", "epci", "commune", "partner")
PARTNER = "partner"
KEY_PREFIX = "phk_"
# A grant "until 2027-12-31" covers that whole day, in the time of the French communes.
LOCAL_TIME = ZoneInfo("Europe/Paris")


class Permission(StrEnum):
    """Something a key may be allowed to do; a role is a set of these."""

    READ_DATA = "read_data"                    # devices, readings, events, alerts, rejections
    EXPORT_DATA = "export_data"                # bulk exports of readings
    EXPORT_TENANT = "export_tenant"            # the full export of a tenant (reversibility)
    REGISTER_DEVICES = "register_devices"      # register, modify, delete devices
    ACKNOWLEDGE_ALERTS = "acknowledge_alerts"  # acknowledge and resolve alerts
    SEND_COMMANDS = "send_commands"            # switch, dim, schedule devices
    MANAGE_KEYS = "manage_keys"                # create and revoke API keys
    MANAGE_USERS = "manage_users"              # create users
    MANAGE_PARTNERS = "manage_partners"        # grant partners access, revoke it
    READ_AUDIT = "read_audit"                  # the audit log


P = Permission
# docs/roles.md shows this table; tests/test_tenancy.py checks that they agree.
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "technician": frozenset({P.READ_DATA, P.EXPORT_DATA, P.REGISTER_DEVICES,
                             P.ACKNOWLEDGE_ALERTS, P.SEND_COMMANDS}),
    "operator": frozenset({P.READ_DATA, P.EXPORT_DATA, P.ACKNOWLEDGE_ALERTS, P.SEND_COMMANDS}),
    # Elected officials: they look, they do not touch.
    "viewer": frozenset({P.READ_DATA}),
}


def allows(role: str, permission: Permission) -> bool:
    """Whether `role` grants `permission` (an unknown role grants nothing)."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


class TenantError(PhareError):
    """A tenant, user, key or grant cannot be created or found."""


class AlreadyExists(TenantError):
    """What was to be created exists already (the message says what)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change, as the audit log records it."""

    label: str                    # 'key:12', 'user:jeanne@…', 'cli:root'
    key_id: int | None = None
    user_id: int | None = None

    @classmethod
    def cli(cls) -> Actor:
        """The person at the command line, by their system account."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            who = "unknown"
        return cls(f"cli:{who}")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key's tenant and role, and the tenants it reads and changes.

    `scope` is what the key reads in full and changes: its tenant and those below. A partner
    also reads, through its grants, some device kinds of other tenants (`granted_kinds`):
    only queries that PostgreSQL's row-level security filters by kind may use `visible`,
    the tenants of those grants; everything else (and anything not read from the database,
    such as the live stream) keeps to `scope`, or checks `reads(tenant_id, kind)`.
    """

    key_id: int
    tenant_id: int
    tenant: str
    role: str
    scope: frozenset[int]
    kind: str = "commune"
    user_id: int | None = None
    user_email: str | None = None
    granted_kinds: frozenset[tuple[int, str]] = frozenset()  # (tenant id, device kind)

    @property
    def own(self) -> frozenset[int]:
        """The tenants the key changes: `scope`."""
        return self.scope

    @property
    def visible(self) -> frozenset[int]:
        """`scope` and the tenants a partner is granted (their rows filtered by kind in SQL)."""
        return self.scope | {tenant_id for tenant_id, _ in self.granted_kinds}

    @property
    def partner(self) -> bool:
        """A partner reads granted kinds in granted tenants, and changes only its own tenant."""
        return self.kind == PARTNER

    def reads(self, tenant_id: int, kind: str) -> bool:
        """Whether the key may read the data of a device of `kind` in tenant `tenant_id`."""
        return tenant_id in self.scope or (tenant_id, kind) in self.granted_kinds

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)

    @property
    def actor(self) -> Actor:
        label = f"user:{self.user_email}" if self.user_email else f"key:{self.key_id}"
        return Actor(label, key_id=self.key_id, user_id=self.user_id)


# --- the request's scope, for row-level security ----------------------------------------
def scope_literal(ids: frozenset[int] | set[int]) -> str:
    """A PostgreSQL integer array literal: `{3,7,8}`."""
    return "{" + ",".join(str(i) for i in sorted(ids)) + "}"


def set_scope(conn: psycopg.Connection, principal: Principal) -> None:
    """Confines the current transaction to the principal's scope (row-level security).

    The settings are transaction-local: they end with the transaction, so a pooled connection
    never carries one request's scope into the next. Call it inside `conn.transaction()`.
    """
    conn.execute(
        "select set_config('phare.tenant_ids', %s, true), set_config('phare.partner_id', %s, true)",
        (scope_literal(principal.scope), str(principal.tenant_id) if principal.partner else ""),
    )


# --- tenants ----------------------------------------------------------------------------
def _tenant(conn: psycopg.Connection, slug: str) -> tuple[int, str]:
    row = conn.execute("select id, kind from tenants where slug = %s", (slug,)).fetchone()
    if row is None:
        raise TenantError(f"tenant '{slug}' does not exist")
    return int(row[0]), str(row[1])


def add_tenant(conn: psycopg.Connection, slug: str, name: str, parent: str | None = None,
               kind: str | None = None, *, actor: Actor | None = None) -> int:
    """Creates a tenant, or returns the existing one with that slug (idempotent).

    Without `kind`, the database infers it: no parent -> syndicate, below a syndicate -> EPCI,
    below that -> commune. A partner has no tenants below it.
    """
    if not TENANT_RE.match(slug):
        raise TenantError(f"tenant slug '{slug}' must match [a-z0-9][a-z0-9-]{{0,62}}")
    if kind is not None and kind not in TENANT_KINDS:
        raise TenantError(f"tenant kind '{kind}' is not one of {', '.join(TENANT_KINDS)}")
    parent_id = None
    if parent is not None:
        row = conn.execute("select id, kind from tenants where slug = %s", (parent,)).fetchone()
        if row is None:
            raise TenantError(f"parent tenant '{parent}' does not exist")
        if row[1] == PARTNER:
            raise TenantError(f"'{parent}' is a partner: a partner has no tenants below it")
        parent_id = row[0]
    row = conn.execute(
        "insert into tenants (slug, name, parent_id, kind) values (%s, %s, %s, %s) "
        "on conflict (slug) do nothing returning id, kind",
        (slug, name, parent_id, kind),
    ).fetchone()
    if row is None:
        existing = conn.execute("select id from tenants where slug = %s", (slug,)).fetchone()
        assert existing is not None
        return int(existing[0])
    audit(conn, actor or Actor.cli(), tenant_id=row[0], action="tenant.create", target=slug,
          detail={"name": name, "parent": parent, "kind": row[1]})
    return int(row[0])


# --- users ------------------------------------------------------------------------------
def _check_role(role: str) -> None:
    if role not in ROLES:
        raise TenantError(f"role '{role}' is not one of {', '.join(ROLES)}")


def add_user(conn: psycopg.Connection, *, tenant: str, email: str, role: str,
             name: str | None = None, actor: Actor | None = None) -> int:
    """Creates a user of `tenant` with `role`; AlreadyExists if the e-mail address is taken."""
    _check_role(role)
    tenant_id, _ = _tenant(conn, tenant)
    try:
        with conn.transaction():
            row = conn.execute(
                "insert into users (tenant_id, email, name, role) values (%s, %s, %s, %s) "
                "returning id", (tenant_id, email, name, role),
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyExists(f"a user with the e-mail address '{email}' already exists") from exc
    except psycopg.errors.CheckViolation as exc:
        raise TenantError(f"'{email}' is not an e-mail address, or the name is too long") from exc
    assert row is not None
    audit(conn, actor or Actor.cli(), tenant_id=tenant_id, action="user.create", target=email,
          detail={"role": role, "name": name})
    return int(row[0])


# --- API keys ---------------------------------------------------------------------------
def hash_key(key: str) -> bytes:
    # Keys are 256-bit random strings: a plain SHA-256 cannot be brute-forced.
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new API key: `key` is shown once and never stored."""

    id: int
    key: str
    prefix: str
    tenant_id: int
    role: str
    user_id: int | None


def issue_api_key(conn: psycopg.Connection, *, tenant: str | None = None,
                  role: str | None = None, user: str | None = None, name: str | None = None,
                  actor: Actor | None = None) -> IssuedKey:
    """Creates a service key (tenant and role) or a user's key (`user`: an e-mail address).

    A user's key belongs to the user's tenant and acts with the user's current role.
    """
    user_id = None
    if user is not None:
        row = conn.execute("select u.id, t.slug, u.role from users u "
                           "join tenants t on t.id = u.tenant_id "
                           "where lower(u.email) = lower(%s) and u.disabled_at is null",
                           (user,)).fetchone()
        if row is None:
            raise TenantError(f"user '{user}' does not exist")
        user_id, user_tenant, user_role = row
        if tenant is not None and tenant != user_tenant:
            raise TenantError(f"user '{user}' belongs to tenant '{user_tenant}', not '{tenant}'")
        if role is not None and role != user_role:
            raise TenantError(f"a key of user '{user}' has the user's role, '{user_role}'")
        tenant, role = user_tenant, user_role
    if tenant is None or role is None:
        raise TenantError("a key needs a tenant and a role, or a user")
    _check_role(role)
    tenant_id, _ = _tenant(conn, tenant)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        "insert into api_keys (tenant_id, role, prefix, key_hash, name, user_id) "
        "values (%s, %s, %s, %s, %s, %s) returning id",
        (tenant_id, role, key[:10], hash_key(key), name, user_id),
    ).fetchone()
    assert row is not None
    audit(conn, actor or Actor.cli(), tenant_id=tenant_id, action="key.create",
          target=f"key:{row[0]}", detail={"role": role, "prefix": key[:10], "name": name,
                                          "user": user})
    return IssuedKey(id=int(row[0]), key=key, prefix=key[:10], tenant_id=tenant_id, role=role,
                     user_id=user_id)


def create_api_key(conn: psycopg.Connection, tenant: str, role: str, name: str | None = None,
                   *, actor: Actor | None = None) -> str:
    """Creates a service key for a tenant and role; returns the key, which is never stored."""
    return issue_api_key(conn, tenant=tenant, role=role, name=name, actor=actor).key


def revoke_api_key(conn: psycopg.Connection, key_id: int, *, actor: Actor) -> bool:
    """Revokes a key (those the connection may see); False if there is no such active key."""
    row = conn.execute("update api_keys set revoked_at = now() "
                       "where id = %s and revoked_at is null returning tenant_id, prefix",
                       (key_id,)).fetchone()
    if row is None:
        return False
    audit(conn, actor, tenant_id=row[0], action="key.revoke", target=f"key:{key_id}",
          detail={"prefix": row[1]})
    return True


def principal_for_key(conn: psycopg.Connection, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None otherwise."""
    row = conn.execute(
        "select key_id, tenant_id, tenant, kind, role, user_id, user_email, scope, "
        "       granted_tenants, granted_kinds "
        "from phare_authenticate(%s)", (hash_key(key),),
    ).fetchone()
    if row is None:
        return None
    key_id, tenant_id, tenant, kind, role, user_id, email, scope, tenants, kinds = row
    return Principal(key_id=key_id, tenant_id=tenant_id, tenant=tenant, role=role,
                     scope=frozenset(scope), kind=kind, user_id=user_id, user_email=email,
                     granted_kinds=frozenset(zip(tenants, kinds, strict=True)))


# --- partners ---------------------------------------------------------------------------
def parse_expiry(text: str) -> datetime:
    """`2027-12-31` (that day included, French time) or an RFC 3339 instant with its offset."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day + timedelta(days=1), time(), LOCAL_TIME)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise TenantError(f"expiry '{text}' must be a date (2027-12-31) or an instant with "
                          "its offset (2027-12-31T18:00:00+01:00)")
    return instant


def grant_partner(conn: psycopg.Connection, *, partner: str, tenant: str, kinds: list[str],
                  expires_at: datetime, actor: Actor | None = None) -> int:
    """Lets `partner` read the devices of `kinds` in `tenant` and below until `expires_at`.

    Granting again the same partner on the same tenant replaces the kinds and the expiry.
    """
    partner_id, partner_kind = _tenant(conn, partner)
    if partner_kind != PARTNER:
        raise TenantError(f"tenant '{partner}' is a {partner_kind}, not a partner "
                          "(create partners with: phare tenant add SLUG --kind partner)")
    tenant_id, tenant_kind = _tenant(conn, tenant)
    if tenant_kind == PARTNER:
        raise TenantError(f"'{tenant}' is a partner: grants give access to other tenants")
    unknown = sorted(set(kinds) - set(KINDS))
    if not kinds or unknown:
        raise TenantError(f"device kinds must be some of {', '.join(sorted(KINDS))}"
                          + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    if expires_at.tzinfo is None:
        raise TenantError("the expiry needs a time zone")
    kinds = sorted(set(kinds))
    actor = actor or Actor.cli()
    row = conn.execute(
        "insert into grants (partner_tenant_id, tenant_id, kinds, expires_at, created_by) "
        "values (%s, %s, %s, %s, %s) on conflict (partner_tenant_id, tenant_id) do update "
        "set kinds = excluded.kinds, expires_at = excluded.expires_at, "
        "    created_by = excluded.created_by, created_at = now() returning id",
        (partner_id, tenant_id, kinds, expires_at, actor.label),
    ).fetchone()
    assert row is not None
    audit(conn, actor, tenant_id=tenant_id, action="grant.create", target=partner,
          detail={"tenant": tenant, "kinds": kinds, "expires_at": expires_at.isoformat()})
    return int(row[0])


def revoke_grant(conn: psycopg.Connection, grant_id: int, *, actor: Actor) -> bool:
    """Ends a grant now (those the connection may change); False if there is none."""
    row = conn.execute(
        "delete from grants g where id = %s "
        "returning tenant_id, (select slug from tenants where id = g.partner_tenant_id), kinds",
        (grant_id,),
    ).fetchone()
    if row is None:
        return False
    audit(conn, actor, tenant_id=row[0], action="grant.revoke", target=row[1],
          detail={"grant": grant_id, "kinds": row[2]})
    return True


# --- audit log --------------------------------------------------------------------------
_AUDIT = ("insert into audit_log (tenant_id, actor, key_id, user_id, action, target, detail) "
          "values (%s, %s, %s, %s, %s, %s, %s)")


def audit(conn: psycopg.Connection, actor: Actor, *, tenant_id: int, action: str, target: str,
          detail: dict[str, Any] | None = None) -> None:
    """Records a change in the audit log, in the caller's transaction."""
    conn.execute(_AUDIT, (tenant_id, actor.label, actor.key_id, actor.user_id, action, target,
                          Jsonb(detail or {})))


def audit_many(conn: psycopg.Connection, actor: Actor, action: str,
               entries: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
    """Records many changes of one actor, (tenant_id, target, detail) each, in one pipeline."""
    with conn.cursor() as cur:
        cur.executemany(_AUDIT, [(tenant_id, actor.label, actor.key_id, actor.user_id, action,
                                  target, Jsonb(detail)) for tenant_id, target, detail in entries])
