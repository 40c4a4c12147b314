"""The preview renderer (dashboards/preview) draws every panel of every dashboard from the real
database (the small territory of conftest.py): no panel fails, no panel whose SQL returns rows
is drawn empty, and what it draws is what the rows say. Grafana itself cannot run here; these
pictures are Phare's own drawing of the JSON model Grafana would get."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

from dashboards.grafana import Dashboard, all_dashboards
from dashboards.grafana.labels import KIND_LABELS
from dashboards.grafana.macros import expand
from dashboards.preview import NOTICE
from dashboards.preview.fields import display, format_value
from dashboards.preview.frames import series_frame
from dashboards.preview.panels import (
    DRAWERS,
    HEADER_PX,
    NO_DATA,
    PAD_PX,
    PanelRendering,
    connect_nulls,
)
from dashboards.preview.query import PreviewError, panel_context, time_range
from dashboards.preview.render import Rendering, panel_box, query_dashboard, render_dashboard
from tests.conftest import ROOT
from tests.dashboards.conftest import Territory
from tests.dashboards.test_queries import skip_missing

BOARDS = all_dashboards()


def _to(territory: Territory) -> datetime:
    return territory.end + timedelta(hours=1)  # as test_queries' contexts end


@pytest.fixture(scope="module")
def renderings(territory: Territory) -> Iterator[dict[str, Rendering]]:
    with territory.connect() as conn:
        yield {b.key: render_dashboard(conn, b.to_json(), to=_to(territory),
                                       tenants=[str(territory.root_id)]) for b in BOARDS}


def drawn(renderings: dict[str, Rendering], board: str, key: str) -> PanelRendering:
    index = next(i for i, p in enumerate(next(b for b in BOARDS if b.key == board).panels)
                 if p.key == key)
    rendering = renderings[board]
    by_id = {p.key: p for p in rendering.panels}
    return by_id[str(index + 1)]  # Dashboard.to_json numbers panels from 1 in their order


@pytest.mark.parametrize("board", BOARDS, ids=[b.key for b in BOARDS])
def test_every_panel_is_drawn_and_shows_its_rows(territory: Territory,
                                                 renderings: dict[str, Rendering],
                                                 board: Dashboard, tmp_path: Path) -> None:
    for panel in board.panels:
        skip_missing(territory, panel)
    rendering = renderings[board.key]
    assert len(rendering.panels) == len(board.panels)
    model = board.to_json()
    for panel, json_panel in zip(board.panels, model["panels"], strict=True):
        shown = drawn(renderings, board.key, panel.key)
        assert shown.type in DRAWERS and shown.supported, shown.type
        assert shown.error is None, f"{board.key}/{panel.key}: {shown.error}"
        assert panel.title in shown.texts
        # The rows of the panel's queries, run here independently of the renderer.
        ctx = panel_context(json_panel, rendering.start, rendering.end, rendering.tenants,
                            int(panel_box(json_panel).w))
        with territory.connect() as conn:
            rows = sum(len(conn.execute(expand(t.sql, ctx).encode()).fetchall())
                       for t in panel.targets)
        if rows:
            assert not shown.empty and shown.marks > 0, f"{board.key}/{panel.key}: {rows} rows"
            assert NO_DATA not in shown.texts
        else:
            assert shown.empty and shown.marks == 0, f"{board.key}/{panel.key}"
    # And on the picture itself: a panel with rows has its content painted, one without has
    # only its "Aucune donnée" (a mark under a panel's background would fail here).
    picture = imread(rendering.save(tmp_path / f"{board.key}.png"))[:, :, :3]
    assert picture.shape[1] == 1600
    for json_panel, shown in zip(model["panels"], rendering.panels, strict=True):
        painted = painted_share(picture, json_panel)
        assert (painted > 0.02) != shown.empty, (shown.title, painted)


PANEL_BACKGROUND = np.array([0x18, 0x1B, 0x1F]) / 255


def painted_share(picture: np.ndarray, panel: dict[str, Any]) -> float:
    """The share of a panel's content (below its title) that is not the panel's background."""
    box = panel_box(panel).inset(PAD_PX, HEADER_PX, PAD_PX, PAD_PX)
    crop = picture[int(box.y):int(box.y + box.h), int(box.x):int(box.x + box.w)]
    return float((np.abs(crop - PANEL_BACKGROUND).sum(axis=2) > 0.05).mean())


def test_the_pictures_say_they_are_not_grafana(renderings: dict[str, Rendering]) -> None:
    for rendering in renderings.values():
        texts = [t.get_text() for t in rendering.figure.texts]
        assert NOTICE in texts
        assert any("Collectivité : Syndicat de test" in t for t in texts), texts


def test_stats_tables_and_timelines_show_the_rows_values(renderings: dict[str, Rendering],
                                                         territory: Territory) -> None:
    silent = drawn(renderings, "overview", "silent-devices")
    assert "1" in silent.texts  # the smoke detector, disconnected two days ago
    table = drawn(renderings, "operations", "silent-devices")
    assert {territory.names["smoke"], "déconnecté"} <= set(table.texts)
    label = KIND_LABELS["hazard_detector"]  # its kind by its label, cut to the column's width
    assert any(t.endswith("…") and label.startswith(t[:-1]) for t in table.texts), table.texts
    daylight = drawn(renderings, "lighting", "on-in-daylight")
    assert {territory.names["cabinet"], "2"} <= set(daylight.texts)
    faults = drawn(renderings, "lighting", "cabinet-faults")
    assert "Disjoncteur déclenché" in faults.texts  # the value mapping, not the stored code
    # The cabinet's power in 10-minute buckets (the panel's minimum interval) over the 47 hours
    # of the range that have readings: every bucket is a point of its line.
    power = drawn(renderings, "lighting", "power-per-cabinet")
    assert power.marks >= 47 * 6
    assert territory.names["cabinet"] in power.texts  # its legend
    smoke = drawn(renderings, "hazards", "smoke-alarms")
    assert {"Normal", "Alarme fumée"} <= set(smoke.texts) and smoke.marks >= 3  # on, off, on


def test_another_tenant_sees_no_data(territory: Territory) -> None:
    """A commune that owns nothing: the panels over its devices say "Aucune donnée"."""
    board = next(b for b in BOARDS if b.key == "lighting")
    with territory.connect() as conn:
        rendering = render_dashboard(conn, board.to_json(), to=_to(territory),
                                     tenants=[str(territory.other_commune_id)])
    assert all(p.empty and p.marks == 0 for p in rendering.panels), \
        [(p.title, p.marks) for p in rendering.panels]
    assert rendering.tenants.text == "Commune voisine"


def test_unknown_tenant_is_refused(territory: Territory) -> None:
    with territory.connect() as conn, pytest.raises(PreviewError, match="not offered"):
        query_dashboard(conn, BOARDS[0].to_json(), tenants=["no-such-tenant"])


def test_nothing_is_written(territory: Territory) -> None:
    """The preview's connection is read-only: a panel whose query writes shows an error."""
    board = BOARDS[0].to_json()
    panel = {**board["panels"][0], "targets": [{"refId": "A", "format": "table", "rawSql":
             "insert into tenants (slug, name) values ('x', 'x') returning id"}]}
    with territory.connect() as conn:
        _, _, _, data = query_dashboard(conn, {**board, "panels": [panel]})
    assert data[0][1].error and "read-only" in data[0][1].error


# --- Grafana's conversions and formats -----------------------------------------------------
def test_units_as_grafana_writes_them() -> None:
    assert format_value(1500, {"unit": "watt"}) == "1.50 kW"
    assert format_value(4, {"unit": "watt"}) == "4 W"
    assert format_value(1234.5, {"unit": "kwatth"}) == "1.23 MWh"
    assert format_value(50, {"unit": "percent"}) == "50%"
    assert format_value(1.5, {"unit": "suffix: m³/h"}) == "1.50 m³/h"
    assert format_value(12345, {"unit": "short"}) == "12.3 K"
    assert format_value(0.25, {"unit": "s", "decimals": 1}) == "250.0 ms"
    assert format_value(12.0, {"unit": "none", "decimals": 1}) == "12.0"
    assert format_value(3, {"unit": "furlongs"}) == "3 [furlongs]"  # unknown: said, not hidden


def test_value_mappings_and_thresholds() -> None:
    config = {"mappings": [{"type": "value", "options": {"1": {"text": "Alarme", "color": "red"},
                                                         "0": {"text": "Normal"}}}],
              "thresholds": {"steps": [{"color": "green", "value": None},
                                       {"color": "orange", "value": 1}]}}
    assert display(1.0, config).text == "Alarme" and display(1.0, config).color == "#F2495C"
    assert display(0.0, config).text == "Normal" and display(0.0, config).color == "#73BF69"
    assert display(5, config).text == "5" and display(5, config).color == "#FF9830"
    assert display(None, config).text == ""


def test_long_series_become_one_per_metric() -> None:
    t0, t1 = datetime(2025, 1, 1), datetime(2025, 1, 1, 0, 10)
    frame = series_frame("A", ["time", "metric", "value"],
                         [(t0, "a", 1), (t0, "b", 2), (t1, "a", 3)])
    assert [f.name for f in frame.fields] == ["Time", "a", "b"]
    assert frame.fields[2].values == [2.0, None]  # b has no row at t1: a gap, as in Grafana


def test_dashboard_range() -> None:
    to = datetime.fromisoformat("2025-12-03T10:00:00+00:00")
    start, end = time_range(BOARDS[0].to_json(), to=to)
    assert (end - start, end) == (timedelta(days=2), to)
    start, _ = time_range(BOARDS[0].to_json(), to=to, span="7d")
    assert end - start == timedelta(days=7)


def test_docs_show_a_picture_of_every_dashboard() -> None:
    """docs/dashboards.md and the README show each dashboard's picture, which exists, and say
    how to regenerate them."""
    docs = (ROOT / "docs/dashboards.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for board in BOARDS:
        name = f"grafana-{board.key}.png"
        assert (ROOT / "docs/images" / name).stat().st_size > 20_000, name
        assert f"(images/{name})" in docs and f"(docs/images/{name})" in readme, name
    for text in (docs, readme):
        assert "phare dashboards preview --out docs/images" in text
        assert "not screenshots of Grafana" in text or "not captures of Grafana" in text


def test_lines_connect_short_gaps_only() -> None:
    """`spanNulls` as Grafana reads it: false breaks at every null, a number (ms) connects gaps
    up to that long, true connects every gap."""
    day = 1.0  # matplotlib date numbers are days
    t = [0.0, day / 24, 2 * day / 24, 10 * day / 24, 11 * day / 24, 12 * day / 24]
    v = [1.0, math.nan, 3.0, math.nan, math.nan, 6.0]
    assert connect_nulls(t, v, False) == (t, v)
    times, values = connect_nulls(t, v, 3_600_000 * 2)  # two hours: the first gap only
    assert times == [t[0], t[2], t[3], t[4], t[5]] and math.isnan(values[2])
    assert connect_nulls(t, v, True) == ([t[0], t[2], t[5]], [1.0, 3.0, 6.0])
    power = next(p for b in BOARDS if b.key == "lighting" for p in b.to_json()["panels"]
                 if p["title"] == "Puissance par armoire")
    assert power["fieldConfig"]["defaults"]["custom"]["spanNulls"] == 3_600_000
