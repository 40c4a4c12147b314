"""The GIS views of migration 0008: valid WGS 84 points, and row-level security through them."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from phare import db
from phare.settings import Settings
from phare.tenancy import add_tenant, scope_literal
from tests.api.test_exports import add_alert
from tests.conftest import register_device


@pytest.fixture
def communes(conn: psycopg.Connection, tenant: str) -> dict[str, int]:
    """Communes A and B below the test's tenant, each with a cabinet and an open alert."""
    ids = {}
    for name in ("a", "b"):
        slug = f"{tenant}-{name}"
        ids[slug] = add_tenant(conn, slug, f"Commune {name.upper()}", parent=tenant)
        uid = register_device(conn, slug, "armoire-1")
        add_alert(conn, uid, "cabinet_fault")
    return ids


@pytest.fixture
def api_db(settings: Settings) -> Iterator[psycopg.Connection]:
    """A session as the API's database role (bound by row-level security)."""
    with psycopg.connect(settings.api_database().get_secret_value(), autocommit=True,
                         options=db.search_path_option(settings)) as c:
        yield c


@pytest.mark.parametrize("view", ["gis_devices", "gis_open_alerts"])
def test_the_owner_reads_valid_wgs84_points(conn: psycopg.Connection, communes: dict[str, int],
                                            view: str) -> None:
    rows = conn.execute(
        f"select tenant, device_id, st_isvalid(geom), st_srid(geom), geometrytype(geom), "  # noqa: S608
        f"st_x(geom), st_y(geom) from {view} where tenant = any(%s) order by tenant",
        (list(communes),)).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(slug, "armoire-1") for slug in sorted(communes)]
    for _, _, valid, srid, kind, lon, lat in rows:
        assert (valid, srid, kind) == (True, 4326, "POINT")
        assert (lon, lat) == pytest.approx((3.09, 45.03))  # [lon, lat], not swapped


def test_only_active_alerts_are_shown(conn: psycopg.Connection, communes: dict[str, int]) -> None:
    conn.execute("update alerts set status = 'resolved', resolved_at = now(), "
                 "resolution = 'manual' where tenant_id = %s", (min(communes.values()),))
    shown = conn.execute("select tenant from gis_open_alerts where tenant = any(%s)",
                         (list(communes),)).fetchall()
    assert shown == [(max(communes, key=communes.__getitem__),)]


@pytest.mark.parametrize("view", ["gis_devices", "gis_open_alerts"])
def test_the_api_role_sees_only_its_scope_through_the_views(api_db: psycopg.Connection,
                                                            communes: dict[str, int],
                                                            view: str) -> None:
    a, b = sorted(communes)
    with api_db.transaction():
        api_db.execute("select set_config('phare.tenant_ids', %s, true), "
                       "set_config('phare.partner_id', '', true)",
                       (scope_literal({communes[a]}),))
        seen = {r[0] for r in api_db.execute(f"select tenant from {view}")}  # noqa: S608
    assert seen == {a}
    assert b not in seen
    # Without a scope: nothing (the views do not run with their owner's rights).
    assert api_db.execute(f"select count(*) from {view}").fetchone() == (0,)  # noqa: S608


def test_the_views_run_with_the_callers_rights(conn: psycopg.Connection) -> None:
    options: dict[str, list[str]] = dict(conn.execute(
        "select c.relname, c.reloptions from pg_class c where c.relname in "
        "('gis_devices', 'gis_open_alerts') and c.relnamespace = current_schema()::regnamespace"
    ).fetchall())
    assert options == {"gis_devices": ["security_invoker=true"],
                       "gis_open_alerts": ["security_invoker=true"]}
