"""Isolation between tenants, through the API and inside PostgreSQL (docs/roles.md).

A key of commune A gets nothing of commune B through any endpoint; a database session as the
API's role sees only the rows of the scope it set, whatever its SQL, and nothing without one;
a partner sees the granted kinds only, and nothing after the expiry; each role may do what
the permission table says, and nothing more.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.rows import dict_row

from phare import db
from phare.settings import Settings
from phare.tenancy import (
    ROLE_PERMISSIONS,
    ROLES,
    Permission,
    Principal,
    add_tenant,
    add_user,
    grant_partner,
    issue_api_key,
    principal_for_key,
    scope_literal,
    set_scope,
)
from tests.api.conftest import auth, device_body, insert_readings, key_for
from tests.api.test_rejected import reject
from tests.conftest import register_device

API = "/api/v1"
ROUTES = Path(__file__).resolve().parents[2] / "api" / "routes"
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class World:
    """An EPCI (root) over communes A and B, each with a cabinet, a detector and their data."""

    epci: str
    a: str
    b: str
    ids: dict[str, int]         # tenant slug -> id
    uids: dict[str, int]        # "slug/device" -> uid
    admin: dict[str, str]       # tenant slug -> an admin key
    key_ids: dict[str, int]     # tenant slug -> that key's id
    partner: str                # a partner tenant, granted nothing yet
    zones: dict[str, int] = field(default_factory=dict)  # tenant slug -> its dark zone's id


@pytest.fixture
def world(conn: psycopg.Connection, tenant: str) -> Iterator[World]:
    a, b, partner = f"{tenant}-a", f"{tenant}-b", f"{tenant}-sdis"
    add_tenant(conn, a, "Commune A", parent=tenant)
    add_tenant(conn, b, "Commune B", parent=tenant)
    add_tenant(conn, partner, "SDIS", kind="partner")
    ids: dict[str, int] = dict(conn.execute("select slug, id from tenants where slug = any(%s)",
                            ([tenant, a, b, partner],)).fetchall())
    uids, admin, key_ids, zones = {}, {}, {}, {}
    for commune in (a, b):
        for device_id, kind, metric in (("armoire-1", "lighting_cabinet", "power_w"),
                                        ("detecteur-1", "hazard_detector", "temperature_c")):
            uid = register_device(conn, commune, device_id, kind)
            uids[f"{commune}/{device_id}"] = uid
            insert_readings(conn, uid, metric, [(NOW - timedelta(hours=h), 20.0 + h)
                                                for h in (1, 2, 30)])
            conn.execute("insert into events (ts, tenant_id, device_uid, type) "
                         "values (%s, %s, %s, 'test')", (NOW - timedelta(hours=1), ids[commune], uid))
        conn.execute("insert into commands (tenant_id, device_uid, type, params) "
                     "values (%s, %s, 'switch', '{\"on\": true}')",
                     (ids[commune], uids[f"{commune}/armoire-1"]))
        # Lighting: a policy, a dark zone over both communes' cabinets, a schedule.
        conn.execute("insert into lighting_policies (tenant_id, updated_by) values (%s, 'test')",
                     (ids[commune],))
        zones[commune] = conn.execute(
            "insert into dark_zones (tenant_id, name, area, updated_by) values (%s, %s, "
            "st_multi(st_geomfromtext('POLYGON((3.08 45.02, 3.1 45.02, 3.1 45.04, 3.08 45.04, "
            "3.08 45.02))', 4326)), 'test') returning id",
            (ids[commune], f"Trame noire de {commune}")).fetchone()[0]
        conn.execute("insert into commands (tenant_id, device_uid, type, params, detail) "
                     "values (%s, %s, 'set_schedule', '{\"steps\": []}', '{\"night\": \"2026-01-15\"}')",
                     (ids[commune], uids[f"{commune}/armoire-1"]))
        reject(conn, commune, "unknown_device", b"{}", device_id="inconnu")
        add_user(conn, tenant=commune, email=f"maire-{uuid.uuid4().hex[:8]}@{commune}.fr",
                 role="viewer")
        issued = issue_api_key(conn, tenant=commune, role="admin")
        admin[commune], key_ids[commune] = issued.key, issued.id
    # Tenantless rejections are seen by every root key: other tests must not meet this one.
    tenantless = reject(conn, None, "unknown_tenant", b"{}")
    yield World(epci=tenant, a=a, b=b, ids=ids, uids=uids, admin=admin, key_ids=key_ids,
                partner=partner, zones=zones)
    conn.execute("delete from rejected_messages where id = %s", (tenantless,))


# --- through the API ----------------------------------------------------------------------
def test_the_api_connects_as_its_own_role(client: TestClient) -> None:
    with client.app.state.pool.connection() as c:  # type: ignore[attr-defined]
        row = c.execute("select current_user, rolsuper, rolbypassrls from pg_roles "
                        "where rolname = current_user").fetchone()
    assert row == ("phare_api", False, False)


LISTS = ["/devices", "/tenants", "/rejected", "/rejected/counts", "/users", "/keys", "/audit",
         "/partners/grants", "/lighting/policies", "/lighting/dark-zones", "/schedules"]


@pytest.mark.parametrize("path", LISTS, ids=lambda p: p.strip("/").replace("/", "-"))
def test_lists_hold_nothing_of_the_neighbour(client: TestClient, world: World,
                                            path: str) -> None:
    r = client.get(API + path, headers=auth(world.admin[world.a]))
    assert r.status_code == 200, r.text
    assert world.b not in r.text


def test_lists_hold_the_keys_own_data(client: TestClient, world: World) -> None:
    """The negative test above means something: the same lists do show A's rows."""
    key = auth(world.admin[world.a])
    devices = client.get(f"{API}/devices", headers=key).json()["data"]
    assert {(d["tenant"], d["id"]) for d in devices} == {(world.a, "armoire-1"),
                                                         (world.a, "detecteur-1")}
    rejected = client.get(f"{API}/rejected", headers=key).json()
    assert [m["tenant"] for m in rejected["data"]] == [world.a]  # not the tenant-less one
    assert client.get(f"{API}/rejected/counts", headers=key).json()["data"] == [
        {"reason": "unknown_device", "count": 1}]
    assert [t["slug"] for t in client.get(f"{API}/tenants", headers=key).json()["data"]] == [
        world.a]
    assert len(client.get(f"{API}/users", headers=key).json()["data"]) == 1
    assert world.a in client.get(f"{API}/audit", headers=key).text
    for path in ("/lighting/policies", "/lighting/dark-zones", "/schedules"):
        listed = client.get(API + path, headers=key).json()
        assert [x["tenant"] for x in listed["data"]] == [world.a], path
    zone = client.get(f"{API}/lighting/dark-zones/{world.zones[world.a]}", headers=key).json()
    assert zone["cabinets"] == 1  # its own cabinet, not B's under the same polygon


@pytest.mark.parametrize("path", [
    "/devices?tenant={b}", "/devices/{b}/armoire-1", "/devices/{b}/armoire-1/readings?metric=power_w",
    "/devices/{b}/detecteur-1/readings?metric=temperature_c&bucket=1h",
    "/rejected?tenant={b}", "/rejected/counts?tenant={b}", "/users?tenant={b}",
    "/keys?tenant={b}", "/audit?tenant={b}", "/lighting/policies/{b}",
    "/lighting/policies?tenant={b}", "/lighting/dark-zones?tenant={b}", "/schedules?tenant={b}",
    "/exports/full?tenant={b}",
], ids=lambda p: p.split("?")[0].replace("{b}", "b").strip("/").replace("/", "-")
   + ("-filtered" if "tenant=" in p else ""))
def test_reading_the_neighbour_is_404(client: TestClient, world: World, path: str) -> None:
    r = client.get(API + path.format(b=world.b), headers=auth(world.admin[world.a]))
    assert r.status_code == 404, r.text


@pytest.mark.parametrize(("path", "body"), [
    ("/devices", lambda w: device_body(w.b, "intrus")),
    ("/users", lambda w: {"tenant": w.b, "email": "intrus@ailleurs.fr", "role": "admin"}),
    ("/keys", lambda w: {"tenant": w.b, "role": "admin"}),
    ("/partners/grants", lambda w: {"partner": w.partner, "tenant": w.b,
                                    "kinds": ["hazard_detector"],
                                    "expires_at": "2030-01-01T00:00:00Z"}),
    ("/lighting/dark-zones", lambda w: {"tenant": w.b, "name": "Intruse", "area": {
        "type": "Polygon", "coordinates": [[[3.0, 45.0], [3.1, 45.0], [3.1, 45.1], [3.0, 45.0]]]}}),
], ids=["devices", "users", "keys", "grants", "dark-zones"])
def test_writing_into_the_neighbour_is_403(client: TestClient, world: World, path: str,
                                           body: Callable[[World], dict]) -> None:
    r = client.post(API + path, json=body(world), headers=auth(world.admin[world.a]))
    assert r.status_code == 403, r.text


def test_the_neighbours_lighting_cannot_be_changed(client: TestClient, world: World) -> None:
    key = auth(world.admin[world.a])
    policy = f"{API}/lighting/policies/{world.b}"
    assert client.put(policy, json={"off_from": None}, headers=key).status_code == 403
    assert client.delete(policy, headers=key).status_code == 403
    zone = f"{API}/lighting/dark-zones/{world.zones[world.b]}"
    assert client.get(zone, headers=key).status_code == 404
    assert client.patch(zone, json={"level_pct": 100}, headers=key).status_code == 404
    assert client.delete(zone, headers=key).status_code == 404
    mine = auth(world.admin[world.b])
    assert client.get(zone, headers=mine).json()["level_pct"] == 0  # untouched
    assert client.get(policy, headers=mine).json()["off_from"] == "23:00"


def test_the_full_export_holds_nothing_of_the_neighbour(client: TestClient,
                                                        world: World) -> None:
    """Every file of A's archive: A's rows, and no trace of B (whose slug is unique)."""
    r = client.get(f"{API}/exports/full", headers=auth(world.admin[world.a]))
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        text = b"".join(zf.read(name) for name in zf.namelist()).decode("utf-8")
        devices = zf.read("devices.csv").decode("utf-8")
    assert world.b not in text
    assert f"{world.a},armoire-1" in devices and f"{world.a},detecteur-1" in devices


def test_revoking_the_neighbours_key_is_404(client: TestClient, world: World) -> None:
    r = client.delete(f"{API}/keys/{world.key_ids[world.b]}", headers=auth(world.admin[world.a]))
    assert r.status_code == 404
    assert client.get(f"{API}/devices", headers=auth(world.admin[world.b])).status_code == 200


# --- inside PostgreSQL ------------------------------------------------------------------------
@pytest.fixture
def api_db(settings: Settings) -> Iterator[psycopg.Connection]:
    """A session as the API's database role, on the session's schema: hand-written SQL."""
    with psycopg.connect(settings.api_database().get_secret_value(), autocommit=True,
                         options=db.search_path_option(settings)) as c:
        yield c


def tenant_tables(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """Every table of Phare's schema with a tenant_id column."""
    return [r[0] for r in conn.execute(
        "select c.relname from pg_class c join pg_attribute a on a.attrelid = c.oid "
        "where c.relnamespace = %s::regnamespace and c.relkind in ('r', 'p') "
        "and a.attname = 'tenant_id' and not a.attisdropped order by 1",
        (settings.database_schema,))]


def scoped(c: psycopg.Connection, tenant_ids: set[int], partner_id: int | None = None) -> None:
    c.execute("select set_config('phare.tenant_ids', %s, true), "
              "set_config('phare.partner_id', %s, true)",
              (scope_literal(tenant_ids), "" if partner_id is None else str(partner_id)))


def test_every_tenant_table_has_row_level_security(conn: psycopg.Connection,
                                                   settings: Settings) -> None:
    tables = tenant_tables(conn, settings)
    assert {"readings", "devices", "events", "rejected_messages", "commands", "api_keys",
            "users", "audit_log", "grants"} <= set(tables)
    unprotected = [r[0] for r in conn.execute(
        "select c.relname from pg_class c where c.relnamespace = %s::regnamespace "
        "and c.relname = any(%s) and not (c.relrowsecurity and exists "
        "(select 1 from pg_policy p where p.polrelid = c.oid))",
        (settings.database_schema, tables))]
    assert unprotected == []


def test_without_a_scope_the_api_role_sees_nothing(world: World, conn: psycopg.Connection,
                                                   api_db: psycopg.Connection,
                                                   settings: Settings) -> None:
    seen = {}
    for table in [*tenant_tables(conn, settings), "tenants"]:
        row = api_db.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table)))
        seen[table] = row.fetchone()[0]  # type: ignore[index]
    assert seen == dict.fromkeys(seen, 0)
    assert conn.execute("select count(*) from readings").fetchone()[0] > 0  # type: ignore[index]


@pytest.mark.parametrize("table", ["readings", "devices", "events", "rejected_messages",
                                   "commands", "api_keys", "users", "audit_log",
                                   "lighting_policies", "dark_zones"])
def test_scoped_to_a_select_star_sees_only_a(world: World, api_db: psycopg.Connection,
                                             table: str) -> None:
    a, b = world.ids[world.a], world.ids[world.b]
    with api_db.transaction(), api_db.cursor(row_factory=dict_row) as cur:
        scoped(api_db, {a})
        rows = cur.execute(sql.SQL("select * from {}").format(sql.Identifier(table))).fetchall()
    assert {r["tenant_id"] for r in rows} == {a}
    assert b not in {r["tenant_id"] for r in rows}


def test_scoped_to_a_no_tenant_table_shows_another_tenant(world: World,
                                                          conn: psycopg.Connection,
                                                          api_db: psycopg.Connection,
                                                          settings: Settings) -> None:
    a = world.ids[world.a]
    leaks = {}
    with api_db.transaction():
        scoped(api_db, {a})
        for table in tenant_tables(conn, settings):
            others = api_db.execute(
                sql.SQL("select count(*) from {} where tenant_id is distinct from %s")
                .format(sql.Identifier(table)), (a,)).fetchone()[0]  # type: ignore[index]
            if others:
                leaks[table] = others
        tenants = [r[0] for r in api_db.execute("select slug from tenants where kind <> 'partner'")]
    assert leaks == {}
    assert tenants == [world.a]


def test_the_policy_in_force_is_told_only_for_the_scope(world: World,
                                                        api_db: psycopg.Connection) -> None:
    """`lighting_policy_in_force` reads as its owner (a commune may know its EPCI's policy):
    it must answer nothing about a tenant outside the request's scope."""
    a, b = world.ids[world.a], world.ids[world.b]
    with api_db.transaction():
        scoped(api_db, {a})
        mine = api_db.execute("select source_slug from lighting_policy_in_force(%s)",
                              (a,)).fetchall()
        theirs = api_db.execute("select count(*) from lighting_policy_in_force(%s)",
                                (b,)).fetchone()
    assert mine == [(world.a,)] and theirs == (0,)
    with api_db.transaction():
        assert api_db.execute("select count(*) from lighting_policy_in_force(%s)",
                              (a,)).fetchone() == (0,)  # no scope at all: nothing


def test_rows_cannot_be_written_out_of_the_scope(world: World, api_db: psycopg.Connection) -> None:
    a, b = world.ids[world.a], world.ids[world.b]
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        with api_db.transaction():
            scoped(api_db, {a})
            api_db.execute("insert into devices (tenant_id, id, kind, name) "
                           "values (%s, 'intrus', 'lighting_cabinet', 'Intrus')", (b,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        with api_db.transaction():
            scoped(api_db, {a})
            api_db.execute("update devices set tenant_id = %s where tenant_id = %s", (b, a))
    with api_db.transaction():
        scoped(api_db, {a})
        assert api_db.execute("delete from api_keys where tenant_id = %s", (b,)).rowcount == 0
        assert api_db.execute("update devices set name = 'x' where tenant_id = %s",
                              (b,)).rowcount == 0


def test_the_audit_log_is_append_only(world: World, api_db: psycopg.Connection) -> None:
    for statement in ("update audit_log set actor = 'x'", "delete from audit_log"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), api_db.transaction():
            scoped(api_db, {world.ids[world.a]})
            api_db.execute(statement)


def test_chunks_cannot_be_read_around_the_hypertable(world: World, conn: psycopg.Connection,
                                                     api_db: psycopg.Connection) -> None:
    """TimescaleDB copies table privileges to chunks but not row-level security (#7830)."""
    chunks = conn.execute(
        "select n.nspname, c.relname from unnest(array['readings', 'events']::regclass[]) h "
        "cross join lateral show_chunks(h) s(chunk) join pg_class c on c.oid = s.chunk "
        "join pg_namespace n on n.oid = c.relnamespace").fetchall()
    assert chunks
    readable = []
    for schema, name in chunks:
        try:
            api_db.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, name)))
        except psycopg.errors.InsufficientPrivilege:
            continue
        readable.append(name)
    assert readable == []


def test_tenantless_rejections_are_the_platform_operators(world: World,
                                                          api_db: psycopg.Connection) -> None:
    def tenantless(scope: set[int]) -> int:
        with api_db.transaction():
            scoped(api_db, scope)
            return int(api_db.execute("select count(*) from rejected_messages "
                                      "where tenant_id is null").fetchone()[0])  # type: ignore[index]

    ids = world.ids
    assert tenantless({ids[world.epci], ids[world.a], ids[world.b]}) > 0  # a root: the operator
    assert tenantless({ids[world.a]}) == 0
    assert tenantless({ids[world.partner]}) == 0  # a partner has no parent but operates nothing


# --- partners ---------------------------------------------------------------------------------
@pytest.fixture
def sdis(conn: psycopg.Connection, world: World) -> str:
    """A viewer key of the partner, granted the hazard detectors of commune A."""
    grant_partner(conn, partner=world.partner, tenant=world.a, kinds=["hazard_detector"],
                  expires_at=NOW + timedelta(days=30))
    return key_for(conn, world.partner, "viewer")


def expire_grants(conn: psycopg.Connection, world: World) -> None:
    conn.execute("update grants set expires_at = now() - interval '1 second' "
                 "where partner_tenant_id = %s", (world.ids[world.partner],))


def test_a_partner_reads_the_granted_kinds_only(client: TestClient, world: World,
                                                sdis: str) -> None:
    key = auth(sdis)
    devices = client.get(f"{API}/devices", headers=key).json()
    assert [(d["tenant"], d["id"]) for d in devices["data"]] == [(world.a, "detecteur-1")]
    assert devices["count"] == 1
    readings = client.get(f"{API}/devices/{world.a}/detecteur-1/readings",
                          params={"metric": "temperature_c"}, headers=key)
    assert [p["value"] for p in readings.json()["data"]] == [22.0, 21.0]
    for path in (f"/devices/{world.a}/armoire-1", f"/devices/{world.b}/detecteur-1",
                 f"/devices/{world.a}/armoire-1/readings?metric=power_w"):
        assert client.get(API + path, headers=key).status_code == 404, path
    assert {t["slug"] for t in client.get(f"{API}/tenants", headers=key).json()["data"]} == {
        world.partner, world.a}
    assert client.get(f"{API}/rejected", headers=key).json()["count"] == 0


def test_a_partner_changes_nothing_in_granted_tenants(client: TestClient, conn: psycopg.Connection,
                                                      world: World, sdis: str) -> None:
    admin = key_for(conn, world.partner, "admin")
    body = device_body(world.a, "detecteur-sdis", kind="hazard_detector")
    assert client.post(f"{API}/devices", json=body, headers=auth(admin)).status_code == 403
    r = client.post(f"{API}/keys", json={"tenant": world.a, "role": "viewer"}, headers=auth(admin))
    assert r.status_code == 403
    assert client.get(f"{API}/users", params={"tenant": world.a},
                      headers=auth(admin)).json()["data"] == []


def test_the_database_filters_a_partner_by_kind(world: World, conn: psycopg.Connection,
                                                api_db: psycopg.Connection, sdis: str) -> None:
    principal = principal_for_key(conn, sdis)
    assert principal is not None and principal.partner
    detector = world.uids[f"{world.a}/detecteur-1"]
    with api_db.transaction():
        set_scope(api_db, principal)  # exactly as the API does
        devices = api_db.execute("select tenant_id, kind from devices").fetchall()
        readings = api_db.execute("select distinct device_uid from readings").fetchall()
        events = api_db.execute("select distinct device_uid from events").fetchall()
        commands = api_db.execute("select count(*) from commands").fetchone()
        rejected = api_db.execute("select count(*) from rejected_messages").fetchone()
        keys = api_db.execute("select distinct tenant_id from api_keys").fetchall()
    assert devices == [(world.ids[world.a], "hazard_detector")]
    assert readings == events == [(detector,)]
    assert commands == rejected == (0,)  # the command went to the cabinet
    assert keys == [(world.ids[world.partner],)]


def test_after_expiry_a_partner_sees_nothing(client: TestClient, world: World,
                                             conn: psycopg.Connection,
                                             api_db: psycopg.Connection, sdis: str) -> None:
    before = principal_for_key(conn, sdis)
    assert before is not None
    expire_grants(conn, world)
    key = auth(sdis)
    assert client.get(f"{API}/devices", headers=key).json()["data"] == []
    assert client.get(f"{API}/devices/{world.a}/detecteur-1/readings",
                      params={"metric": "temperature_c"}, headers=key).status_code == 404
    assert [t["slug"] for t in client.get(f"{API}/tenants", headers=key).json()["data"]] == [
        world.partner]
    # The database checks the expiry itself, even for a principal computed before it.
    with api_db.transaction():
        set_scope(api_db, before)
        assert api_db.execute("select count(*) from readings").fetchone() == (0,)
        assert api_db.execute("select count(*) from devices").fetchone() == (0,)


def test_a_grant_covers_the_tenants_below(client: TestClient, conn: psycopg.Connection,
                                          world: World) -> None:
    grant_partner(conn, partner=world.partner, tenant=world.epci,
                  kinds=["hazard_detector", "lighting_cabinet"], expires_at=NOW + timedelta(days=1))
    devices = client.get(f"{API}/devices", headers=auth(key_for(conn, world.partner))).json()
    assert {(d["tenant"], d["id"]) for d in devices["data"]} == {
        (c, d) for c in (world.a, world.b) for d in ("armoire-1", "detecteur-1")}


# --- roles ------------------------------------------------------------------------------------
# One request per permission that an endpoint requires; what a role may do is answered with
# anything but 403, what it may not with 403.
Probe = Callable[[TestClient, World, str], int]


def _post(path: str, body: Callable[[World], dict]) -> Probe:
    return lambda client, world, key: client.post(API + path.format(a=world.a), json=body(world),
                                                  headers=auth(key)).status_code


def _get(path: str) -> Probe:
    return lambda client, world, key: client.get(API + path, headers=auth(key)).status_code


def _unique() -> str:
    return uuid.uuid4().hex[:8]


PROBES: dict[Permission, tuple[Probe, int]] = {
    Permission.READ_DATA: (_get("/devices"), 200),
    Permission.REGISTER_DEVICES: (_post("/devices", lambda w: device_body(w.a)), 201),
    Permission.MANAGE_KEYS: (_post("/keys", lambda w: {"tenant": w.a, "role": "viewer"}), 201),
    Permission.MANAGE_USERS: (_post("/users", lambda w: {
        "tenant": w.a, "email": f"agent-{_unique()}@mairie.fr", "role": "viewer"}), 201),
    Permission.MANAGE_PARTNERS: (_post("/partners/grants", lambda w: {
        "partner": w.partner, "tenant": w.a, "kinds": ["water_flow_meter"],
        "expires_at": "2030-01-01T00:00:00Z"}), 201),
    Permission.READ_AUDIT: (_get("/audit"), 200),
    # Other teams' endpoints: a role with the permission gets past the check (422 for the
    # empty command, 404 for the alert that does not exist), one without it gets 403.
    Permission.SEND_COMMANDS: (_post("/devices/{a}/armoire-1/commands", lambda w: {}), 422),
    Permission.ACKNOWLEDGE_ALERTS: (_post("/alerts/0/ack", lambda w: {}), 404),
    Permission.EXPORT_DATA: (_get("/exports/devices.geojson"), 200),
    Permission.EXPORT_TENANT: (_get("/exports/full"), 200),
}
# Permissions no endpoint requires yet.
NOT_EXPOSED: set[Permission] = set()


@pytest.mark.parametrize(
    ("role", "permission"),
    [pytest.param(role, p, id=f"{role}-{'may' if p in ROLE_PERMISSIONS[role] else 'cannot'}-"
                              f"{p.value}")
     for p in PROBES for role in ROLES],
)
def test_each_role_may_do_what_the_table_says(client: TestClient, conn: psycopg.Connection,
                                              world: World, role: str,
                                              permission: Permission) -> None:
    probe, success = PROBES[permission]
    status = probe(client, world, key_for(conn, world.a, role))
    if permission in ROLE_PERMISSIONS[role]:
        assert status == success
    else:
        assert status == 403


_REQUIRE = re.compile(r"require\(Permission\.([A-Z_]+)\)")
_ALIAS = re.compile(r"^(\w+) = Annotated\[Principal, Depends\(require\(Permission\.([A-Z_]+)\)\)\]",
                    re.M)


def required_permissions() -> set[Permission]:
    """The permissions the API's routes require: `require(Permission.…)` in a route module, or
    an alias of api/deps.py (`DeviceManager`…) that a route module uses."""
    routes = "\n".join(m.read_text("utf-8") for m in ROUTES.glob("*.py"))
    aliases = _ALIAS.findall((ROUTES.parent / "deps.py").read_text("utf-8"))
    names = set(_REQUIRE.findall(routes))
    names |= {perm for alias, perm in aliases if re.search(rf"\b{alias}\b", routes)}
    return {Permission[name] for name in names}


def test_every_required_permission_is_probed() -> None:
    assert set(PROBES) | NOT_EXPOSED == set(Permission)
    required = required_permissions()
    assert set(PROBES) <= required
    assert not required & NOT_EXPOSED, "a route requires it now: add a probe for it above"


def test_a_forbidden_role_is_told_which_roles_may(client: TestClient, conn: psycopg.Connection,
                                                  world: World) -> None:
    r = client.post(f"{API}/devices", json=device_body(world.a),
                    headers=auth(key_for(conn, world.a, "viewer")))
    assert r.status_code == 403
    assert r.json()["detail"] == ("a key with role 'viewer' cannot register devices; "
                                  "it needs one of the roles: admin, technician")


def test_principal_scope_is_what_the_database_is_told(conn: psycopg.Connection,
                                                      world: World) -> None:
    principal = principal_for_key(conn, world.admin[world.a])
    assert isinstance(principal, Principal)
    with conn.transaction():
        set_scope(conn, principal)
        assert conn.execute("select phare_scope()").fetchone() == ([world.ids[world.a]],)
