"""Every panel's SQL, its Grafana macros expanded (dashboards/grafana/macros.py), runs on the real
PostgreSQL/TimescaleDB against a small territory (conftest.py) and shows what it should: rows
for the territory's tenants over short and long ranges, nothing of other tenants, rollups (not
raw readings) over long ranges, and the values the territory implies."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from dashboards.grafana import Dashboard, Panel, all_dashboards
from dashboards.grafana.sql import HOURLY_MAX, RAW_MAX, TENANT_VARIABLE_QUERY
from tests.conftest import TEST_DATABASE_URL
from tests.dashboards.conftest import SPANS, THRESHOLDS_CM, Territory

PANELS = [(d, p) for d in all_dashboards() for p in d.panels]
IDS = [f"{d.key}/{p.key}" for d, p in PANELS]
# Tables that land with other issues: a panel reading one that does not exist yet is skipped.
LANDING_LATER = {"alerts"}
_TABLE_RE = re.compile(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*)\b(?!\.)", re.IGNORECASE)


_CTE_RE = re.compile(r"\b([a-z_][a-z0-9_]*)\s+as\s+\(", re.IGNORECASE)


def tables_read(panel: Panel) -> set[str]:
    """The tables named by the panel's queries (common table expressions apart)."""
    return {name for t in panel.targets
            for name in set(_TABLE_RE.findall(t.sql)) - set(_CTE_RE.findall(t.sql))}


def skip_missing(territory: Territory, panel: Panel) -> None:
    for table in sorted(tables_read(panel) & LANDING_LATER):
        if not territory.has_table(table):
            pytest.skip(f"table {table} does not exist yet (it lands with its own issue)")


def panel(key: str) -> Panel:
    dashboard, name = key.split("/")
    return next(p for d, p in PANELS if d.key == dashboard and p.key == name)


@pytest.mark.parametrize("span", list(SPANS))
@pytest.mark.parametrize(("dashboard", "panel_"), PANELS, ids=IDS)
def test_panel_returns_rows(territory: Territory, dashboard: Dashboard, panel_: Panel,
                            span: str) -> None:
    skip_missing(territory, panel_)
    for target in panel_.targets:
        rows = territory.run(target.sql, territory.context(span, min_interval=panel_.min_interval))
        assert rows, f"{dashboard.key}/{panel_.key} ({target.ref_id}) returned no row over {span}"
        if panel_.type == "stat":  # one value per column, whatever the range
            assert len(rows) == 1, rows


def _blank(value: Any) -> bool:
    return value is None or value == 0 or isinstance(value, datetime)


@pytest.mark.parametrize(("dashboard", "panel_"),
                         [(d, p) for d, p in PANELS if not p.platform_wide],
                         ids=[i for i, (_, p) in zip(IDS, PANELS, strict=True)
                              if not p.platform_wide])
def test_panel_shows_nothing_of_other_tenants(territory: Territory, dashboard: Dashboard,
                                              panel_: Panel) -> None:
    """Another syndicate's commune sees no device, value or message of the territory."""
    skip_missing(territory, panel_)
    for span in SPANS:
        ctx = territory.context(span, [territory.other_commune_id], panel_.min_interval)
        for target in panel_.targets:
            rows = territory.run(target.sql, ctx)
            assert all(_blank(v) for row in rows for v in row), (span, rows[:5])


def test_every_panel_is_scoped_by_tenant() -> None:
    for (_, p), key in zip(PANELS, IDS, strict=True):
        for target in p.targets:
            assert ("$tenant" in target.sql) != p.platform_wide, key


# --- rollups for long ranges ------------------------------------------------------------
def _relations(plan: Any) -> Iterator[str]:
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            yield plan["Relation Name"]
        for value in plan.values():
            yield from _relations(value)
    elif isinstance(plan, list):
        for item in plan:
            yield from _relations(item)


def scanned(territory: Territory, query: str, span: str) -> set[str]:
    """The tables (hypertables for their chunks) PostgreSQL plans to read for the query."""
    with territory.connect() as conn:
        chunks: dict[str, str] = dict(conn.execute(
            "select chunk_name, hypertable_name from timescaledb_information.chunks "
            "where hypertable_schema = current_schema()").fetchall())
        plan = conn.execute(b"explain (format json) " + territory_sql(territory, query, span)
                            ).fetchone()
    assert plan is not None
    return {chunks.get(name, name) for name in _relations(plan[0])}


def territory_sql(territory: Territory, query: str, span: str) -> bytes:
    from dashboards.grafana.macros import expand

    return expand(query, territory.context(span)).encode()


READING_PANELS = [(d, p) for d, p in PANELS
                  if tables_read(p) & {"readings", "readings_hourly", "readings_daily"}]


@pytest.mark.parametrize(("dashboard", "panel_"), READING_PANELS,
                         ids=[f"{d.key}/{p.key}" for d, p in READING_PANELS])
def test_long_ranges_read_rollups(territory: Territory, dashboard: Dashboard,
                                  panel_: Panel) -> None:
    """Beyond RAW_MAX no panel reads raw readings; beyond HOURLY_MAX a panel with daily
    rollups reads no hourly ones; short ranges read raw readings when the panel has them."""
    assert SPANS["2d"] < RAW_MAX < SPANS["10d"] < HOURLY_MAX < SPANS["120d"]
    for target in panel_.targets:
        for span in ("10d", "120d"):
            assert "readings" not in scanned(territory, target.sql, span), span
        if "readings_daily" in target.sql:
            assert "readings_hourly" not in scanned(territory, target.sql, "120d")
            assert "readings_daily" in scanned(territory, target.sql, "120d")
        if re.search(r"\breadings\s", target.sql):
            short = scanned(territory, target.sql, "2d")
            assert "readings" in short and "readings_hourly" not in short


def test_tiers_agree(territory: Territory) -> None:
    """The cabinet's power per hour is the same from hourly rollups (10-day range) as from the
    raw readings of that hour (2-day range)."""
    power = panel("lighting/power-per-cabinet")
    raw = territory.run(power.targets[0].sql, territory.context("2d", min_interval="10m"))
    hourly = territory.run(power.targets[0].sql, territory.context("10d", min_interval="10m"))
    by_hour: dict[datetime, list[float]] = defaultdict(list)
    for t, _, value in raw:
        by_hour[t.replace(minute=0)].append(value)
    full_hours = {h: sum(v) / len(v) for h, v in by_hour.items() if len(v) == 6}
    pairs = [(value, full_hours[t]) for t, _, value in hourly if t in full_hours]
    assert len(pairs) > 24
    for from_rollups, from_raw in pairs:
        assert from_rollups == pytest.approx(from_raw)


# --- what the panels say ----------------------------------------------------------------
def test_cabinet_lit_in_daylight_is_listed(territory: Territory) -> None:
    for span in ("2d", "10d"):
        rows = territory.run(panel("lighting/on-in-daylight").targets[0].sql,
                             territory.context(span))
        assert [(name, hours) for name, hours, _ in rows] == [(territory.names["cabinet"], 2)]


def test_minimum_night_flow(territory: Territory) -> None:
    for span in ("2d", "10d"):
        rows = territory.run(panel("water/minimum-night-flow").targets[0].sql,
                             territory.context(span))
        assert rows and {round(v, 3) for _, _, v in rows} == {1.5}, span


def test_water_level_thresholds(territory: Territory) -> None:
    rows = territory.run(panel("hazards/water-levels").targets[1].sql, territory.context("2d"))
    by_series = {name: value for _, name, value in rows}
    name = territory.names["probe"]
    assert by_series == {f"{name} — seuil jaune": THRESHOLDS_CM["yellow"],
                         f"{name} — seuil orange": THRESHOLDS_CM["orange"],
                         f"{name} — seuil rouge": THRESHOLDS_CM["red"]}


def test_silent_devices(territory: Territory) -> None:
    rows = territory.run(panel("operations/silent-devices").targets[0].sql,
                         territory.context("2d"))
    assert [(r[0], r[4]) for r in rows] == [(territory.names["smoke"], "déconnecté")]


def test_daily_energy_and_degree_days(territory: Territory) -> None:
    rows = territory.run(panel("buildings/daily-energy-vs-outdoor-temperature").targets[0].sql,
                         territory.context("10d"))
    full_days = rows[1:-1]  # the first and last local days are partial
    assert full_days
    for _, electricity, gas, outdoor, dju in full_days:
        # 10 h busy at 3 kW, 14 h at 0.5 kW; outdoor 6 ± 5 °C: 18 - (1 + 11) / 2 = 12 DJU.
        assert electricity == pytest.approx(37.0, abs=0.6)
        assert gas == pytest.approx(176.0, abs=2.5)
        assert outdoor == pytest.approx(6.0, abs=0.6)
        assert dju == pytest.approx(12.0, abs=0.2)


def test_rejected_messages_without_tenant_are_the_operators(territory: Territory) -> None:
    """The syndicate (a root tenant) sees the rejects whose topic named no known tenant; its
    commune alone does not."""
    query = panel("operations/rejected-by-reason").targets[0].sql
    as_root = {r[1] for r in territory.run(query, territory.context("2d"))}
    as_commune = {r[1] for r in territory.run(query, territory.context(
        "2d", [territory.commune_id]))}
    assert as_root == {"invalid_value", "unknown_topic"}
    assert as_commune == {"invalid_value"}


# --- a role bound by row-level security ---------------------------------------------------
@pytest.fixture
def rls_conn(territory: Territory) -> Iterator[psycopg.Connection]:
    """A connection as `phare_api`, the one role here that is not the tables' owner and so is
    bound by row-level security, as a per-commune Grafana org's role would be (its
    `phare.tenant_ids` then comes from ALTER ROLE … SET, docs/dashboards.md). The test user
    cannot create roles, hence this borrowing."""
    url = TEST_DATABASE_URL.replace("phare:phare@", "phare_api:phare_api@", 1)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=5,
                               options=f"-c search_path={territory.settings.database_schema},public")
    except psycopg.OperationalError as exc:
        pytest.skip(f"no role bound by row-level security to connect as: {exc}")
    with conn:
        conn.execute("set default_transaction_read_only = on")
        yield conn


def test_row_level_security_confines_a_commune_role(territory: Territory,
                                                    rls_conn: psycopg.Connection) -> None:
    """With `phare.tenant_ids` set to its commune, the role's `$tenant` lists that commune
    only, its panels show the commune's devices, and a forged `$tenant` shows nothing more."""
    query = panel("lighting/power-per-cabinet").targets[0].sql

    def scope_to(tenant_id: int) -> list[int]:
        rls_conn.execute("select set_config('phare.tenant_ids', %s, false)", (f"{{{tenant_id}}}",))
        return [int(r[1]) for r in rls_conn.execute(TENANT_VARIABLE_QUERY.encode())]

    assert scope_to(territory.commune_id) == [territory.commune_id]
    rows = territory.run(query, territory.context("2d", [territory.commune_id]), conn=rls_conn)
    assert {r[1] for r in rows} == {territory.names["cabinet"]}

    assert scope_to(territory.other_commune_id) == [territory.other_commune_id]
    forged = territory.context("2d", [territory.commune_id, territory.root_id])
    assert territory.run(query, forged, conn=rls_conn) == []
