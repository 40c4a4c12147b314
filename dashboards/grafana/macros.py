"""Expands Grafana's PostgreSQL macros and variables as Grafana does, so that tests (and anyone
checking a panel by hand) run the panels' SQL on a real database without a Grafana server.

Scope — what the panels use, with the output of Grafana's PostgreSQL data source when its
`timescaledb` option is on (pkg/tsdb/grafana-postgresql-datasource/macros.go):

| in the query | becomes |
|---|---|
| `$tenant`, `${tenant}` (multi-value) | `'12','13'`: values quoted (quotes doubled), joined by commas |
| `$__interval` | Grafana's interval text, e.g. `5m`, `1h`, `1d`, `500ms` |
| `$__interval_ms` | the interval in milliseconds, e.g. `300000` |
| `$__timeFilter(col)` | `col BETWEEN '<from>' AND '<to>'` (RFC 3339, UTC) |
| `$__timeFrom()`, `$__timeTo()` | `'<from>'`, `'<to>'` |
| `$__time(col)` | `col AS "time"` |
| `$__timeEpoch(col)` | `extract(epoch from col) as "time"` |
| `$__timeGroup(col, interval)` | `time_bucket('<seconds>s',col)` |
| `$__timeGroupAlias(col, interval)` | `time_bucket('<seconds>s',col) AS "time"` |
| `$__unixEpochFilter(col)` | `col >= <from s> AND col <= <to s>` |
| `$__unixEpochFrom()`, `$__unixEpochTo()` | epoch seconds |

Variables are replaced first, then macros (Grafana's order). Anything else that looks like a
variable or a macro (`$name`, `$__name(…)`) raises `MacroError`: a panel cannot silently depend
on something this expander does not do. `$__timeGroup`'s fill argument is not supported.

`auto_interval` approximates how Grafana picks `$__interval`: the range divided by the panel's
data points, rounded to a round duration, at least the panel's minimum interval.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dashboards.grafana.errors import MacroError

_UNITS = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1), "m": timedelta(minutes=1),
          "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_INTERVAL_RE = re.compile(r"^\s*'?(\d+(?:\.\d+)?)(ms|s|m|h|d|w)'?\s*$")
_MACRO_RE = re.compile(r"\$(__\w+)\(([^)]*)\)")
_VARIABLE_RE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True, slots=True)
class QueryContext:
    """What Grafana knows when it runs a panel's query: the range, the interval, the variables."""

    time_from: datetime
    time_to: datetime
    interval: timedelta
    variables: Mapping[str, Sequence[str]] = field(default_factory=dict)


def parse_interval(text: str) -> timedelta:
    """`5m`, `'1h'`, `500ms`, `2d` → a duration (Grafana's interval syntax, months apart)."""
    match = _INTERVAL_RE.match(text)
    if match is None:
        raise MacroError(f"not an interval: {text!r} (expected e.g. 5m, 1h, 1d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_interval(value: timedelta) -> str:
    """A duration as Grafana writes `$__interval`: the largest unit, whole (`90s` → `1m`)."""
    ms = round(value.total_seconds() * 1000)
    for unit, size_ms in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size_ms:
            return f"{ms // size_ms}{unit}"
    return f"{ms}ms"


# Grafana's rangeutil.roundInterval: (upper bound of the raw interval, rounded interval), in ms.
_ROUND_MS = [(10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500),
             (1_500, 1_000), (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000),
             (25_000, 20_000), (45_000, 30_000), (90_000, 60_000), (210_000, 120_000),
             (450_000, 300_000), (750_000, 600_000), (1_050_000, 900_000),
             (1_500_000, 1_200_000), (2_700_000, 1_800_000), (5_400_000, 3_600_000),
             (9_000_000, 7_200_000), (16_200_000, 10_800_000), (32_400_000, 21_600_000),
             (86_400_000, 43_200_000), (604_800_000, 86_400_000),
             (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000)]


def auto_interval(time_from: datetime, time_to: datetime, *, max_points: int = 1000,
                  min_interval: str | None = None) -> timedelta:
    """The `$__interval` Grafana would pick for a panel of `max_points` data points."""
    raw_ms = (time_to - time_from).total_seconds() * 1000 / max_points
    rounded = next((r for bound, r in _ROUND_MS if raw_ms < bound), 31_536_000_000)
    interval = timedelta(milliseconds=rounded)
    if min_interval is not None:
        interval = max(interval, parse_interval(min_interval))
    return interval


def _instant(value: datetime) -> str:
    # Go's RFC3339Nano in UTC: no trailing zeros in the fraction, `Z` for the zone.
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def _quoted(values: Sequence[str]) -> str:
    if not values:
        raise MacroError("a multi-value variable with no value would expand to an empty list")
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def _seconds(value: timedelta) -> str:
    return f"{value.total_seconds():.0f}"


def _macro(name: str, args: list[str], ctx: QueryContext) -> str:
    frm, to = _instant(ctx.time_from), _instant(ctx.time_to)

    def arity(n: int) -> None:
        if len(args) != n:
            raise MacroError(f"${name} takes {n} argument(s), got {len(args)}: {args!r}")

    if name == "__time":
        arity(1)
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        arity(1)
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        arity(1)
        return f"{args[0]} BETWEEN '{frm}' AND '{to}'"
    if name in ("__timeFrom", "__timeTo"):
        arity(0)
        return f"'{frm}'" if name == "__timeFrom" else f"'{to}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        arity(2)
        bucket = f"time_bucket('{_seconds(parse_interval(args[1]))}s',{args[0]})"
        return bucket if name == "__timeGroup" else bucket + ' AS "time"'
    if name == "__unixEpochFilter":
        arity(1)
        start, end = int(ctx.time_from.timestamp()), int(ctx.time_to.timestamp())
        return f"{args[0]} >= {start} AND {args[0]} <= {end}"
    if name in ("__unixEpochFrom", "__unixEpochTo"):
        arity(0)
        return str(int((ctx.time_from if name == "__unixEpochFrom" else ctx.time_to).timestamp()))
    raise MacroError(f"unsupported Grafana macro ${name}(…)")


def expand(query: str, ctx: QueryContext) -> str:
    """The query as Grafana's PostgreSQL data source would send it to the database."""
    interval_ms = round(ctx.interval.total_seconds() * 1000)
    text = query.replace("$__interval_ms", str(interval_ms))
    text = text.replace("$__interval", format_interval(ctx.interval))

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.startswith("__"):
            return match.group(0)  # a macro: handled below
        if name not in ctx.variables:
            raise MacroError(f"unknown variable ${name}")
        return _quoted(ctx.variables[name])

    text = _VARIABLE_RE.sub(variable, text)

    def macro(match: re.Match[str]) -> str:
        args = [a.strip() for a in match.group(2).split(",")] if match.group(2).strip() else []
        return _macro(match.group(1), args, ctx)

    text = _MACRO_RE.sub(macro, text)
    leftover = re.search(r"\$\{?\w+", text)
    if leftover:
        raise MacroError(f"unsupported Grafana macro or variable {leftover.group(0)} in: "
                         f"…{text[max(leftover.start() - 40, 0):leftover.end() + 40]}…")
    return text
