"""Tenancy in Python: kinds, roles and their permissions, users, keys, partners' grants, audit.

The database side (row-level security) is tested in tests/api/test_isolation.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from phare.tenancy import (
    ROLE_PERMISSIONS,
    ROLES,
    Actor,
    AlreadyExists,
    Permission,
    TenantError,
    add_tenant,
    add_user,
    allows,
    audit,
    create_api_key,
    grant_partner,
    issue_api_key,
    parse_expiry,
    principal_for_key,
    revoke_api_key,
    scope_literal,
    set_scope,
)
from tests.conftest import env_for
from tests.test_cli import phare

ROLES_DOC = Path(__file__).resolve().parent.parent / "docs" / "roles.md"
LATER = datetime.now(UTC) + timedelta(days=30)


def slug() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def kind_of(conn: psycopg.Connection, tenant: str) -> str:
    row = conn.execute("select kind from tenants where slug = %s", (tenant,)).fetchone()
    assert row is not None
    return str(row[0])


# --- roles and permissions ----------------------------------------------------------------
def doc_table() -> dict[str, dict[str, bool]]:
    """docs/roles.md's permission table: permission -> role -> allowed."""
    lines = ROLES_DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| permission |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    assert header[2:] == list(ROLES)
    table = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        marks = zip(ROLES, cells[2:], strict=True)
        table[cells[0].strip("`")] = {role: mark == "✓" for role, mark in marks}
    return table


def test_the_documented_permission_table_is_the_enforced_one() -> None:
    assert doc_table() == {p.value: {role: allows(role, p) for role in ROLES} for p in Permission}


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [pytest.param(role, p, p in ROLE_PERMISSIONS[role],
                  id=f"{role}-{'may' if p in ROLE_PERMISSIONS[role] else 'cannot'}-{p.value}")
     for role in ROLES for p in Permission],
)
def test_allows_follows_the_table(role: str, permission: Permission, allowed: bool) -> None:
    assert allows(role, permission) is allowed


def test_roles_are_nested_and_unknown_roles_get_nothing() -> None:
    viewer, operator, technician, admin = (ROLE_PERMISSIONS[r] for r in
                                           ("viewer", "operator", "technician", "admin"))
    assert viewer < operator < technician < admin == frozenset(Permission)
    assert not any(allows("mayor", p) for p in Permission)


# --- tenants ------------------------------------------------------------------------------
def test_kind_is_inferred_from_the_tree(conn: psycopg.Connection) -> None:
    root, epci, commune = slug(), slug(), slug()
    add_tenant(conn, root, "Syndicat")
    add_tenant(conn, epci, "Communauté", parent=root)
    add_tenant(conn, commune, "Commune", parent=epci)
    assert [kind_of(conn, t) for t in (root, epci, commune)] == ["syndicate", "epci", "commune"]
    direct = slug()
    add_tenant(conn, direct, "Commune membre directe", parent=root, kind="commune")
    assert kind_of(conn, direct) == "commune"


def test_partners_have_no_tenants_below_and_kinds_are_checked(conn: psycopg.Connection) -> None:
    sdis = slug()
    add_tenant(conn, sdis, "SDIS", kind="partner")
    assert kind_of(conn, sdis) == "partner"
    with pytest.raises(TenantError, match="a partner has no tenants below it"):
        add_tenant(conn, slug(), "Sous-partenaire", parent=sdis)
    with pytest.raises(TenantError, match="kind 'mairie' is not one of"):
        add_tenant(conn, slug(), "x", kind="mairie")


def test_creating_a_tenant_is_audited_once(conn: psycopg.Connection) -> None:
    t = slug()
    for _ in range(2):
        add_tenant(conn, t, "Commune", actor=Actor("cli:test"))
    rows = conn.execute("select a.actor, a.target from audit_log a join tenants t "
                        "on t.id = a.tenant_id where t.slug = %s and a.action = 'tenant.create'",
                        (t,)).fetchall()
    assert rows == [("cli:test", t)]


# --- keys and principals --------------------------------------------------------------------
def test_a_key_sees_its_tenant_and_below(conn: psycopg.Connection) -> None:
    root, child, other = slug(), slug(), slug()
    add_tenant(conn, root, "Root")
    add_tenant(conn, child, "Child", parent=root)
    add_tenant(conn, other, "Other")
    principal = principal_for_key(conn, create_api_key(conn, root, "technician"))
    assert principal is not None
    ids: dict[str, int] = dict(conn.execute("select slug, id from tenants where slug = any(%s)",
                            ([root, child, other],)).fetchall())
    assert principal.scope == principal.visible == {ids[root], ids[child]}
    assert principal.reads(ids[child], "lighting_cabinet")
    assert not principal.reads(ids[other], "lighting_cabinet")
    assert (principal.tenant, principal.role, principal.partner) == (root, "technician", False)
    assert principal.can(Permission.REGISTER_DEVICES)
    assert not principal.can(Permission.MANAGE_KEYS)


def test_revoked_and_unknown_keys_have_no_principal(conn: psycopg.Connection,
                                                    tenant: str) -> None:
    issued = issue_api_key(conn, tenant=tenant, role="admin")
    assert principal_for_key(conn, issued.key) is not None
    assert revoke_api_key(conn, issued.id, actor=Actor("cli:test"))
    assert principal_for_key(conn, issued.key) is None
    assert not revoke_api_key(conn, issued.id, actor=Actor("cli:test"))
    assert principal_for_key(conn, "phk_" + "x" * 43) is None


def test_a_users_key_acts_with_the_users_current_role(conn: psycopg.Connection,
                                                      tenant: str) -> None:
    email = f"{uuid.uuid4().hex[:8]}@mairie.fr"
    add_user(conn, tenant=tenant, email=email, role="operator", name="Jeanne Martin")
    key = issue_api_key(conn, user=email.upper()).key  # addresses match whatever their case
    principal = principal_for_key(conn, key)
    assert principal is not None
    assert (principal.role, principal.user_email, principal.actor.label) == (
        "operator", email, f"user:{email}")
    conn.execute("update users set role = 'viewer' where email = %s", (email,))
    assert principal_for_key(conn, key).role == "viewer"  # type: ignore[union-attr]
    conn.execute("update users set disabled_at = now() where email = %s", (email,))
    assert principal_for_key(conn, key) is None


def test_user_and_key_mistakes_are_explained(conn: psycopg.Connection, tenant: str) -> None:
    email = f"{uuid.uuid4().hex[:8]}@mairie.fr"
    add_user(conn, tenant=tenant, email=email, role="viewer")
    with pytest.raises(AlreadyExists, match="already exists"):
        add_user(conn, tenant=tenant, email=email.upper(), role="viewer")
    with pytest.raises(TenantError, match="has the user's role, 'viewer'"):
        issue_api_key(conn, user=email, role="admin")
    with pytest.raises(TenantError, match=f"belongs to tenant '{tenant}'"):
        issue_api_key(conn, user=email, tenant="elsewhere")
    with pytest.raises(TenantError, match="role 'mayor' is not one of"):
        add_user(conn, tenant=tenant, email=f"x{email}", role="mayor")
    with pytest.raises(TenantError, match="not an e-mail address"):
        add_user(conn, tenant=tenant, email="pas-une-adresse", role="viewer")
    with pytest.raises(TenantError, match="user 'nobody@nowhere.fr' does not exist"):
        issue_api_key(conn, user="nobody@nowhere.fr")


# --- partners -------------------------------------------------------------------------------
@pytest.fixture
def partner(conn: psycopg.Connection) -> str:
    sdis = slug()
    add_tenant(conn, sdis, "SDIS du Cantal", kind="partner")
    return sdis


def test_a_partner_reads_granted_tenants_until_expiry(conn: psycopg.Connection, partner: str,
                                                      tenant: str) -> None:
    below = f"{tenant}-c"
    add_tenant(conn, below, "Commune", parent=tenant)
    key = create_api_key(conn, partner, "viewer")
    before = principal_for_key(conn, key)
    assert before is not None and before.partner and before.visible == before.scope

    grant_partner(conn, partner=partner, tenant=tenant, kinds=["hazard_detector"],
                  expires_at=LATER)
    granted = principal_for_key(conn, key)
    assert granted is not None
    ids: dict[str, int] = dict(conn.execute("select slug, id from tenants where slug = any(%s)",
                            ([tenant, below, partner],)).fetchall())
    assert granted.scope == {ids[partner]}  # what it changes
    assert granted.visible == {ids[partner], ids[tenant], ids[below]}  # the grant covers below
    assert granted.granted_kinds == {(ids[tenant], "hazard_detector"),
                                     (ids[below], "hazard_detector")}
    assert granted.reads(ids[below], "hazard_detector")
    assert not granted.reads(ids[below], "lighting_cabinet")
    assert granted.reads(ids[partner], "lighting_cabinet")

    conn.execute("update grants set expires_at = now() - interval '1 second' "
                 "where partner_tenant_id = %s", (ids[partner],))
    expired = principal_for_key(conn, key)
    assert expired is not None and expired.visible == {ids[partner]}


def test_granting_again_replaces_kinds_and_expiry(conn: psycopg.Connection, partner: str,
                                                  tenant: str) -> None:
    first = grant_partner(conn, partner=partner, tenant=tenant,
                          kinds=["water_flow_meter", "acoustic_leak_sensor"], expires_at=LATER)
    again = grant_partner(conn, partner=partner, tenant=tenant, kinds=["water_flow_meter"],
                          expires_at=LATER + timedelta(days=1))
    assert first == again
    row = conn.execute("select kinds, expires_at from grants where id = %s", (first,)).fetchone()
    assert row == (["water_flow_meter"], LATER + timedelta(days=1))


def test_grant_mistakes_are_explained(conn: psycopg.Connection, partner: str,
                                      tenant: str) -> None:
    with pytest.raises(TenantError, match="is a syndicate, not a partner"):
        grant_partner(conn, partner=tenant, tenant=tenant, kinds=["hazard_detector"],
                      expires_at=LATER)
    with pytest.raises(TenantError, match="grants give access to other tenants"):
        grant_partner(conn, partner=partner, tenant=partner, kinds=["hazard_detector"],
                      expires_at=LATER)
    with pytest.raises(TenantError, match=r"unknown: fire_hydrant"):
        grant_partner(conn, partner=partner, tenant=tenant, kinds=["fire_hydrant"],
                      expires_at=LATER)
    with pytest.raises(TenantError, match="tenant 'nowhere-x' does not exist"):
        grant_partner(conn, partner=partner, tenant="nowhere-x", kinds=["hazard_detector"],
                      expires_at=LATER)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("2027-12-31", "2028-01-01T00:00:00+01:00", id="a-day-includes-the-whole-day"),
    pytest.param("2027-06-30", "2027-07-01T00:00:00+02:00", id="summer-time"),
    pytest.param("2027-12-31T18:00:00Z", "2027-12-31T18:00:00+00:00", id="an-instant"),
])
def test_expiry_parsing(text: str, expected: str) -> None:
    assert parse_expiry(text) == datetime.fromisoformat(expected)


@pytest.mark.parametrize("text", ["2027-12-31T18:00:00", "fin 2027", "2027-13-01"])
def test_expiry_needs_a_date_or_an_instant_with_offset(text: str) -> None:
    with pytest.raises(TenantError, match="must be a date"):
        parse_expiry(text)


# --- scope and audit --------------------------------------------------------------------------
def test_scope_literal() -> None:
    assert scope_literal({8, 3, 7}) == "{3,7,8}"
    assert scope_literal(set()) == "{}"


def test_the_scope_lasts_one_transaction(conn: psycopg.Connection, tenant: str) -> None:
    principal = principal_for_key(conn, create_api_key(conn, tenant, "viewer"))
    assert principal is not None
    with conn.transaction():
        set_scope(conn, principal)
        inside = conn.execute("select phare_scope(), phare_partner()").fetchone()
    after = conn.execute("select phare_scope(), phare_partner()").fetchone()
    assert inside == (sorted(principal.scope), None)
    assert after == ([], None)


def test_audit_records_who_did_what(conn: psycopg.Connection, tenant: str) -> None:
    tenant_id = conn.execute("select id from tenants where slug = %s", (tenant,)).fetchone()[0]  # type: ignore[index]
    issued = issue_api_key(conn, tenant=tenant, role="admin", name="passerelle")
    audit(conn, Actor("key:1", key_id=issued.id), tenant_id=tenant_id, action="device.register",
          target=f"{tenant}/armoire-1", detail={"kind": "lighting_cabinet"})
    rows = conn.execute("select actor, key_id, action, target, detail from audit_log "
                        "where tenant_id = %s order by id", (tenant_id,)).fetchall()
    assert rows[-2][2:4] == ("key.create", f"key:{issued.id}")
    assert rows[-2][4]["name"] == "passerelle" and "key_hash" not in rows[-2][4]
    assert rows[-1] == ("key:1", issued.id, "device.register", f"{tenant}/armoire-1",
                        {"kind": "lighting_cabinet"})


# --- the command line ---------------------------------------------------------------------------
def test_cli_partner_user_and_user_key(settings, conn: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
    env = env_for(settings)
    sdis, commune = slug(), slug()
    out = phare("tenant", "add", sdis, "--name", "SDIS du Cantal", "--kind", "partner", env=env)
    assert out.returncode == 0, out.stderr
    assert kind_of(conn, sdis) == "partner"
    assert phare("tenant", "add", commune, "--name", "Saint-Flour", env=env).returncode == 0

    out = phare("partner", "grant", "--partner", sdis, "--tenant", commune,
                "--kinds", "water_flow_meter,acoustic_leak_sensor", "--expires", "2027-12-31",
                env=env)
    assert out.returncode == 0, out.stderr
    row = conn.execute("select g.kinds, g.expires_at, g.created_by from grants g "
                       "join tenants t on t.id = g.partner_tenant_id where t.slug = %s",
                       (sdis,)).fetchone()
    assert row is not None
    assert row[0] == ["acoustic_leak_sensor", "water_flow_meter"]
    assert row[1] == datetime.fromisoformat("2028-01-01T00:00:00+01:00")
    assert row[2].startswith("cli:")

    email = f"{uuid.uuid4().hex[:8]}@saint-flour.fr"
    out = phare("user", "add", "--tenant", commune, "--email", email, "--role", "operator",
                env=env)
    assert out.returncode == 0, out.stderr
    out = phare("apikey", "add", "--user", email, env=env)
    assert out.returncode == 0, out.stderr
    principal = principal_for_key(conn, out.stdout.strip().splitlines()[-1])
    assert principal is not None
    assert (principal.tenant, principal.role, principal.user_email) == (commune, "operator", email)


def test_cli_explains_partner_and_user_mistakes(settings) -> None:  # type: ignore[no-untyped-def]
    env = env_for(settings)
    out = phare("partner", "grant", "--partner", "nobody-x", "--tenant", "nobody-y",
                "--kinds", "hazard_detector", "--expires", "someday", env=env)
    assert out.returncode == 1 and "must be a date" in out.stderr
    out = phare("user", "add", "--tenant", "nobody-x", "--email", "a@b.fr", "--role", "admin",
                env=env)
    assert out.returncode == 1 and "tenant 'nobody-x' does not exist" in out.stderr
    out = phare("apikey", "add", env=env)
    assert out.returncode == 1 and "--tenant" in out.stderr
