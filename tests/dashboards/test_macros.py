"""The Grafana macro expander used to run the panels' SQL in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboards.grafana.errors import MacroError
from dashboards.grafana.macros import (
    QueryContext,
    auto_interval,
    expand,
    format_interval,
    parse_interval,
)

FROM = datetime(2026, 11, 21, 5, 1, 17, tzinfo=UTC)
TO = datetime(2026, 11, 23, 5, 1, 17, 500000, tzinfo=UTC)
CTX = QueryContext(FROM, TO, timedelta(minutes=5), {"tenant": ["12", "o'k"]})


@pytest.mark.parametrize(("query", "expanded"), [
    ("$__timeFilter(r.ts)",
     "r.ts BETWEEN '2026-11-21T05:01:17Z' AND '2026-11-23T05:01:17.5Z'"),
    ("$__timeFrom()::timestamptz", "'2026-11-21T05:01:17Z'::timestamptz"),
    ("$__timeTo()", "'2026-11-23T05:01:17.5Z'"),
    ("$__timeGroupAlias(r.ts, $__interval)", "time_bucket('300s',r.ts) AS \"time\""),
    ("$__timeGroup(h.bucket, '1h')", "time_bucket('3600s',h.bucket)"),
    ("$__time(x.bucket)", 'x.bucket AS "time"'),
    ("$__timeEpoch(ts)", 'extract(epoch from ts) as "time"'),
    ("$__unixEpochFilter(t)", "t >= 1795237277 AND t <= 1795410077"),
    ("$__unixEpochFrom(), $__unixEpochTo()", "1795237277, 1795410077"),
    ("count(*) / ($__interval_ms / 60000.0)", "count(*) / (300000 / 60000.0)"),
    ("id in ($tenant)", "id in ('12','o''k')"),
    ("id in (${tenant})", "id in ('12','o''k')"),
], ids=lambda v: v if isinstance(v, str) and v.startswith("$") else None)
def test_expand(query: str, expanded: str) -> None:
    assert expand(query, CTX) == expanded


@pytest.mark.parametrize("query", ["$__timeGroup(ts, 5m, NULL)", "$__unknownMacro(ts)",
                                   "x in ($commune)", "$__range_s", "$__timeFilter(a, b)"])
def test_unsupported_is_an_error(query: str) -> None:
    with pytest.raises(MacroError):
        expand(query, CTX)


def test_intervals() -> None:
    assert parse_interval("5m") == timedelta(minutes=5)
    assert parse_interval("'1h'") == timedelta(hours=1)
    assert parse_interval("500ms") == timedelta(milliseconds=500)
    assert [format_interval(timedelta(seconds=s)) for s in (0.5, 30, 90, 3600, 86400)] == [
        "500ms", "30s", "1m", "1h", "1d"]
    with pytest.raises(MacroError):
        parse_interval("often")


def test_auto_interval() -> None:
    day = timedelta(days=1)
    assert auto_interval(FROM, FROM + 2 * day) == timedelta(minutes=2)
    assert auto_interval(FROM, FROM + 2 * day, min_interval="10m") == timedelta(minutes=10)
    assert auto_interval(FROM, FROM + 120 * day) == timedelta(hours=3)
