"""Runs a dashboard's queries as Grafana would: its range, `$tenant`, each panel's interval.

The range comes from the dashboard's `time` (`now-2d` … `now`), `$tenant` from its variable
(the variable's own query, all its values for "All", as Grafana expands `$__all` without a
custom all value), `$__interval` from the panel's width in pixels and its minimum interval
(`macros.auto_interval`). Macros are expanded by `dashboards.grafana.macros`, the expander the
tests check the panels with. Every query runs in a read-only transaction of its own, under a
statement timeout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from dashboards.grafana.errors import DashboardError, MacroError
from dashboards.grafana.macros import QueryContext, auto_interval, expand, parse_interval
from dashboards.preview.frames import Frame, FrameError, frame

Json = dict[str, Any]

STATEMENT_TIMEOUT_MS = 60_000
_RELATIVE_RE = re.compile(r"^now(?:-(\d+)([smhdw]))?$")


class PreviewError(DashboardError):
    """A dashboard the preview cannot run: a range it does not read, a tenant that is unknown."""


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date and time (UTC when it has no offset)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise PreviewError(f"not an ISO 8601 date and time: {text!r} "
                           f"(e.g. 2025-12-03T18:00+01:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def relative_time(text: str, now: datetime) -> datetime:
    """`now`, `now-2d`, `now-6h` … (Grafana's relative times, rounding apart)."""
    match = _RELATIVE_RE.match(text.strip())
    if match is None:
        raise PreviewError(f"unsupported dashboard time {text!r} (expected now or now-<n><unit>)")
    if match.group(1) is None:
        return now
    return now - parse_interval(match.group(1) + match.group(2))


@dataclass(frozen=True, slots=True)
class Tenants:
    """What `$tenant` holds: its values (tenant ids) and the text its picker shows."""

    values: tuple[str, ...]
    text: str


@dataclass(slots=True)
class PanelData:
    """A panel's frames, or the error Grafana would show in its corner, and the SQL it ran."""

    frames: list[Frame] = field(default_factory=list)
    error: str | None = None
    sql: list[str] = field(default_factory=list)
    interval: timedelta | None = None

    @property
    def rows(self) -> int:
        return sum(f.length for f in self.frames)


def tenant_variable(dashboard: Json) -> Json:
    variables = [v for v in dashboard.get("templating", {}).get("list", [])
                 if v.get("name") == "tenant"]
    if not variables:
        raise PreviewError(f"dashboard {dashboard.get('uid')} has no $tenant variable")
    return dict(variables[0])


def resolve_tenants(conn: psycopg.Connection, dashboard: Json,
                    chosen: Sequence[str] = ()) -> Tenants:
    """`$tenant` for "All" (every value its query offers) or for the tenants `chosen` (slugs
    or ids), which must be among the values it offers."""
    query = tenant_variable(dashboard)["query"]
    options = [(str(text), str(value)) for text, value in conn.execute(query.encode())]
    if not chosen:
        if not options:
            raise PreviewError("the $tenant variable offers no tenant: the database has none")
        return Tenants(tuple(v for _, v in options), "Toutes")
    by_value = dict((v, t) for t, v in options)
    picked: list[str] = []
    for item in chosen:
        value = item if item in by_value else _tenant_id(conn, item)
        if value not in by_value:
            raise PreviewError(f"tenant {item!r} is not offered by the $tenant variable "
                               f"(unknown, or a partner)")
        picked.append(value)
    return Tenants(tuple(picked), " + ".join(by_value[v] for v in picked))


def _tenant_id(conn: psycopg.Connection, slug: str) -> str:
    row = conn.execute("select id from tenants where slug = %s", (slug,)).fetchone()
    return "" if row is None else str(row[0])


def panel_context(panel: Json, time_from: datetime, time_to: datetime, tenants: Tenants,
                  width_px: int) -> QueryContext:
    """What Grafana knows when it runs the panel: `$__interval` from its width in pixels
    (Grafana's default max data points) and its minimum interval."""
    interval = auto_interval(time_from, time_to, max_points=max(width_px, 1),
                             min_interval=panel.get("interval"))
    return QueryContext(time_from, time_to, interval, {"tenant": list(tenants.values)})


def run_panel(conn: psycopg.Connection, panel: Json, ctx: QueryContext) -> PanelData:
    """Every target of the panel; a failing query is the panel's error, as in Grafana."""
    data = PanelData(interval=ctx.interval)
    for target in panel.get("targets", []):
        ref_id = str(target.get("refId", "A"))
        try:
            text = expand(str(target["rawSql"]), ctx)
        except MacroError as exc:
            data.error = f"{ref_id}: {exc}"
            return data
        data.sql.append(text)
        try:
            with conn.transaction():
                cursor = conn.execute(text.encode())
                columns = [c.name for c in cursor.description or []]
                rows = cursor.fetchall()
            data.frames.append(frame(ref_id, str(target.get("format", "time_series")),
                                     columns, rows))
        except psycopg.Error as exc:
            data.error = f"{ref_id}: {str(exc).strip().splitlines()[0]}"
            return data
        except FrameError as exc:
            data.error = f"{ref_id}: {exc}"
            return data
    return data


def read_only(conn: psycopg.Connection) -> None:
    """Nothing the preview runs may write, and no query may hang it."""
    conn.execute("set default_transaction_read_only = on")
    conn.execute(sql.SQL("set statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT_MS)))


def time_range(dashboard: Json, *, to: datetime | None = None,
               span: str | None = None) -> tuple[datetime, datetime]:
    """The dashboard's default range, ending at `to` (default now); `span` (e.g. `7d`) replaces
    its length."""
    now = (to or datetime.now(UTC)).astimezone(UTC)
    time = dashboard.get("time", {"from": "now-6h", "to": "now"})
    end = relative_time(str(time.get("to", "now")), now)
    start = end - parse_interval(span) if span else relative_time(str(time["from"]), now)
    if start >= end:
        raise PreviewError(f"empty range {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M}")
    return start, end


def grid_panels(dashboard: Json) -> list[Json]:
    """The dashboard's panels in reading order (rows of the grid, then left to right)."""
    panels: list[Mapping[str, Any]] = dashboard.get("panels", [])
    return sorted((dict(p) for p in panels),
                  key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
