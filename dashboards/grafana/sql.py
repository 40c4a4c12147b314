"""SQL building blocks of the panels: tenant scope, rollup tiers, metric series, shared predicates.

Queries are Grafana SQL: plain PostgreSQL plus Grafana's macros (`$__timeFilter(col)`…) and the
`$tenant` variable, expanded by Grafana before they run (`macros.py` does the same for tests).
Values (metric names, kinds, thresholds) enter them as literals composed by `psycopg.sql`, never
by string formatting; table names are unqualified: the data source's role has Phare's schema on
its `search_path` (docs/dashboards.md).

Rollups for long ranges: a panel over readings is one query with up to three branches joined by
`union all` — raw `readings` while the range spans at most `RAW_MAX` (fresh to the minute),
`readings_hourly` up to `HOURLY_MAX`, `readings_daily` beyond. Each branch carries a guard on
the span of the range, `$__timeTo()` minus `$__timeFrom()`: once Grafana has expanded the macros
both are literals, PostgreSQL folds the guard to a constant when planning, and the branches
whose guard is false are never planned nor run (tests/dashboards checks the plans).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Literal

from psycopg import sql

from devices.catalogue import KINDS, Kind, Metric

Tier = Literal["raw", "hourly", "daily"]
Agg = Literal["avg", "min", "max"]
Param = sql.Composable | str | int | float | Iterable[str | int]

RAW_MAX = timedelta(days=3)
HOURLY_MAX = timedelta(days=60)
# Officials think in local days: daily rollups are Europe/Paris days (analytics/rollups.py).
LOCAL_TIMEZONE = "Europe/Paris"


def render(template: str, **params: Param) -> str:
    """The SQL text of `template` (dedented) with its `{placeholders}` replaced by literals.

    A string, a number or an iterable of strings becomes a literal (or a list of literals);
    a `psycopg.sql.Composable` is inserted as it is.
    """
    values = {name: _composable(value) for name, value in params.items()}
    return sql.SQL(textwrap.dedent(template).strip()).format(**values).as_string(None)


def _composable(value: Param) -> sql.Composable:
    if isinstance(value, sql.Composable):
        return value
    if isinstance(value, str | int | float):
        return sql.Literal(value)
    return sql.SQL(", ").join(sql.Literal(v) for v in value)


# --- the catalogue, checked -------------------------------------------------------------
def kind(name: str) -> Kind:
    """A kind of the catalogue (KeyError at import if a dashboard names an unknown one)."""
    return KINDS[name]


def metric(of: Kind, name: str) -> Metric:
    """A metric of a kind of the catalogue; ValueError if the kind has no such metric."""
    for m in of.metrics:
        if m.name == name:
            return m
    raise ValueError(f"kind {of.name} has no metric {name!r} in devices/catalogue.py")


# --- tenant scope -----------------------------------------------------------------------
# The tenants selected in `$tenant` and every tenant below them (a syndicate sees its communes).
_SUBTREE = sql.SQL("(select tenant_subtree(t.id) from tenants t where t.id in ($tenant))")


def scope(column: str) -> sql.Composable:
    """`column` (a tenant id) is within the tenants of `$tenant` and below them."""
    return sql.SQL("{} in {}").format(sql.SQL(column), _SUBTREE)


SCOPE = scope("d.tenant_id")  # most panels join `devices d`


# The platform operator (a root tenant that is not a partner, as `phare_is_operator()` says)
# also sees the rejected messages whose topic named no known tenant.
OPERATOR_SELECTED = sql.SQL(
    "exists (select 1 from tenants t where t.id in ($tenant) "
    "and t.parent_id is null and t.kind <> 'partner')")

# The `$tenant` variable's query: the tenants the data source's role may see, partners apart
# (they own no devices: they read other tenants' through grants).
TENANT_VARIABLE_QUERY = (
    "select name as __text, id as __value from tenants where kind <> 'partner' order by name")


# --- rollup tiers -----------------------------------------------------------------------
_SPAN = "($__timeTo()::timestamptz - $__timeFrom()::timestamptz)"


def _interval(value: timedelta) -> sql.Composable:
    whole_days = value == timedelta(days=value.days)
    text = f"{value.days} days" if whole_days else f"{value.total_seconds():.0f} seconds"
    return sql.SQL("interval {}").format(sql.Literal(text))


def guard(tier: Tier, *, hourly_beyond: bool = False) -> sql.Composable:
    """The condition on the range's span under which a branch of `tier` runs.

    `hourly_beyond`: the query has no daily branch, its hourly branch serves every range
    longer than RAW_MAX.
    """
    raw_max, hourly_max = _interval(RAW_MAX), _interval(HOURLY_MAX)
    if tier == "raw":
        return sql.SQL(_SPAN + " <= {}").format(raw_max)
    if tier == "hourly" and hourly_beyond:
        return sql.SQL(_SPAN + " > {}").format(raw_max)
    if tier == "hourly":
        return sql.SQL(_SPAN + " > {} and " + _SPAN + " <= {}").format(raw_max, hourly_max)
    return sql.SQL(_SPAN + " > {}").format(hourly_max)


def tiered(*, raw: str, hourly: str, daily: str | None = None, order_by: str = "1",
           **params: Param) -> str:
    """One query whose branches read raw readings, hourly rollups and (if given) daily ones,
    each over the ranges of its tier; each branch's template has a `{tier}` placeholder for
    its guard (in its WHERE clause)."""
    branches: list[tuple[Tier, str]] = [("raw", raw), ("hourly", hourly)]
    if daily:
        branches.append(("daily", daily))
    parts = [
        render(template, tier=guard(tier, hourly_beyond=daily is None), **params)
        for tier, template in branches
    ]
    return "\nunion all\n".join(parts) + f"\norder by {order_by}"


_AGG: Mapping[Agg, tuple[str, str, str]] = {  # raw, hourly, daily
    "avg": ("avg(r.value)", "sum(h.avg * h.count) / sum(h.count)",
            "sum(x.avg * x.count) / sum(x.count)"),
    "min": ("min(r.value)", "min(h.min)", "min(x.min)"),
    "max": ("max(r.value)", "max(h.max)", "max(x.max)"),
}


def metric_series(of: Kind, name: str, *, agg: Agg = "avg") -> str:
    """A time series per device of kind `of`: its metric `name`, aggregated by `agg` over
    Grafana's interval (raw, hourly) or per local day (daily)."""
    m = metric(of, name)
    raw_agg, hourly_agg, daily_agg = (sql.SQL(a) for a in _AGG[agg])
    return tiered(
        raw="""
            select $__timeGroupAlias(r.ts, $__interval), d.name as metric, {raw_agg} as value
            from readings r join devices d on d.uid = r.device_uid
            where $__timeFilter(r.ts) and r.metric = {metric} and d.kind = {kind}
              and {scope} and {tier}
            group by 1, 2""",
        hourly="""
            select $__timeGroupAlias(h.bucket, $__interval), d.name as metric,
                   {hourly_agg} as value
            from readings_hourly h join devices d on d.uid = h.device_uid
            where $__timeFilter(h.bucket) and h.metric = {metric} and d.kind = {kind}
              and {scope} and {tier}
            group by 1, 2""",
        daily="""
            select $__time(x.bucket), d.name as metric, {daily_agg} as value
            from readings_daily x join devices d on d.uid = x.device_uid
            where $__timeFilter(x.bucket) and x.metric = {metric} and d.kind = {kind}
              and {scope} and {tier}
            group by 1, 2""",
        order_by="1, 2", metric=m.name, kind=of.name, scope=SCOPE,
        raw_agg=raw_agg, hourly_agg=hourly_agg, daily_agg=daily_agg)


# --- shared predicates ------------------------------------------------------------------
def case_by_kind(values: Mapping[str, str], *, column: str = "d.kind", cast: str) -> sql.Composable:
    """`case column when 'kind' then 'value'::cast … end` over the catalogue's kinds."""
    whens = sql.SQL(" ").join(
        sql.SQL("when {} then {}::" + cast).format(sql.Literal(k), sql.Literal(v))
        for k, v in values.items() if k in KINDS)
    return sql.SQL("case " + column + " {} end").format(whens)
