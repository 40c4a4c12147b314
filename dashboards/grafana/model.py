"""Dashboards, panels and queries as values, and the small builders the dashboards are made of.

A `Dashboard` renders to the JSON model Grafana stores (`to_json`); panels are laid out in
reading order, two half-width panels a row unless a panel asks for more width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from dashboards.grafana.sql import TENANT_VARIABLE_QUERY

DATASOURCE_UID = "phare-timescaledb"
# The PostgreSQL plugin's id since Grafana 10.3 ("postgres" before, still an alias).
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39  # Grafana 10.4 – 12 read it as is
# Lines connect over gaps up to this long ("connect null values" threshold, in ms in the JSON):
# a few missed reports of devices that report every 10 to 15 minutes.
CONNECT_GAPS = timedelta(hours=1)
TAG = "phare"
GRID_WIDTH = 24

Format = Literal["time_series", "table"]
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Target:
    """One SQL query of a panel."""

    sql: str
    format: Format = "time_series"
    ref_id: str = "A"

    def to_json(self) -> Json:
        return {"refId": self.ref_id, "datasource": DATASOURCE, "editorMode": "code",
                "rawQuery": True, "format": self.format, "rawSql": self.sql}


@dataclass(frozen=True, slots=True)
class Panel:
    """A panel: its stable key (`power-per-cabinet`), what it shows and its queries.

    `platform_wide`: its rows belong to no tenant (job runs), so `$tenant` does not filter it.
    """

    key: str
    title: str
    type: str
    targets: tuple[Target, ...]
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    overrides: tuple[Mapping[str, Any], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    transformations: tuple[Mapping[str, Any], ...] = ()
    min_interval: str | None = None
    width: int = 12
    height: int = 8
    platform_wide: bool = False

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        panel: Json = {
            "id": panel_id, "type": self.type, "title": self.title,
            "description": self.description, "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "targets": [t.to_json() for t in self.targets],
            "fieldConfig": {"defaults": dict(self.defaults),
                            "overrides": [dict(o) for o in self.overrides]},
            "options": dict(self.options),
        }
        if self.transformations:
            panel["transformations"] = [dict(t) for t in self.transformations]
        if self.min_interval:
            panel["interval"] = self.min_interval
        return panel


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A dashboard of Phare: uid `phare-<key>`, the `$tenant` variable, its panels."""

    key: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    time_from: str = "now-2d"
    refresh: str = "5m"

    @property
    def uid(self) -> str:
        return f"{TAG}-{self.key}"

    def to_json(self) -> Json:
        """The dashboard's JSON model, as file provisioning reads it and the API stores it."""
        panels, x, y, row_height = [], 0, 0, 0
        for n, panel in enumerate(self.panels, start=1):
            if x + panel.width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            panels.append(panel.to_json(n, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": [TAG, self.key], "timezone": "browser", "editable": False,
            "graphTooltip": 1, "schemaVersion": SCHEMA_VERSION, "version": 1,
            "time": {"from": self.time_from, "to": "now"}, "refresh": self.refresh,
            "templating": {"list": [tenant_variable()]},
            "annotations": {"list": []},
            "links": [{"type": "dashboards", "tags": [TAG], "asDropdown": True,
                       "title": "Tableaux de bord Phare", "includeVars": True, "keepTime": True}],
            "panels": panels,
        }


def tenant_variable() -> Json:
    """`$tenant`: one or more tenants (their ids), all by default; below them comes with them."""
    return {
        "name": "tenant", "label": "Collectivité", "type": "query", "datasource": DATASOURCE,
        "query": TENANT_VARIABLE_QUERY, "definition": TENANT_VARIABLE_QUERY,
        "multi": True, "includeAll": True, "refresh": 1, "sort": 0, "hide": 0,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


# --- field configuration helpers --------------------------------------------------------
Step = tuple[str, float | None]


def thresholds(*steps: Step) -> Json:
    """Absolute thresholds: ("green", None) first, then (colour, from value)…"""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def value_mappings(labels: Mapping[str, str], colors: Mapping[str, str] | None = None) -> list[Json]:
    """Grafana value mappings: stored codes shown as readable labels (and colours)."""
    options: Json = {}
    for index, (code, text) in enumerate(labels.items()):
        option: Json = {"text": text, "index": index}
        if colors and code in colors:
            option["color"] = colors[code]
        options[code] = option
    return [{"type": "value", "options": options}]


def column(name: str, **properties: Any) -> Json:
    """An override of the field (column or series) called `name`."""
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": key, "value": value} for key, value in properties.items()]}


def series_matching(pattern: str, **properties: Any) -> Json:
    """An override of the fields whose name matches the regular expression `pattern`."""
    return {"matcher": {"id": "byRegexp", "options": pattern},
            "properties": [{"id": key, "value": value} for key, value in properties.items()]}


# --- panel builders ---------------------------------------------------------------------
def _defaults(unit: str | None, extra: Mapping[str, Any] | None = None, **custom: Any) -> Json:
    defaults: Json = {"custom": custom} if custom else {}
    if unit:
        defaults["unit"] = unit
    return {**defaults, **(extra or {})}


def timeseries(key: str, title: str, query: str, *, description: str, unit: str | None = None,
               bars: bool = False, field_thresholds: Json | None = None,
               overrides: Sequence[Json] = (), min_interval: str | None = None,
               width: int = 12, decimals: int | None = None,
               extra_targets: Sequence[Target] = (),
               connect_gaps: timedelta = CONNECT_GAPS) -> Panel:
    """A time series panel (lines, or bars for daily totals); `extra_targets`: more queries
    (refId B…) drawn on the same axes; a line goes on across gaps up to `connect_gaps` (a bucket
    narrower than the devices' reporting interval is empty, a null once the series are joined)
    and breaks on longer ones (an outage shows)."""
    extra: Json = {}
    if field_thresholds:
        extra["thresholds"] = field_thresholds
    if decimals is not None:
        extra["decimals"] = decimals
    custom: Json = {"drawStyle": "bars" if bars else "line", "lineWidth": 1,
                    "fillOpacity": 60 if bars else 10,
                    "spanNulls": round(connect_gaps.total_seconds() * 1000),
                    "showPoints": "never" if not bars else "auto"}
    if field_thresholds:
        custom["thresholdsStyle"] = {"mode": "line+area"}
    return Panel(key, title, "timeseries", (Target(query), *extra_targets), description,
                 defaults=_defaults(unit, extra, **custom), overrides=tuple(overrides),
                 options={"legend": {"displayMode": "list", "placement": "bottom"},
                          "tooltip": {"mode": "multi", "sort": "desc"}},
                 min_interval=min_interval, width=width)


def table(key: str, title: str, query: str, *, description: str, overrides: Sequence[Json] = (),
          width: int = 24, height: int = 8, platform_wide: bool = False) -> Panel:
    """A table panel (its query's columns, in order, with their aliases as headers)."""
    return Panel(key, title, "table", (Target(query, "table"),), description,
                 defaults={"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                 overrides=tuple(overrides),
                 options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
                 width=width, height=height, platform_wide=platform_wide)


def stat(key: str, title: str, query: str, *, description: str, unit: str | None = None,
         field_thresholds: Json | None = None, mappings: list[Json] | None = None,
         width: int = 6, height: int = 5) -> Panel:
    """Big numbers: one per column (or per row of a `metric`/value query)."""
    extra: Json = {"thresholds": field_thresholds or thresholds(("blue", None))}
    if mappings:
        extra["mappings"] = mappings
    return Panel(key, title, "stat", (Target(query, "table"),), description,
                 defaults=_defaults(unit, extra),
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                            "values": True},
                          "colorMode": "background", "graphMode": "none", "textMode": "auto"},
                 width=width, height=height)


def state_timeline(key: str, title: str, query: str, *, description: str,
                   mappings: list[Json], min_interval: str | None = None) -> Panel:
    """A state timeline: one line per series, coloured by value mappings. A state lasts until
    the next value: devices report less often than the panel's interval, and the buckets in
    between (nulls once the series are joined) must not cut it."""
    return Panel(key, title, "state-timeline", (Target(query),), description,
                 defaults={"mappings": mappings, "custom": {"fillOpacity": 80, "lineWidth": 0,
                                                            "spanNulls": True},
                           "thresholds": thresholds(("green", None))},
                 options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                          "legend": {"displayMode": "list", "placement": "bottom"}},
                 min_interval=min_interval)


def geomap(key: str, title: str, query: str, *, description: str, color_field: str,
           overrides: Sequence[Json] = ()) -> Panel:
    """A map of points from `latitude` and `longitude` columns, coloured by `color_field`.

    Grafana colours each marker by the field's display colour, which is its value mapping's
    when the field has mappings (`overrides`); the markers legend would list the field's
    thresholds, not its mappings, so it is off: a table beside the map says the colours.
    """
    layer = {"type": "markers", "name": "Équipements",
             "location": {"mode": "coords", "latitude": "latitude", "longitude": "longitude"},
             "config": {"showLegend": False,
                        "style": {"color": {"field": color_field, "fixed": "dark-green"},
                                  "size": {"fixed": 6}, "opacity": 0.8}},
             "tooltip": True}
    return Panel(key, title, "geomap", (Target(query, "table"),), description,
                 overrides=tuple(overrides),
                 options={"view": {"id": "fit", "padding": 10},
                          "controls": {"showZoom": True, "mouseWheelZoom": True},
                          "basemap": {"type": "default", "name": "Fond de carte"},
                          "layers": [layer], "tooltip": {"mode": "details"}},
                 width=12, height=12)
