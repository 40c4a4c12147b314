"""The rules engine: a long-running loop that turns the outbox into alerts, within a second.

    ingest batch commits ──NOTIFY phare_inbox──► engine wakes, takes up to 1,000 inbox items
    (id order, row-locked), evaluates the rules, raises and clears alerts, deletes the items,
    commits ──NOTIFY phare_alerts──► live stream (API), notification dispatcher

One engine is active at a time (a session advisory lock); a second one waits as a standby
and takes over if the first dies. The items of one batch and the alerts they change commit
together: a crash reprocesses the batch, and never loses it.

Observations older than PHARE_ALERTS_STALE_AFTER_S (a replayed backlog) do not open alerts;
they still clear them. Readings of the inbox are also relayed to the live stream
(`NOTIFY phare_readings`), at most PHARE_ALERTS_STREAM_READINGS_MAX per batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from psycopg.rows import dict_row

from alerts import lifecycle, store
from alerts.model import Device, iso
from alerts.outbox import INBOX_CHANNEL
from alerts.rules import Clear, InboxItem, Raise, Rules
from alerts.store import listen
from phare import db
from phare.errors import DatabaseUnavailable
from phare.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
READINGS_CHANNEL = "phare_readings"
BATCH = 1000
POLL_S = 1.0  # a safety net: the engine also wakes on NOTIFY
# Key space of the engine's advisory lock (two-int form, apart from the jobs' and migrations').
_LOCK_CLASS = 7_405_115


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class EngineStats:
    items: int = 0
    raised: int = 0
    cleared: int = 0
    transitions: int = 0
    failures: int = 0


class Engine:
    """Consumes `alert_inbox` and applies the rules (see the module docstring)."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now,
                 rules: Rules | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.rules = rules or Rules(battery_low_pct=settings.alerts_battery_low_pct)
        self.stats = EngineStats()

    def process(self, conn: psycopg.Connection, limit: int = BATCH) -> int:
        """Processes up to `limit` inbox items in one transaction; returns how many."""
        with conn.transaction():
            with conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "select id, ts, tenant_id, device_uid, kind, name, value, active, "
                    "coalesce(detail, '{}'::jsonb) as detail from alert_inbox "
                    "order by id limit %s for update skip locked", (limit,)).fetchall()
            if not rows:
                return 0
            # In time order: the rules keep state (a test under way, recent readings for
            # rates), and a batch lists a message's readings before its events.
            items = sorted((InboxItem(**r) for r in rows), key=lambda i: (i.ts, i.id))
            uids = {i.device_uid for i in items}
            devices = store.load_devices(conn, uids)
            active = store.active_keys(conn, uids)
            now = self.clock()
            stale_before = now - timedelta(seconds=self.settings.alerts_stale_after_s)
            relayed: list[str] = []
            for item in items:
                device = devices.get(item.device_uid)
                if device is None:
                    continue  # deleted since
                self._apply(conn, item, device, active, now, stale_before)
                if (item.kind == "reading" and item.value is not None
                        and len(relayed) < self.settings.alerts_stream_readings_max):
                    relayed.append(orjson.dumps({
                        "tenant_id": device.tenant_id, "tenant": device.tenant,
                        "device_id": device.id, "metric": item.name, "value": item.value,
                        "ts": iso(item.ts)}).decode())
            conn.execute("delete from alert_inbox where id = any(%s)", ([i.id for i in items],))
            for payload in relayed:
                conn.execute("select pg_notify(alert_channel(%s), %s)", (READINGS_CHANNEL, payload))
        self.stats.items += len(items)
        return len(items)

    def _apply(self, conn: psycopg.Connection, item: InboxItem, device: Device,
               active: set[tuple[int, str]], now: datetime, stale_before: datetime) -> None:
        """Applies the item's actions; a failing item is logged and skipped, never retried
        forever (it would block the inbox)."""
        try:
            for action in self.rules.evaluate(item, device):
                key = (device.uid, str(action.alert_type))
                if isinstance(action, Clear):
                    if key not in active:
                        continue  # the common case: a reading on the safe side
                    change = lifecycle.clear_alert(
                        conn, device_uid=device.uid, alert_type=action.alert_type, now=now,
                        settings=self.settings, source="rules", observed_at=item.ts,
                        condition=action.condition)
                    if change is not None and not change.alert.active:
                        active.discard(key)
                        self.stats.cleared += 1
                elif isinstance(action, Raise):
                    if item.ts < stale_before:
                        continue
                    change = lifecycle.raise_alert(
                        conn, device=device, alert_type=action.alert_type,
                        severity=action.severity, now=now, settings=self.settings,
                        source="rules", text_key=action.text_key, params=action.params,
                        observed_at=item.ts, condition=action.condition)
                    active.add(key)
                    self.stats.raised += 1
                else:  # pragma: no cover - Action is Raise | Clear
                    continue
                if change is not None and change.kind is not None:
                    self.stats.transitions += 1
        except psycopg.OperationalError:
            raise
        except Exception:
            self.stats.failures += 1
            log.exception("rules failed on inbox item %d (%s %s of device %s); skipped",
                          item.id, item.kind, item.name, device.id)

    def drain(self, conn: psycopg.Connection) -> int:
        """Processes the inbox until it is empty; returns how many items."""
        total = 0
        while n := self.process(conn):
            total += n
        return total

    def run_forever(self, stop: threading.Event, *, ready: threading.Event | None = None) -> None:
        """LISTENs and processes until `stop` is set; reconnects after database failures."""
        backoff = 0.5
        while not stop.is_set():
            try:
                with db.connect(self.settings, autocommit=True) as conn:
                    if not self._acquire(conn, stop):
                        return
                    listen(conn, INBOX_CHANNEL)
                    backoff = 0.5
                    if ready is not None:
                        ready.set()
                    log.info("alert rules engine running")
                    while not stop.is_set():
                        self.drain(conn)
                        for _ in conn.notifies(timeout=POLL_S, stop_after=1):
                            pass
            except (DatabaseUnavailable, psycopg.OperationalError) as exc:
                log.warning("rules engine: database unavailable (%s); retrying in %.1f s",
                            str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                            backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _acquire(self, conn: psycopg.Connection, stop: threading.Event) -> bool:
        """Waits for the engine's lock (one active engine per schema); False if stopped."""
        announced = False
        while not stop.is_set():
            row = conn.execute("select pg_try_advisory_lock(%s, hashtext(%s))",
                               (_LOCK_CLASS, f"{self.settings.database_schema}:alerts-engine")
                               ).fetchone()
            if row is not None and row[0]:
                return True
            if not announced:
                log.info("another rules engine is active; standing by")
                announced = True
            stop.wait(5)
        return False
