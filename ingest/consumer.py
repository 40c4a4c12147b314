"""The ingest consumer: MQTT in (QoS 1, persistent session), batches out to the writer.

Two threads. The MQTT receive thread (`ingest/mqtt.py`) decodes each message (CPU only) and
puts it on a bounded queue; the writer thread takes batches off the queue, writes each in
one transaction and only then acknowledges its messages to the broker, all in one write. A
message is acknowledged after it is committed, so a crash loses nothing: the broker
redelivers, and idempotent writes store it once.

A worker's writer spends most of its time waiting for PostgreSQL to take a batch's COPY.
More throughput comes from more workers (same PHARE_INGEST_SHARED_GROUP, own client ids):
each has its own connection and interpreter; `bench/ingest.py` measures 1 and 2.
"""

from __future__ import annotations

import gc
import logging
import ssl
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from ingest import metrics
from ingest.decode import decode_message, subscriptions
from ingest.model import Decoded
from ingest.mqtt import Options, Subscriber
from ingest.registry import Registry
from ingest.spool import RawMessage, Spool, SpoolFull
from ingest.writer import Writer, WriteResult
from phare import db
from phare.errors import DatabaseUnavailable
from phare.settings import Settings

log = logging.getLogger(__name__)

RECONNECT_MAX_S = 30
KEEPALIVE_S = 30
# The queue holds tens of thousands of decoded messages, a score of container objects each.
# With the default thresholds (700, 10, 10) the cyclic garbage collector made ~2,500 young
# and 12 full collections over them in the bench's 100,000 messages: 1.5 s of CPU, half of
# the consumer's. Nothing on the hot path makes reference cycles, so young objects are
# collected every 50,000 allocations (30 collections, 0.14 s) and older generations rarely.
GC_THRESHOLDS = (50_000, 50, 100)


@dataclass(slots=True)
class Stats:
    """Counters of one consumer's life (also served as Prometheus metrics)."""

    received: int = 0
    values_stored: int = 0
    values_duplicate: int = 0
    events_stored: int = 0
    values_ignored: int = 0  # LoRaWAN fields that are not numbers (texts, lists)
    batches: int = 0
    batch_seconds: float = 0.0
    db_errors: int = 0
    spooled: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        rejected = sum(self.rejected.values())
        return (f"received {self.received} messages, stored {self.values_stored} values "
                f"({self.values_duplicate} duplicates ignored), {self.events_stored} events, "
                f"rejected {rejected}, spooled {self.spooled}")


@dataclass(slots=True)
class _Item:
    mid: int
    generation: int  # the MQTT connection it arrived on: acks are valid only on that one
    topic: str
    payload: bytes
    received_at: datetime
    decoded: list[Decoded]

    @property
    def raw(self) -> RawMessage:
        return RawMessage(self.topic, self.payload, self.received_at)


class _Inbox:
    """The bounded queue between the receive thread and the writer: one in, many out.

    queue.Queue woke the blocked receive thread for every message the writer took off a full
    queue, so the two threads passed the GIL back and forth 5,000 times a batch. Here the
    writer takes a whole batch under one lock, and a full inbox lets the receive thread go on
    only once it is half empty (meanwhile the broker keeps the rest: back-pressure).
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._resume_at = maxsize // 2
        self._items: deque[_Item] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: _Item) -> None:
        """Appends an item; blocks while the inbox is full."""
        with self._lock:
            while len(self._items) >= self.maxsize:
                self._not_full.wait()
            self._items.append(item)
            if len(self._items) == 1:
                self._not_empty.notify()

    def take(self, most: int, timeout: float) -> list[_Item]:
        """Up to `most` items, waiting at most `timeout` for the first one ([] if none came)."""
        with self._lock:
            if not self._items and not self._not_empty.wait(timeout):
                return []
            items = self._items
            if len(items) <= most:
                batch = list(items)
                items.clear()
            else:
                batch = [items.popleft() for _ in range(most)]
            if len(items) <= self._resume_at:
                self._not_full.notify()
            return batch


class Consumer:
    """Consumes Phare's topics until `stop()` is called."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats = Stats()
        self._queue = _Inbox(settings.ingest_queue_max_messages)
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._pending = 0  # items taken off the queue and not yet acknowledged
        self._max_future = timedelta(seconds=settings.ingest_max_future_seconds)
        self._max_payload = settings.ingest_max_payload_bytes
        group = settings.ingest_shared_group
        self._topics = [f"$share/{group}/{t}" if group else t for t in subscriptions()]
        self._spool = Spool(settings.ingest_spool_dir / settings.ingest_client_id,
                            settings.ingest_spool_max_bytes)
        self._writer: Writer | None = None
        self._gc_thresholds = gc.get_threshold()
        self._registry = Registry()
        self._backoff = 0.5
        self._next_db_attempt = 0.0
        self._drain_deadline = float("inf")
        self.failure: Exception | None = None  # set when the writer died: the process must exit
        self._client = self._make_client()
        self._writer_thread = threading.Thread(target=self._write_loop, name="phare-writer",
                                               daemon=True)

    # --- MQTT side (the receive thread): decode, enqueue, never touch the database -----
    def _make_client(self) -> Subscriber:
        s = self.settings
        options = Options(
            host=s.mqtt_host, port=s.mqtt_port, client_id=s.ingest_client_id,
            topics=tuple(self._topics),
            username=s.mqtt_username,
            password=s.mqtt_password.get_secret_value() if s.mqtt_password else None,
            tls=ssl.create_default_context() if s.mqtt_tls else None,
            keepalive=KEEPALIVE_S,
            # The broker keeps our queue while we are away (restarts, upgrades...).
            session_expiry=s.ingest_session_expiry_s,
            reconnect_max=RECONNECT_MAX_S,
        )
        return Subscriber(options, self._on_message, self._on_connect, self._on_disconnect)

    def _on_connect(self, session_present: bool) -> None:
        log.info("connected to %s and subscribed to %d topic filters (session %s)",
                 self.settings.mqtt_url, len(self._topics), "resumed" if session_present else "new")
        self._connected.set()

    def _on_disconnect(self, reason: str) -> None:
        self._connected.clear()

    def _on_message(self, topic: str, payload: bytes, mid: int) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker redelivers it to our next session
        now = datetime.now(UTC)
        decoded = decode_message(topic, payload, max_payload_bytes=self._max_payload,
                                 max_future=self._max_future, now=now)
        self.stats.received += 1
        generation = self._client.generation
        if not decoded:  # e.g. the platform's own outbound message
            self._client.ack((mid,), generation)
            return
        # Blocks when the writer is behind: back-pressure to the broker, which holds the rest.
        self._queue.put(_Item(mid, generation, topic, payload, now, decoded))

    # --- writer side --------------------------------------------------------------
    def _write_loop(self) -> None:
        try:
            while True:
                if self._spool and self._database():
                    self._replay_spool()
                batch = self._collect()
                self._pending = len(batch)
                if not batch:
                    if self._stopping.is_set():
                        return
                    continue
                self._store(batch)
                self._pending = 0
        except Exception as exc:
            log.exception("ingest writer crashed; messages not acknowledged will be redelivered")
            self.failure = exc
            self._stopping.set()
        finally:
            if self._writer is not None:
                self._writer.conn.close()

    def _store(self, batch: list[_Item]) -> None:
        """Writes a batch, or spools it while the database is away; then acknowledges it."""
        while True:
            writer = None if self._spool else self._database()
            if writer is not None:
                try:
                    started = time.perf_counter()
                    result = writer.write([d for i in batch for d in i.decoded])
                except psycopg.OperationalError as exc:
                    self._database_lost(exc)
                else:
                    self._ack(batch)
                    self._count(result, time.perf_counter() - started)
                    return
            try:
                self._spool.append([i.raw for i in batch])
            except (SpoolFull, OSError) as exc:
                # Not acknowledged: the broker keeps them. Wait for the database.
                log.error("cannot spool (%s); waiting for the database", exc)
                if self._stopping.wait(self._backoff) and time.monotonic() > self._drain_deadline:
                    return
                continue
            self._ack(batch)
            self.stats.spooled += len(batch)
            return

    def _replay_spool(self) -> None:
        """Writes what waited on disk, oldest first, now that the database is back."""
        log.info("database is back: writing %d spooled bytes", self._spool.size)
        for path, messages in self._spool.segments():
            decoded = [
                d for m in messages
                for d in decode_message(m.topic, m.payload,
                                        max_payload_bytes=self.settings.ingest_max_payload_bytes,
                                        max_future=self._max_future, now=m.received_at)
            ]
            writer = self._database()
            if writer is None:
                return
            try:
                started = time.perf_counter()
                result = writer.write(decoded)
            except psycopg.OperationalError as exc:
                self._database_lost(exc)
                return
            self._spool.done(path)
            self._count(result, time.perf_counter() - started)

    def _database(self) -> Writer | None:
        """The writer, connecting if needed; None while the database is unreachable."""
        if self._writer is not None:
            return self._writer
        if time.monotonic() < self._next_db_attempt:
            return None
        try:
            self._writer = Writer(db.connect(self.settings), self._registry)
        except (DatabaseUnavailable, psycopg.OperationalError) as exc:
            self._database_lost(exc)
            return None
        if self._backoff > 0.5:
            log.info("database reachable again")
        self._backoff = 0.5
        return self._writer

    def _database_lost(self, exc: Exception) -> None:
        self.stats.db_errors += 1
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("database unavailable (%s); spooling to disk, next try in %.1f s",
                    first, self._backoff)
        if self._writer is not None:
            self._writer.conn.close()
            self._writer = None
        self._next_db_attempt = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 10.0)

    def _count(self, result: WriteResult, seconds: float) -> None:
        s = self.stats
        s.batches += 1
        s.batch_seconds += seconds
        s.values_stored += result.values_stored
        s.values_duplicate += result.values_duplicate
        s.events_stored += result.events_stored
        s.values_ignored += result.values_ignored
        s.rejected.update(result.rejected)

    def _collect(self) -> list[_Item]:
        """Up to a batch of items, waiting at most the batch interval once one arrived."""
        s = self.settings
        batch = self._queue.take(s.ingest_batch_max_messages, timeout=0.2)
        if not batch:
            return []
        deadline = time.monotonic() + s.ingest_batch_max_seconds
        while len(batch) < s.ingest_batch_max_messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                break
            batch += self._queue.take(s.ingest_batch_max_messages - len(batch),
                                      timeout=min(remaining, 0.02))
        return batch

    def _ack(self, batch: list[_Item]) -> None:
        """Acknowledges a committed batch to the broker in one write."""
        generation = self._client.generation
        # An ack for a message of an earlier connection would name another message:
        # those are left unacknowledged and redelivered (and stored once).
        self._client.ack([i.mid for i in batch if i.generation == generation], generation)

    # --- life cycle ---------------------------------------------------------------
    def start(self) -> None:
        """Connects (retrying in the background if the broker is away) and starts writing."""
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        self._client.start()
        self._writer_thread.start()
        if self.settings.ingest_metrics_port:
            try:
                metrics.serve(self.settings.ingest_metrics_port, metrics.StatsCollector(
                    self.stats, lambda: len(self._queue), lambda: self._spool.size))
            except OSError as exc:
                log.warning("metrics endpoint not started on port %d: %s",
                            self.settings.ingest_metrics_port, exc)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being written."""
        return not self._queue and self._pending == 0

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def stop(self, drain_timeout: float = 15.0) -> None:
        """Stops taking messages, writes and acknowledges those already taken, disconnects."""
        self._drain_deadline = time.monotonic() + drain_timeout
        self._stopping.set()
        self._writer_thread.join(timeout=drain_timeout + 5)
        self._client.stop()
        gc.set_threshold(*self._gc_thresholds)
        log.info("ingest stopped: %s", self.stats.line())

