"""Drawing in pixels on a matplotlib figure: boxes, text measured in the pictures' font,
legends that wrap like Grafana's, time and value axes in Grafana's style."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from dashboards.preview import theme
from dashboards.preview.fields import TIMEZONE, format_value

Json = dict[str, Any]

DPI = 100

def pt(px: float) -> float:
    """Pixels (as Grafana's CSS sizes them) in points, at the pictures' resolution."""
    return px * 72 / DPI


_MEASURE = RendererAgg(1, 1, DPI)


@lru_cache(maxsize=8192)
def text_width(text: str, size_px: float, bold: bool = False) -> float:
    """The width in pixels of `text` in the pictures' font."""
    if not text:
        return 0.0
    font = FontProperties(family=theme.FONT, weight="bold" if bold else "normal", size=pt(size_px))
    width, _, _ = _MEASURE.get_text_width_height_descent(text, font, ismath=False)
    return float(width)


def ellipsized(text: str, width_px: float, size_px: float) -> str:
    if text_width(text, size_px) <= width_px:
        return text
    while text and text_width(text + "…", size_px) > width_px:
        text = text[:-1]
    return text + "…" if text else ""


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in pixels, from the picture's top left corner."""

    x: float
    y: float
    w: float
    h: float

    def inset(self, left: float, top: float, right: float | None = None,
              bottom: float | None = None) -> Box:
        right = left if right is None else right
        bottom = top if bottom is None else bottom
        return Box(self.x + left, self.y + top, max(self.w - left - right, 1),
                   max(self.h - top - bottom, 1))


class Canvas:
    """A figure in pixels: boxes become axes, sizes in px become points."""

    def __init__(self, figure: Figure, width: float, height: float) -> None:
        self.figure, self.width, self.height = figure, width, height

    def axes(self, box: Box, *, visible: bool = False) -> Axes:
        ax = self.figure.add_axes((box.x / self.width, 1 - (box.y + box.h) / self.height,
                                   box.w / self.width, box.h / self.height))
        ax.set_facecolor("none")
        if not visible:
            ax.set_axis_off()
        ax.set_xlim(0, box.w)
        ax.set_ylim(box.h, 0)  # pixels, from the top
        return ax

    def rect(self, box: Box, color: str, *, edge: str | None = None, alpha: float = 1.0,
             zorder: float = -1) -> None:
        """A rectangle under every axes (the figure draws its own patches after its axes)."""
        self.figure.patches.append(Rectangle(
            (box.x / self.width, 1 - (box.y + box.h) / self.height),
            box.w / self.width, box.h / self.height, transform=self.figure.transFigure,
            facecolor=color, edgecolor=edge or "none", linewidth=pt(1), alpha=alpha,
            zorder=zorder))

    def text(self, x: float, y: float, text: str, *, size: float = 14, color: str = theme.TEXT,
             ha: str = "left", va: str = "center", bold: bool = False) -> Text:
        return self.figure.text(x / self.width, 1 - y / self.height, text, fontsize=pt(size),
                                color=color, ha=ha, va=va, family=theme.FONT,
                                fontweight="bold" if bold else "normal")


def draw_text(ax: Axes, x: float, y: float, text: str, *, size: float = 14,
              color: str = theme.TEXT, ha: str = "left", va: str = "center", bold: bool = False,
              gid: str | None = None, clip: bool = True) -> Text:
    """Text in an axes laid out in pixels (`Canvas.axes`)."""
    return ax.text(x, y, text, fontsize=pt(size), color=color, ha=ha, va=va, family=theme.FONT,
                   fontweight="bold" if bold else "normal", gid=gid, clip_on=clip)


# --- legends ----------------------------------------------------------------------------
LEGEND_ROW_PX = 22
LEGEND_TEXT_PX = 12


def legend_rows(items: Sequence[tuple[str, str]], width: float) -> list[list[tuple[str, str]]]:
    rows: list[list[tuple[str, str]]] = [[]]
    x = 0.0
    for name, color in items:
        w = 14 + 6 + text_width(name, LEGEND_TEXT_PX) + 16
        if x + w > width and rows[-1]:
            rows.append([])
            x = 0.0
        rows[-1].append((name, color))
        x += w
    return rows if rows[0] else []


def draw_legend(ax: Axes, rows: Sequence[Sequence[tuple[str, str]]], box: Box,
                hidden: int = 0) -> None:
    for r, row in enumerate(rows):
        x, y = box.x, box.y + r * LEGEND_ROW_PX + LEGEND_ROW_PX / 2
        for name, color in row:
            ax.add_patch(Rectangle((x, y - 2), 14, 4, facecolor=color, edgecolor="none"))
            draw_text(ax, x + 20, y, name, size=LEGEND_TEXT_PX)
            x += 14 + 6 + text_width(name, LEGEND_TEXT_PX) + 16
        if hidden and r == len(rows) - 1:
            draw_text(ax, x, y, f"… et {hidden} autres", size=LEGEND_TEXT_PX, color=theme.TEXT_WEAK)


def fit_legend(items: Sequence[tuple[str, str]], box: Box,
               max_share: float = 0.35) -> tuple[list[list[tuple[str, str]]], int]:
    """The legend rows that fit in `max_share` of the box's height, and how many items did not
    (Grafana scrolls a long legend; the picture says how many are cut)."""
    rows = legend_rows(items, box.w)
    room = max(1, int(box.h * max_share // LEGEND_ROW_PX))
    if len(rows) <= room:
        return rows, 0
    kept = rows[:room]
    reserve = text_width("… et 999 autres", LEGEND_TEXT_PX) + 16
    last = kept[-1]
    while last and sum(14 + 22 + text_width(n, LEGEND_TEXT_PX) for n, _ in last) + reserve > box.w:
        last.pop()
    shown = sum(len(r) for r in kept)
    return kept, len(items) - shown


# --- time axes --------------------------------------------------------------------------
def date_num(t: datetime) -> float:
    return float(mdates.date2num(t))


_TIME_STEPS = [timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30)] + \
    [timedelta(hours=h) for h in (1, 2, 3, 6, 12)] + [timedelta(days=d) for d in (1, 2, 7, 14, 30)]


def time_ticks(start: datetime, end: datetime, width_px: float) -> list[datetime]:
    """Ticks at round local times (Paris), about one per 110 px, as Grafana's time axis."""
    room = max(2, int(width_px // 110))
    step = next((s for s in _TIME_STEPS if (end - start) / s <= room), _TIME_STEPS[-1])
    local = start.astimezone(TIMEZONE)
    t = local.replace(hour=0, minute=0, second=0, microsecond=0)
    ticks = []
    while t <= end:
        if t >= start:
            ticks.append(t)
        if step >= timedelta(days=1):  # local midnights, whatever the clock change
            t = (t + step + timedelta(hours=3)).astimezone(TIMEZONE).replace(hour=0)
        else:
            t = (t.astimezone(TIMEZONE) + step).astimezone(TIMEZONE)
    return ticks


def time_axis(ax: Axes, start: datetime, end: datetime, width_px: float) -> None:
    ax.set_xlim(date_num(start), date_num(end))
    ax.xaxis.set_major_locator(FixedLocator([date_num(t) for t in time_ticks(start, end, width_px)]))
    multi_day = end - start > timedelta(days=1)

    def label(value: float, _pos: int | None = None) -> str:
        t = mdates.num2date(value, tz=TIMEZONE)
        if not multi_day:
            return t.strftime("%H:%M")
        return t.strftime("%d/%m") if (t.hour, t.minute) == (0, 0) else t.strftime("%d/%m %H:%M")

    ax.xaxis.set_major_formatter(FuncFormatter(label))


def _trimmed(text: str) -> str:
    """`1.50 kW` → `1.5 kW`, `0.00` → `0` (axis ticks, as Grafana writes them)."""
    text = re.sub(r"(\.\d*?[1-9])0+(?!\d)", r"\1", text)
    return re.sub(r"\.0+(?!\d)", "", text)


def value_axis(ax: Axes, config: Json, height_px: float,
               side: Literal["left", "right"] = "left") -> None:
    ax.yaxis.set_major_locator(MaxNLocator(nbins=max(2, int(height_px // 45)),
                                           steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda v, _p: _trimmed(format_value(v, {**config, "decimals": None}))))
    ax.yaxis.set_ticks_position(side)
    ax.yaxis.set_label_position(side)


def style_axes(ax: Axes) -> None:
    ax.set_facecolor("none")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=theme.TEXT_WEAK, labelsize=pt(12), length=0, pad=pt(6))
    ax.grid(True, color=theme.GRID, linewidth=pt(1))
    ax.set_axisbelow(True)
