"""Field configuration and display as Grafana applies them: defaults and overrides, value
mappings, thresholds, units and decimals.

What Grafana does in `packages/grafana-data` (`field/fieldOverrides.ts`, `displayProcessor.ts`,
`valueFormats/`), reduced to what Phare's panels use: `byName` and `byRegexp` overrides, value
mappings of type `value`, absolute thresholds, and the units below. Another unit is shown as a
plain number with the unit's name after it, so a picture never hides that it is unknown here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dashboards.preview import theme

Json = dict[str, Any]

# A browser in France: what `"timezone": "browser"` means for Phare's users.
TIMEZONE = ZoneInfo("Europe/Paris")

_SI = ("f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E", "Z", "Y")
_SHORT = ("", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept")
# unit -> (symbol, SI offset) for SI-prefixed units: 1500 W shows as 1.50 kW.
_SI_UNITS = {"watt": ("W", 0), "kwatt": ("W", 1), "watth": ("Wh", 0), "kwatth": ("Wh", 1),
             "voltamp": ("VA", 0), "amp": ("A", 0), "volt": ("V", 0)}
# unit -> symbol after the number, unscaled.
_FIXED_UNITS = {"percent": "%", "celsius": "°C", "dB": "dB", "ppm": "ppm", "lux": "lx",
                "pressurebar": "bar", "m3": "m³", "lengthm": "m", "humidity": "%H"}


def merged(defaults: Mapping[str, Any], overrides: Sequence[Mapping[str, Any]],
           display_name: str) -> Json:
    """The configuration of the field shown as `display_name`: the panel's defaults, then every
    override whose matcher selects that name, in order (later properties win)."""
    config: Json = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in defaults.items()}
    config.setdefault("custom", {})
    for override in overrides:
        matcher = override.get("matcher", {})
        kind, pattern = matcher.get("id"), str(matcher.get("options", ""))
        if kind == "byName":
            selected = display_name == pattern
        elif kind == "byRegexp":
            selected = re.search(pattern, display_name) is not None
        else:
            selected = False  # matchers Phare's panels do not use
        if not selected:
            continue
        for prop in override.get("properties", []):
            key, value = str(prop["id"]), prop.get("value")
            if key.startswith("custom."):
                config["custom"] = {**config["custom"], key.removeprefix("custom."): value}
            else:
                config[key] = value
    return config


@dataclass(frozen=True, slots=True)
class Display:
    """A value as a panel shows it: its text (unit included) and its colour, if any."""

    text: str
    color: str | None = None
    mapped: bool = False  # the text comes from a value mapping


def mapping_key(value: Any) -> str:
    """The text Grafana matches value mappings against (JavaScript's `String(value)`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def threshold_color(value: float | None, config: Mapping[str, Any]) -> str | None:
    """The colour of the highest absolute threshold step at or below `value` (the base step for
    a value that is not a number); None without thresholds."""
    steps = (config.get("thresholds") or {}).get("steps") or []
    if not steps:
        return None
    chosen = steps[0]["color"]
    if value is not None and not math.isnan(value):
        for step in steps[1:]:
            if step.get("value") is not None and value >= step["value"]:
                chosen = step["color"]
    return theme.color(chosen)


def display(value: Any, config: Mapping[str, Any]) -> Display:
    """`value` as Grafana's display processor shows it under `config`."""
    for mapping in config.get("mappings") or []:
        if mapping.get("type") != "value" or value is None:
            continue
        option = (mapping.get("options") or {}).get(mapping_key(value))
        if option is not None:
            number = as_number(value)
            text = option.get("text") or (format_value(number, config) if number is not None
                                          else str(value))
            color = theme.color(option["color"]) if option.get("color") else \
                threshold_color(number, config)
            return Display(str(text), color, mapped=True)
    if value is None:
        return Display("")
    if isinstance(value, datetime):
        return Display(value.astimezone(TIMEZONE).strftime("%Y-%m-%d %H:%M:%S"),
                       threshold_color(None, config))
    number = as_number(value)
    if number is None:
        return Display(str(value), threshold_color(None, config))
    return Display(format_value(number, config), threshold_color(number, config))


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


# --- units ------------------------------------------------------------------------------
def auto_decimals(value: float) -> int:
    """How many decimals Grafana shows when the panel does not say: three significant figures
    (`1.50`, `15.3`, `151`), none for whole numbers."""
    if value == 0 or not math.isfinite(value) or float(value).is_integer():
        return 0
    return max(0, 2 - math.floor(math.log10(abs(value))))


def to_fixed(value: float, decimals: int | None) -> str:
    if not math.isfinite(value):
        return "∞" if value > 0 else ("-∞" if value < 0 else "NaN")
    places = auto_decimals(value) if decimals is None else max(0, int(decimals))
    return f"{value:.{places}f}"


def _scaled(value: float, factor: float, prefixes: Sequence[str], offset: int,
            decimals: int | None) -> tuple[str, str]:
    index = 0 if value == 0 else math.floor(math.log(abs(value), factor) + 1e-9)
    index = max(-offset, min(index, len(prefixes) - offset - 1))
    return to_fixed(value / factor ** index, decimals), prefixes[offset + index]


def format_value(value: float, config: Mapping[str, Any]) -> str:
    """A number with the panel's unit and decimals, as Grafana writes it (`1.50 kW`)."""
    unit = config.get("unit") or "none"
    decimals = config.get("decimals")
    if unit in _SI_UNITS:
        symbol, offset = _SI_UNITS[unit]
        text, prefix = _scaled(value, 1000, _SI, 5 + offset, decimals)
        return f"{text} {prefix}{symbol}"
    if unit == "short":
        text, suffix = _scaled(value, 1000, _SHORT, 0, decimals) if abs(value) >= 1000 \
            else (to_fixed(value, decimals), "")
        return text + suffix
    if unit == "percent":
        return to_fixed(value, decimals) + "%"
    if unit in _FIXED_UNITS:
        return f"{to_fixed(value, decimals)} {_FIXED_UNITS[unit]}"
    if unit.startswith("suffix:"):
        return f"{to_fixed(value, decimals)} {unit.removeprefix('suffix:').strip()}"
    if unit.startswith("prefix:"):
        return unit.removeprefix("prefix:").strip() + to_fixed(value, decimals)
    if unit == "s":
        return _seconds(value, decimals)
    if unit == "none":
        return to_fixed(value, decimals)
    return f"{to_fixed(value, decimals)} [{unit}]"


def _seconds(value: float, decimals: int | None) -> str:
    size = abs(value)
    if size < 1:
        return f"{to_fixed(value * 1000, decimals)} ms"
    for limit, divisor, name in ((60, 1, "s"), (3600, 60, "min"), (86400, 3600, "hour"),
                                 (604800, 86400, "day")):
        if size < limit:
            return f"{to_fixed(value / divisor, decimals)} {name}"
    return f"{to_fixed(value / 604800, decimals)} week"
