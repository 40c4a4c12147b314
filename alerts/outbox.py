"""The transactional outbox between ingest and the rules engine.

In each batch's own transaction, the ingest writer hands `add` what the rules may act on:
every event, and the readings of hazard metrics (`smoke_alarm`, `water_detected`,
`water_level_cm`, a hazard detector's `temperature_c`) and of `battery_pct`. They are written
to `alert_inbox` by one INSERT … SELECT FROM unnest, and `NOTIFY phare_inbox` wakes the
engine when the batch commits: an alert can never be missed (it commits with the data) nor
raised from data that was rolled back. Other metrics cost a set look-up each, nothing more.

The engine consumes the inbox in id order and deletes what it processed, in the transaction
that writes the resulting alerts (alerts/engine.py). Not an id watermark: identity values
are taken when rows are inserted but become visible when their transaction commits, so with
several ingest workers a row with a lower id can appear after a higher one was read, and a
watermark would skip it. Deleting what was processed has no such gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import psycopg

from devices.catalogue import COMMON_METRICS, KINDS

if TYPE_CHECKING:
    from ingest.registry import DeviceRef

INBOX_CHANNEL = "phare_inbox"
HAZARD_KIND = "hazard_detector"
BATTERY_METRIC = "battery_pct"
TEMPERATURE_METRIC = "temperature_c"
# Metrics whose readings go to the inbox whatever the device's kind, and those that go only
# from hazard detectors (a building's temperature is analytics' business, not a fire rule's).
_COMMON = frozenset(m.name for m in COMMON_METRICS)
ALWAYS_METRICS = frozenset(
    (KINDS[HAZARD_KIND].metric_names - _COMMON - {TEMPERATURE_METRIC}) | {BATTERY_METRIC}
)
HAZARD_ONLY_METRICS = frozenset({TEMPERATURE_METRIC})
assert BATTERY_METRIC in _COMMON and TEMPERATURE_METRIC in KINDS[HAZARD_KIND].metric_names

_INSERT = (
    "insert into alert_inbox (ts, tenant_id, device_uid, kind, name, value, active, detail) "
    "select * from unnest(%s::timestamptz[], %s::int4[], %s::int4[], %s::text[], %s::text[], "
    "%s::float8[], %s::bool[], %s::jsonb[])"
)

Row = tuple[datetime, int, int, str, float]
EventRow = tuple[datetime, int, int, str, bool, str]


def add(conn: psycopg.Connection, rows: list[Row], events: list[EventRow],
        refs: Iterable[DeviceRef | str] = ()) -> int:
    """Adds the batch's rule-relevant items to the inbox (in the caller's transaction) and
    queues the engine's wake-up; returns how many items were added.

    `refs`: the batch's resolved devices (anything else is skipped), to tell hazard detectors.
    """
    hazard = {r.uid for r in refs if not isinstance(r, str) and r.kind == HAZARD_KIND}
    items: list[tuple[object, ...]] = [
        (ts, tenant, uid, "reading", metric, value, None, None)
             for ts, tenant, uid, metric, value in rows
             if metric in ALWAYS_METRICS or (metric in HAZARD_ONLY_METRICS and uid in hazard)]
    items.extend((ts, tenant, uid, "event", kind, None, active, detail)
                 for ts, tenant, uid, kind, active, detail in events)
    if not items:
        return 0
    columns = [list(column) for column in zip(*items, strict=True)]
    conn.execute(_INSERT, columns)
    conn.execute("select pg_notify(alert_channel(%s), '')", (INBOX_CHANNEL,))
    return len(items)
