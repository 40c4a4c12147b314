"""One drawer per panel type, each drawing a panel's frames in its box as Grafana would.

Types: `timeseries` (lines and bars, thresholds, axes per unit and placement), `stat`,
`table`, `state-timeline`, `geomap` (markers; no base map: tiles cannot be fetched here, the
panel says so), `bargauge`. A type without a drawer is drawn as a visible placeholder, never
silently. Every mark drawn from data carries the gid `data`, so that what a picture shows can
be counted (`PanelRendering.marks`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

from dashboards.preview import theme
from dashboards.preview.canvas import (
    LEGEND_ROW_PX,
    Box,
    Canvas,
    date_num,
    draw_legend,
    draw_text,
    ellipsized,
    fit_legend,
    pt,
    style_axes,
    text_width,
    time_axis,
    value_axis,
)
from dashboards.preview.fields import Display, display, merged
from dashboards.preview.frames import Field, Frame
from dashboards.preview.query import PanelData

Json = dict[str, Any]
DATA = "data"  # gid of the marks drawn from data
HEADER_PX = 32
PAD_PX = 8
NO_DATA = "Aucune donnée"
# What Grafana gives a panel that sets none (packages/grafana-data/src/field/fieldOverrides).
DEFAULT_THRESHOLDS = {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                    {"color": "red", "value": 80}]}


@dataclass(slots=True)
class PanelRendering:
    """What was drawn for a panel: its axes (for counting its marks), and its state."""

    key: str
    title: str
    type: str
    axes: list[Axes] = field(default_factory=list)
    rows: int = 0
    empty: bool = False  # "Aucune donnée" is shown
    error: str | None = None
    supported: bool = True

    def artists(self) -> Iterator[Any]:
        for ax in self.axes:
            yield from ax.get_children()

    @property
    def marks(self) -> int:
        """Marks drawn from data: points of lines, bars and spans, markers, cell and value
        texts (counted on the picture's objects, not told by the drawers)."""
        count = 0
        for artist in self.artists():
            if artist.get_gid() != DATA or not artist.get_visible():
                continue
            if isinstance(artist, Line2D):
                count += int(np.isfinite(np.asarray(artist.get_ydata(), dtype=float)).sum())
            elif isinstance(artist, PathCollection):
                count += int(np.asarray(artist.get_offsets()).shape[0])
            elif isinstance(artist, Text):
                count += bool(artist.get_text().strip())
            else:
                count += 1
        return count

    @property
    def texts(self) -> list[str]:
        """Every text drawn in the panel (title, values, cells, legend, axes' labels)."""
        out = [a.get_text() for a in self.artists() if isinstance(a, Text) and a.get_text()]
        for ax in self.axes:
            out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()
                    if t.get_text()]
        return out


# --- the panel's configuration per field -------------------------------------------------
def field_config(panel: Json, name: str) -> Json:
    config = panel.get("fieldConfig", {})
    out = merged(config.get("defaults", {}), config.get("overrides", []), name)
    out.setdefault("thresholds", DEFAULT_THRESHOLDS)
    return out


def _fields(data: PanelData) -> list[tuple[Frame, Field]]:
    return [(f, fl) for f in data.frames for fl in f.number_fields()]


# --- drawers ----------------------------------------------------------------------------
@dataclass
class Context:
    canvas: Canvas
    panel: Json
    data: PanelData
    box: Box  # the panel's content, below its title
    start: datetime
    end: datetime
    rendering: PanelRendering
    base: Axes  # an axes over the content, in pixels

    def no_data(self) -> None:
        self.rendering.empty = True
        draw_text(self.base, self.box.w / 2, self.box.h / 2, NO_DATA, size=16, color=theme.TEXT_WEAK,
                  ha="center")

    def add_axes(self, box: Box, *, visible: bool = False) -> Axes:
        ax = self.canvas.axes(box, visible=visible)
        self.rendering.axes.append(ax)
        return ax


def draw_timeseries(ctx: Context) -> None:
    series = [(fr, f) for fr, f in _fields(ctx.data) if fr.time_field() is not None]
    if not series or not any(v is not None for _, f in series for v in f.values):
        ctx.no_data()
        return
    configs = [field_config(ctx.panel, f.display_name) for _, f in series]
    colors = []
    for index, config in enumerate(configs):
        mode = config.get("color") or {}
        colors.append(theme.color(mode.get("fixedColor")) if mode.get("mode") == "fixed"
                      else theme.series_color(index))
    legend = ctx.panel.get("options", {}).get("legend", {})
    items = [(f.display_name, c) for (_, f), c in zip(series, colors, strict=True)]
    rows, hidden = fit_legend(items, ctx.box) if legend.get("showLegend", True) and \
        legend.get("displayMode") != "hidden" else ([], 0)
    legend_h = len(rows) * LEGEND_ROW_PX
    # Axes: one per (side, unit), the first unit on the left, as Grafana groups them.
    groups: dict[tuple[str, str], list[int]] = {}
    first_unit = None
    for index, config in enumerate(configs):
        unit = str(config.get("unit") or "none")
        placement = config["custom"].get("axisPlacement", "auto")
        if first_unit is None and placement != "right":
            first_unit = unit
        side = "right" if placement == "right" or (placement == "auto" and first_unit not in
                                                    (None, unit)) else "left"
        groups.setdefault((side, unit), []).append(index)
    rights = [g for g in groups if g[0] == "right"]
    left_room = 64 if any(g[0] == "left" for g in groups) else 8
    plot_box = ctx.box.inset(left_room, 4, 8 + 64 * len(rights), legend_h + 28)
    main = ctx.add_axes(plot_box, visible=True)
    style_axes(main)
    time_axis(main, ctx.start, ctx.end, plot_box.w)
    axes: dict[tuple[str, str], Axes] = {}
    for n, key in enumerate(sorted(groups, key=lambda g: g[0] != "left")):
        ax = main if (n == 0 and key[0] == "left") else main.twinx()
        if ax is not main:
            ctx.rendering.axes.append(ax)
            style_axes(ax)
            ax.grid(False)
            if key[0] == "right":
                offset = rights.index(key) * 64
                ax.spines["right"].set_position(("outward", pt(offset)))
        axes[key] = ax
        value_axis(ax, configs[groups[key][0]], plot_box.h, "right" if key[0] == "right"
                   else "left")
    thresholds_drawn: set[int] = set()
    for key, indexes in groups.items():
        ax = axes[key]
        bars_only = True
        drawn: list[float] = []
        for index in indexes:
            frame, fl = series[index]
            time_field = frame.time_field()
            assert time_field is not None
            times = [date_num(t) for t in time_field.values]
            values = [math.nan if v is None else float(v) for v in fl.values]
            custom = configs[index]["custom"]
            bars = custom.get("drawStyle") == "bars"
            bars_only = bars_only and bars
            _draw_series(ax, times, values, colors[index], custom, bars)
            drawn += [v for v in values if math.isfinite(v)]
            style = (custom.get("thresholdsStyle") or {}).get("mode", "off")
            if style != "off" and id(ax) not in thresholds_drawn:
                thresholds_drawn.add(id(ax))
                _draw_thresholds(ax, configs[index], style)
        ax.set_ylim(*_value_range(drawn, include_zero=bars_only))
        ax.set_xlim(date_num(ctx.start), date_num(ctx.end))
    if rows:
        draw_legend(ctx.base, rows, Box(8, ctx.box.h - legend_h - 2, ctx.box.w - 16, legend_h),
                    hidden)


def _value_range(values: Sequence[float], *, include_zero: bool) -> tuple[float, float]:
    """The value axis' range: the data's, padded (from zero for bars, as Grafana's)."""
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if math.isclose(low, high):
        spread = abs(low) * 0.1 or 1.0
        return low - spread, high + spread
    pad = (high - low) * 0.08
    return (low if include_zero and low == 0 else low - pad), \
        (high if include_zero and high == 0 else high + pad)


def _draw_series(ax: Axes, times: list[float], values: list[float], color: str,
                 custom: Json, bars: bool) -> None:
    fill = float(custom.get("fillOpacity", 0)) / 100
    width = pt(float(custom.get("lineWidth", 1)))
    dash = (custom.get("lineStyle") or {}).get("dash") if \
        (custom.get("lineStyle") or {}).get("fill") == "dash" else None
    if bars:
        steps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
        spacing = min(steps) if steps else 1 / 24
        for t, v in zip(times, values, strict=True):
            if math.isfinite(v):
                ax.add_patch(Rectangle((t - spacing * 0.3, 0), spacing * 0.6, v, facecolor=color,
                                       edgecolor=color, alpha=max(fill, 0.05), linewidth=width,
                                       gid=DATA))
        return
    times, values = connect_nulls(times, values, custom.get("spanNulls", False))
    (line,) = ax.plot(times, values, color=color, linewidth=width, gid=DATA,
                      solid_capstyle="round")
    if dash:
        line.set_dashes([pt(float(d)) for d in dash])
    if fill > 0:
        ax.fill_between(times, values, 0, where=[math.isfinite(v) for v in values],
                        color=color, alpha=fill, linewidth=0, interpolate=False)


def connect_nulls(times: list[float], values: list[float],
                  span: bool | float) -> tuple[list[float], list[float]]:
    """The points a line is drawn through: a null (NaN) breaks it, unless nulls are connected —
    always (`spanNulls: true`), or when the gap between the values around them is at most
    `spanNulls` milliseconds (Grafana's "connect null values: threshold")."""
    if span is False or span is None:
        return times, values
    limit = math.inf if span is True else float(span) / 86_400_000  # in days, as date numbers
    out_t: list[float] = []
    out_v: list[float] = []
    last = None  # the time of the last value kept
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        if math.isfinite(v):
            last = t
            out_t.append(t)
            out_v.append(v)
            continue
        following = next((u for u, w in zip(times[i + 1:], values[i + 1:], strict=True)
                          if math.isfinite(w)), None)
        if last is None or following is None or following - last > limit:
            out_t.append(t)
            out_v.append(v)
    return out_t, out_v


def _draw_thresholds(ax: Axes, config: Json, style: str) -> None:
    steps = config.get("thresholds", {}).get("steps", [])
    for i, step in enumerate(steps):
        low = step.get("value")
        high = steps[i + 1]["value"] if i + 1 < len(steps) else None
        color = theme.color(step["color"])
        if "area" in style:
            ax.axhspan(-1e300 if low is None else low, 1e300 if high is None else high,
                       color=color, alpha=0.12, linewidth=0, zorder=0)
        if "line" in style and low is not None:
            ax.axhline(low, color=color, linewidth=pt(1), zorder=1)


def _values(ctx: Context) -> list[tuple[str, Any, Json]]:
    """The stat's values: every row of every numeric field (`values: true`), or each field's
    reduction (last not null)."""
    reduce = ctx.panel.get("options", {}).get("reduceOptions", {})
    out = []
    for _, fl in _fields(ctx.data):
        config = field_config(ctx.panel, fl.display_name)
        if reduce.get("values"):
            out += [(fl.display_name, v, config) for v in fl.values]
        else:
            last = next((v for v in reversed(fl.values) if v is not None), None)
            out.append((fl.display_name, last, config))
    return out


def draw_stat(ctx: Context) -> None:
    values = _values(ctx)
    if not values:
        ctx.no_data()
        return
    options = ctx.panel.get("options", {})
    horizontal = ctx.box.w >= ctx.box.h
    n = len(values)
    gap = 8
    tile_w = (ctx.box.w - gap * (n - 1)) / n if horizontal else ctx.box.w
    tile_h = ctx.box.h if horizontal else (ctx.box.h - gap * (n - 1)) / n
    show_name = n > 1 and options.get("textMode", "auto") in ("auto", "value_and_name")
    for i, (name, value, config) in enumerate(values):
        shown: Display = display(value, config)
        x = i * (tile_w + gap) if horizontal else 0
        y = 0 if horizontal else i * (tile_h + gap)
        background = options.get("colorMode") == "background"
        color = shown.color or theme.NAMED["green"]
        if background:
            ctx.base.add_patch(Rectangle((x, y), tile_w, tile_h, facecolor=color,
                                         edgecolor="none"))
        text_color = theme.text_on(color) if background else (
            color if options.get("colorMode") == "value" else theme.TEXT_STRONG)
        name_px = min(16.0, tile_h * 0.18) if show_name else 0
        if show_name:
            draw_text(ctx.base, x + tile_w / 2, y + tile_h * 0.24, ellipsized(name, tile_w - 12, name_px),
                      size=name_px, color=text_color, ha="center")
        room_h = tile_h * (0.55 if show_name else 0.7)
        size = min(room_h, (tile_w - 16) / max(1, text_width(shown.text or " ", 10) / 10))
        draw_text(ctx.base, x + tile_w / 2, y + tile_h * (0.62 if show_name else 0.5),
                  shown.text or "—", size=max(size, 10), color=text_color, ha="center", bold=True,
                  gid=DATA)


TABLE_ROW_PX = 36
TABLE_TEXT_PX = 14
MIN_COLUMN_PX = 150


def draw_table(ctx: Context) -> None:
    frame = next((f for f in ctx.data.frames if f.length), None)
    if frame is None:
        ctx.no_data()
        return
    columns = frame.fields
    width = max(ctx.box.w / len(columns), MIN_COLUMN_PX)  # Grafana: equal shares, ≥ 150 px
    configs = [field_config(ctx.panel, c.display_name) for c in columns]
    ax = ctx.base
    ax.add_patch(Rectangle((0, 0), ctx.box.w, TABLE_ROW_PX, facecolor="#1f2227", edgecolor="none"))
    for c, column in enumerate(columns):
        x = c * width
        if x >= ctx.box.w:
            break
        right = _right_aligned(column)
        label = ellipsized(column.display_name, min(width, ctx.box.w - x) - 16, TABLE_TEXT_PX)
        draw_text(ax, x + (width - 8 if right else 8), TABLE_ROW_PX / 2, label, size=TABLE_TEXT_PX,
                  color=theme.NAMED["light-blue"], ha="right" if right else "left", bold=True)
    visible = int((ctx.box.h - TABLE_ROW_PX) // TABLE_ROW_PX)
    for r in range(min(frame.length, visible)):
        y = TABLE_ROW_PX * (r + 1)
        ax.add_line(Line2D([0, ctx.box.w], [y, y], color=theme.BORDER, linewidth=pt(1)))
        for c, column in enumerate(columns):
            x = c * width
            if x >= ctx.box.w:
                break
            shown = display(column.values[r], configs[c])
            cell = (configs[c]["custom"].get("cellOptions") or {}).get("type", "auto")
            text_color = theme.TEXT
            if cell == "color-background" and shown.color:
                ax.add_patch(Rectangle((x, y), min(width, ctx.box.w - x), TABLE_ROW_PX,
                                       facecolor=shown.color, edgecolor="none"))
                text_color = theme.text_on(shown.color)
            elif cell == "color-text" and shown.color:
                text_color = shown.color
            right = _right_aligned(column)
            text = ellipsized(shown.text, min(width, ctx.box.w - x) - 16, TABLE_TEXT_PX)
            draw_text(ax, x + (width - 8 if right else 8), y + TABLE_ROW_PX / 2, text,
                  size=TABLE_TEXT_PX, color=text_color, ha="right" if right else "left", gid=DATA)
    overflow_x = width * len(columns) > ctx.box.w + 1
    if frame.length > visible:  # Grafana scrolls: a thumb says how much is below
        track = ctx.box.h - TABLE_ROW_PX
        thumb = max(track * visible / frame.length, 12)
        ax.add_patch(Rectangle((ctx.box.w - 6, TABLE_ROW_PX), 4, thumb, facecolor="#5a5e66",
                               edgecolor="none"))
    if overflow_x:
        thumb = ctx.box.w * ctx.box.w / (width * len(columns))
        ax.add_patch(Rectangle((0, ctx.box.h - 5), thumb, 4, facecolor="#5a5e66",
                               edgecolor="none"))


def _right_aligned(column: Field) -> bool:
    return column.type == "number"


def draw_state_timeline(ctx: Context) -> None:
    series = [(fr, f) for fr, f in _fields(ctx.data) if fr.time_field() is not None]
    if not series:
        ctx.no_data()
        return
    options = ctx.panel.get("options", {})
    configs = [field_config(ctx.panel, f.display_name) for _, f in series]
    # Legend: the value mappings' texts and colours (what Grafana lists for this panel).
    items: list[tuple[str, str]] = []
    for mapping in configs[0].get("mappings") or []:
        for option in (mapping.get("options") or {}).values():
            items.append((str(option.get("text", "")), theme.color(option.get("color"))))
    rows, hidden = fit_legend(items, ctx.box, 0.25)
    legend_h = len(rows) * LEGEND_ROW_PX
    label_w = min(max(text_width(f.display_name, 12) for _, f in series) + 12, ctx.box.w * 0.35)
    plot_box = ctx.box.inset(label_w, 4, 8, legend_h + 28)
    ax = ctx.add_axes(plot_box, visible=True)
    style_axes(ax)
    ax.grid(False)
    ax.yaxis.set_visible(False)
    time_axis(ax, ctx.start, ctx.end, plot_box.w)
    n = len(series)
    # One name per row while they fit; else every k-th (Grafana's overlap and are unreadable).
    every = max(1, math.ceil(16 * n / plot_box.h))
    row_share = float(options.get("rowHeight", 0.9))
    fill = float(configs[0]["custom"].get("fillOpacity", 70)) / 100
    end = date_num(ctx.end)
    for i, ((frame, fl), config) in enumerate(zip(series, configs, strict=True)):
        time_field = frame.time_field()
        assert time_field is not None
        times = [date_num(t) for t in time_field.values]
        y = n - 1 - i
        if i % every == 0:
            label_y = (i + 0.5) / n * plot_box.h
            draw_text(ctx.base, label_w - 8, plot_box.y - ctx.box.y + label_y,
                      ellipsized(fl.display_name, label_w - 12, 12), size=12, ha="right")
        spans = _spans(times, fl.values, end, merge=bool(options.get("mergeValues", True)),
                       span_nulls=config["custom"].get("spanNulls") is True)
        for t0, t1, value in spans:
            color = display(value, config).color or theme.NAMED["green"]
            ax.add_patch(Rectangle((t0, y - row_share / 2), t1 - t0, row_share, facecolor=color,
                                   edgecolor=theme.PANEL, linewidth=pt(1), alpha=fill, gid=DATA))
    ax.set_ylim(-0.5, n - 0.5)
    ax.set_xlim(date_num(ctx.start), end)
    if rows:
        draw_legend(ctx.base, rows, Box(8, ctx.box.h - legend_h - 2, ctx.box.w - 16, legend_h),
                    hidden)


def _spans(times: Sequence[float], values: Sequence[Any], end: float, *, merge: bool,
           span_nulls: bool) -> list[tuple[float, float, Any]]:
    """(start, end, value) of each state: a value lasts until the next one (the last until the
    end of the range); a null breaks it, unless nulls are spanned ("connect null values")."""
    if span_nulls:
        kept = [(t, v) for t, v in zip(times, values, strict=True) if v is not None]
        times, values = [t for t, _ in kept], [v for _, v in kept]
    spans: list[tuple[float, float, Any]] = []
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        if v is None:
            continue
        t1 = times[i + 1] if i + 1 < len(times) else end
        if merge and spans and spans[-1][2] == v and math.isclose(spans[-1][1], t):
            spans[-1] = (spans[-1][0], t1, v)
        else:
            spans.append((t, t1, v))
    return spans


def draw_geomap(ctx: Context) -> None:
    layers = ctx.panel.get("options", {}).get("layers", [])
    frame = next((f for f in ctx.data.frames if f.length), None)
    if frame is None or not layers:
        ctx.no_data()
        return
    layer = layers[0]
    location = layer.get("location", {})
    lat_field = frame.field_named(location.get("latitude", "latitude"))
    lon_field = frame.field_named(location.get("longitude", "longitude"))
    if lat_field is None or lon_field is None:
        ctx.rendering.error = "pas de champs latitude/longitude"
        draw_text(ctx.base, ctx.box.w / 2, ctx.box.h / 2, "Erreur : " + ctx.rendering.error,
                  size=13, color=theme.NAMED["red"], ha="center")
        return
    style = layer.get("config", {}).get("style", {})
    color_cfg = style.get("color", {})
    color_field = frame.field_named(color_cfg["field"]) if color_cfg.get("field") else None
    points = [(float(lo), float(la), i) for i, (la, lo) in
              enumerate(zip(lat_field.values, lon_field.values, strict=True))
              if la is not None and lo is not None]
    if not points:
        ctx.no_data()
        return
    # Grafana colours a marker by its colour field's display colour (its value mapping's, else
    # its thresholds'), or by the fixed colour without a field.
    config = field_config(ctx.panel, color_field.display_name) if color_field else {}
    fixed = theme.color(color_cfg.get("fixed"), theme.NAMED["dark-green"])
    colors = [display(color_field.values[i], config).color or fixed if color_field else fixed
              for _, _, i in points]
    # Its legend lists the colour field's thresholds (not its mappings), when it has two or more.
    steps = config.get("thresholds", {}).get("steps", []) if color_field else []
    items = [(f"< {steps[1]['value']:g}" if i == 0 else f"{step['value']:g}+",
              theme.color(step["color"])) for i, step in enumerate(steps)] if len(steps) > 1 else []
    rows, hidden = fit_legend(items, ctx.box, 0.3) if layer.get("config", {}).get("showLegend") \
        else ([], 0)
    legend_h = len(rows) * LEGEND_ROW_PX
    map_box = ctx.box.inset(0, 0, 0, legend_h + (6 if rows else 0))
    ax = ctx.add_axes(map_box, visible=True)
    ax.set_facecolor("#0b0c0e")
    for spine in ax.spines.values():
        spine.set_color(theme.BORDER)
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    _fit_view(ax, lons, lats, map_box,
              float(ctx.panel.get("options", {}).get("view", {}).get("padding", 5)))
    size = float((style.get("size") or {}).get("fixed", 5))
    ax.scatter(lons, lats, s=pt(2 * size) ** 2, c=colors, alpha=float(style.get("opacity", 0.4)),
               edgecolors=colors, linewidths=pt(1), gid=DATA, zorder=3)
    ax.grid(True, color="#23262b", linewidth=pt(1))
    ax.tick_params(colors=theme.TEXT_WEAK, labelsize=pt(10), length=0, direction="in",
                   pad=-pt(30))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.2f}°"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.2f}°"))
    note = draw_text(ax, 0.99, 0.02, "fond de carte non rendu par l'aperçu", size=11,
                     color=theme.TEXT_WEAK, ha="right", va="bottom")
    note.set_transform(ax.transAxes)
    if rows:
        draw_legend(ctx.base, rows, Box(8, ctx.box.h - legend_h, ctx.box.w - 16, legend_h),
                    hidden)


def _fit_view(ax: Axes, lons: list[float], lats: list[float], box: Box, padding_pct: float) -> None:
    """Grafana's "fit to data" view: every point, with padding, at the map's true proportions
    (a degree of longitude is cos(latitude) of a degree of latitude)."""
    scale = max(math.cos(math.radians((min(lats) + max(lats)) / 2)), 0.1)
    width = max(max(lons) - min(lons), 0.005) * scale  # in degrees of latitude
    height = max(max(lats) - min(lats), 0.005)
    width, height = width * (1 + 2 * padding_pct / 100), height * (1 + 2 * padding_pct / 100)
    if width / height < box.w / box.h:
        width = height * box.w / box.h
    else:
        height = width * box.h / box.w
    mid_lon, mid_lat = (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2
    ax.set_xlim(mid_lon - width / scale / 2, mid_lon + width / scale / 2)
    ax.set_ylim(mid_lat - height / 2, mid_lat + height / 2)


def draw_bargauge(ctx: Context) -> None:
    values = _values(ctx)
    if not values:
        ctx.no_data()
        return
    n = len(values)
    row = ctx.box.h / n
    numbers = [v for _, v, _ in values if isinstance(v, int | float)]
    top = max([*numbers, 1e-9])
    name_w = min(max(text_width(name, 12) for name, _, _ in values) + 12, ctx.box.w * 0.35)
    for i, (name, value, config) in enumerate(values):
        shown = display(value, config)
        y = i * row
        draw_text(ctx.base, name_w - 8, y + row / 2, ellipsized(name, name_w - 12, 12), size=12,
                  ha="right")
        bar_w = (ctx.box.w - name_w - 90) * (float(value) / top if isinstance(value, int | float)
                                             and top > 0 else 0)
        ctx.base.add_patch(Rectangle((name_w, y + row * 0.15), ctx.box.w - name_w - 90,
                                     row * 0.7, facecolor="#22252b", edgecolor="none"))
        ctx.base.add_patch(Rectangle((name_w, y + row * 0.15), max(bar_w, 0), row * 0.7,
                                     facecolor=shown.color or theme.NAMED["green"],
                                     edgecolor="none", gid=DATA))
        draw_text(ctx.base, ctx.box.w - 4, y + row / 2, shown.text, size=14, ha="right",
                  color=shown.color or theme.TEXT, bold=True)


DRAWERS: dict[str, Callable[[Context], None]] = {
    "timeseries": draw_timeseries, "stat": draw_stat, "table": draw_table,
    "state-timeline": draw_state_timeline, "geomap": draw_geomap, "bargauge": draw_bargauge,
}
