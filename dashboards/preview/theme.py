"""Grafana's dark theme, as far as the preview draws it: surfaces, text, named colours, palette.

Colours are those Grafana 10–11 resolves its names to in the dark theme
(`packages/grafana-data/src/themes/palette.ts`, `createVisualizationColors.ts`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import matplotlib

CANVAS = "#111217"  # the dashboard's background
PANEL = "#181b1f"  # a panel's background
BORDER = "#2c3235"  # a panel's border, the grid lines
GRID = "#2b2f33"
TEXT = "#ccccdc"
TEXT_STRONG = "#d8d9da"
TEXT_WEAK = "#8e8e93"
ON_DARK = "#f7f8fa"  # text on a coloured background, by its brightness (Grafana's rule)
ON_LIGHT = "#202226"
NOTICE = "#ff9830"  # the preview's corner notice

# Grafana's named visualization colours (dark theme), the base hue of each.
NAMED = {
    "green": "#73BF69", "dark-green": "#37872D", "semi-dark-green": "#56A64B",
    "light-green": "#96D98D", "super-light-green": "#C8F2C2",
    "yellow": "#FADE2A", "dark-yellow": "#E0B400", "semi-dark-yellow": "#F2CC0C",
    "light-yellow": "#FFEE52",
    "red": "#F2495C", "dark-red": "#C4162A", "semi-dark-red": "#E02F44", "light-red": "#FF7383",
    "blue": "#5794F2", "dark-blue": "#1F60C4", "semi-dark-blue": "#3274D9",
    "light-blue": "#8AB8FF",
    "orange": "#FF9830", "dark-orange": "#FA6400", "semi-dark-orange": "#FF780A",
    "light-orange": "#FFB357",
    "purple": "#B877D9", "dark-purple": "#8F3BB8", "semi-dark-purple": "#A352CC",
    "light-purple": "#CA95E5",
    "text": TEXT, "transparent": "#00000000",
}

# The "classic palette" series colours, in the order Grafana hands them to series.
CLASSIC_PALETTE = (
    "#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9", "#705DA0",
    "#508642", "#CCA300", "#447EBC", "#C15C17", "#890F02", "#0A437C", "#6D1F62", "#584477",
    "#B7DBAB", "#F4D598", "#70DBED", "#F9BA8F", "#F29191", "#82B5D8", "#E5A8E2", "#AEA2E0",
)

FONT = "DejaVu Sans"  # ships with matplotlib: the same pictures on every machine


def fonts() -> AbstractContextManager[None]:
    """matplotlib's settings while a picture is drawn and saved, whatever the user's rc file."""
    return matplotlib.rc_context({"font.family": FONT, "font.size": 10, "axes.unicode_minus": True})


def color(name: str | None, default: str = NAMED["green"]) -> str:
    """A Grafana colour name (or `#rrggbb`, `rgb(…)` kept as hex) as a hex colour."""
    if not name:
        return default
    if name.startswith("#"):
        return name
    return NAMED.get(name, default)


def text_on(background: str) -> str:
    """Light or dark text on `background`: dark above a perceived brightness of 180 (of 255),
    as Grafana's `getTextColorForBackground`."""
    hex_ = background.lstrip("#")[:6]
    r, g, b = (int(hex_[i:i + 2], 16) for i in (0, 2, 4))
    return ON_LIGHT if (r * 299 + g * 587 + b * 114) / 1000 > 180 else ON_DARK


def series_color(index: int) -> str:
    return CLASSIC_PALETTE[index % len(CLASSIC_PALETTE)]
