"""A dashboard's JSON model and its panels' data drawn as one picture: Grafana's grid, its dark
theme, and a notice that the picture is Phare's preview, not a capture of Grafana.

The grid is Grafana's: 24 columns, rows of 30 px with 8 px between them, each panel where its
`gridPos` puts it, with its title above its content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from dashboards.preview import theme
from dashboards.preview.canvas import DPI, Box, Canvas, draw_text, ellipsized, text_width
from dashboards.preview.fields import TIMEZONE
from dashboards.preview.panels import DRAWERS, HEADER_PX, PAD_PX, Context, PanelRendering
from dashboards.preview.query import (
    PanelData,
    Tenants,
    grid_panels,
    panel_context,
    read_only,
    resolve_tenants,
    run_panel,
    time_range,
)

Json = dict[str, Any]

WIDTH_PX = 1600
MARGIN_PX = 16
GAP_PX = 8
CELL_PX = 30
TOP_PX = 104  # the dashboard's bar and variables
FOOTER_PX = 34
NOTICE = "Aperçu rendu par Phare (dashboards/preview) — pas une capture de Grafana"


@dataclass(slots=True)
class Rendering:
    """A dashboard drawn: its figure and what each panel showed."""

    uid: str
    title: str
    figure: Figure
    start: datetime
    end: datetime
    tenants: Tenants
    panels: list[PanelRendering] = field(default_factory=list)

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with theme.fonts():
            self.figure.savefig(path, dpi=DPI, facecolor=theme.CANVAS)
        return path


def query_dashboard(conn: psycopg.Connection, dashboard: Json, *, to: datetime | None = None,
                    span: str | None = None, tenants: Sequence[str] = (),
                    width: int = WIDTH_PX) -> tuple[datetime, datetime, Tenants,
                                                    list[tuple[Json, PanelData]]]:
    """Every panel's data, each query as Grafana would send it for this range and `$tenant`."""
    read_only(conn)
    start, end = time_range(dashboard, to=to, span=span)
    chosen = resolve_tenants(conn, dashboard, tenants)
    out = []
    for panel in grid_panels(dashboard):
        box = panel_box(panel, width)
        ctx = panel_context(panel, start, end, chosen, int(box.w))
        out.append((panel, run_panel(conn, panel, ctx)))
    return start, end, chosen, out


def panel_box(panel: Json, width: int = WIDTH_PX) -> Box:
    grid = panel["gridPos"]
    column = (width - 2 * MARGIN_PX + GAP_PX) / 24
    return Box(MARGIN_PX + grid["x"] * column,
               TOP_PX + grid["y"] * (CELL_PX + GAP_PX),
               grid["w"] * column - GAP_PX,
               grid["h"] * CELL_PX + (grid["h"] - 1) * GAP_PX)


def relative_label(start: datetime, end: datetime) -> str:
    """The time picker's words for the range, in French (`2 derniers jours`)."""
    span = end - start
    for size, one, many in ((timedelta(days=1), "Dernier jour", "derniers jours"),
                            (timedelta(hours=1), "Dernière heure", "dernières heures"),
                            (timedelta(minutes=1), "Dernière minute", "dernières minutes")):
        if span >= size and span % size == timedelta(0):
            count = span // size
            return f"{count} {many}" if count > 1 else one
    return f"{start:%d/%m %H:%M} → {end:%d/%m %H:%M}"


def draw_dashboard(dashboard: Json, start: datetime, end: datetime, tenants: Tenants,
                   data: Sequence[tuple[Json, PanelData]], *,
                   width: int = WIDTH_PX) -> Rendering:
    """The picture of the dashboard with these panels' data."""
    with theme.fonts():
        return _draw(dashboard, start, end, tenants, data, width)


def _draw(dashboard: Json, start: datetime, end: datetime, tenants: Tenants,
          data: Sequence[tuple[Json, PanelData]], width: int) -> Rendering:
    bottom = max((panel_box(p, width).y + panel_box(p, width).h for p, _ in data), default=TOP_PX)
    height = int(bottom + GAP_PX + FOOTER_PX)
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=theme.CANVAS)
    canvas = Canvas(figure, width, height)
    rendering = Rendering(str(dashboard.get("uid")), str(dashboard.get("title")), figure,
                          start, end, tenants)
    _chrome(canvas, dashboard, start, end, tenants)
    for panel, panel_data in data:
        rendering.panels.append(_panel(canvas, panel, panel_data, start, end, width))
    local = f"{start.astimezone(TIMEZONE):%d/%m/%Y %H:%M} → {end.astimezone(TIMEZONE):%d/%m/%Y %H:%M}"
    canvas.text(MARGIN_PX, height - FOOTER_PX / 2,
                f"Données : {local} (heure de Paris) · Collectivité : {tenants.text}",
                size=12, color=theme.TEXT_WEAK)
    canvas.text(width - MARGIN_PX, height - FOOTER_PX / 2, NOTICE, size=13, color=theme.NOTICE,
                ha="right", bold=True)
    return rendering


def _chrome(canvas: Canvas, dashboard: Json, start: datetime, end: datetime,
            tenants: Tenants) -> None:
    """Grafana's bar (breadcrumbs, time picker) and the dashboard's variables."""
    canvas.rect(Box(0, 0, canvas.width, 48), theme.PANEL)
    canvas.rect(Box(0, 47, canvas.width, 1), theme.BORDER)
    crumbs = "Tableaux de bord  ›  Phare  ›  "
    canvas.text(MARGIN_PX, 24, crumbs, size=14, color=theme.TEXT_WEAK)
    canvas.text(MARGIN_PX + text_width(crumbs, 14), 24, str(dashboard.get("title", "")),
                size=15, color=theme.TEXT_STRONG, bold=True)
    picker = f"{relative_label(start, end)}   ·   actualisation {dashboard.get('refresh', '')}"
    picker_w = 12 + 8 * len(picker)
    canvas.rect(Box(canvas.width - MARGIN_PX - picker_w, 10, picker_w, 28), theme.CANVAS,
                edge=theme.BORDER)
    canvas.text(canvas.width - MARGIN_PX - picker_w / 2, 24, picker, size=13, ha="center")
    variable = next((v for v in dashboard.get("templating", {}).get("list", [])
                     if v.get("name") == "tenant"), None)
    if variable is not None:
        label = str(variable.get("label") or variable["name"])
        label_w = 20 + 8 * len(label)
        canvas.rect(Box(MARGIN_PX, 58, label_w, 32), "#22252b", edge=theme.BORDER)
        canvas.text(MARGIN_PX + 10, 74, label, size=14, color=theme.TEXT_STRONG)
        value_w = max(120, 24 + 8 * len(tenants.text))
        canvas.rect(Box(MARGIN_PX + label_w, 58, value_w, 32), theme.CANVAS, edge=theme.BORDER)
        canvas.text(MARGIN_PX + label_w + 10, 74, tenants.text + "  ▾", size=14)


def _panel(canvas: Canvas, panel: Json, data: PanelData, start: datetime, end: datetime,
           width: int) -> PanelRendering:
    box = panel_box(panel, width)
    kind = str(panel.get("type"))
    rendering = PanelRendering(str(panel.get("id", "")), str(panel.get("title", "")), kind,
                               rows=data.rows, error=data.error)
    canvas.rect(box, theme.PANEL, edge=theme.BORDER)
    content = box.inset(PAD_PX, HEADER_PX, PAD_PX, PAD_PX)
    base = canvas.axes(content)
    rendering.axes.append(base)
    title = ellipsized(str(panel.get("title", "")), box.w - 24, 14)
    header = canvas.axes(Box(box.x, box.y, box.w, HEADER_PX))
    rendering.axes.append(header)
    draw_text(header, PAD_PX, HEADER_PX / 2 + 1, title, size=14, color=theme.TEXT_STRONG, bold=True)
    ctx = Context(canvas, panel, data, content, start, end, rendering, base)
    if data.error:
        header.add_patch(_corner())
        draw_text(base, content.w / 2, content.h / 2, ellipsized("Erreur : " + data.error,
                                                             content.w - 16, 13),
              size=13, color=theme.NAMED["red"], ha="center")
        return rendering
    drawer = DRAWERS.get(kind)
    if drawer is None:
        rendering.supported = False
        draw_text(base, content.w / 2, content.h / 2,
                  f"type de panneau « {kind} » non rendu par l'aperçu", size=14,
                  color=theme.NOTICE, ha="center")
        return rendering
    drawer(ctx)
    return rendering


def _corner() -> Polygon:
    """Grafana's red corner of a panel whose query failed."""
    return Polygon([(0, 0), (22, 0), (0, 22)], closed=True, facecolor=theme.NAMED["red"],
                   edgecolor="none")


def render_dashboard(conn: psycopg.Connection, dashboard: Json, *, to: datetime | None = None,
                     span: str | None = None, tenants: Sequence[str] = (),
                     width: int = WIDTH_PX) -> Rendering:
    """Runs the dashboard's queries and draws it."""
    start, end, chosen, data = query_dashboard(conn, dashboard, to=to, span=span,
                                               tenants=tenants, width=width)
    return draw_dashboard(dashboard, start, end, chosen, data, width=width)


