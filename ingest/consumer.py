"""The ingest consumer: MQTT in (QoS 1, persistent session), batches out to the writer.

Two threads. paho's network thread decodes each message (CPU only) and puts it on a bounded
queue; the writer thread takes batches off the queue, writes each in one transaction and
only then acknowledges its messages to the broker. A message is acknowledged after it is
committed, so a crash loses nothing: the broker redelivers, and idempotent writes store
it once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest import metrics
from ingest.decode import decode_message, subscriptions
from ingest.model import Decoded
from ingest.registry import Registry
from ingest.spool import RawMessage, Spool, SpoolFull
from ingest.writer import Writer, WriteResult
from phare import db
from phare.errors import DatabaseUnavailable
from phare.settings import Settings

log = logging.getLogger(__name__)

RECONNECT_MAX_S = 30


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
    raw: RawMessage
    decoded: list[Decoded]


class Consumer:
    """Consumes Phare's topics until `stop()` is called."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats = Stats()
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=settings.ingest_queue_max_messages)
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._generation = 0
        self._pending = 0  # items taken off the queue and not yet acknowledged
        self._max_future = timedelta(seconds=settings.ingest_max_future_seconds)
        group = settings.ingest_shared_group
        self._topics = [f"$share/{group}/{t}" if group else t for t in subscriptions()]
        self._spool = Spool(settings.ingest_spool_dir / settings.ingest_client_id,
                            settings.ingest_spool_max_bytes)
        self._writer: Writer | None = None
        self._registry = Registry()
        self._backoff = 0.5
        self._next_db_attempt = 0.0
        self._drain_deadline = float("inf")
        self.failure: Exception | None = None  # set when the writer died: the process must exit
        self._client = self._make_client()
        self._writer_thread = threading.Thread(target=self._write_loop, name="phare-writer",
                                               daemon=True)

    # --- MQTT side (paho's thread): decode, enqueue, never touch the database ---------
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=s.ingest_client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if s.mqtt_username:
            password = s.mqtt_password.get_secret_value() if s.mqtt_password else None
            client.username_pw_set(s.mqtt_username, password)
        if s.mqtt_tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        client.subscribe([(t, mqtt.SubscribeOptions(qos=1)) for t in self._topics])
        log.info("connected to %s (session %s)", self.settings.mqtt_url,
                 "resumed" if flags.session_present else "new")
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("lost the broker (%s); reconnecting with backoff", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # type: ignore[no-untyped-def]
        if self._stopping.is_set():
            return  # not acknowledged: the broker redelivers it to our next session
        raw = RawMessage(msg.topic, bytes(msg.payload), datetime.now(UTC))
        decoded = decode_message(
            raw.topic, raw.payload,
            max_payload_bytes=self.settings.ingest_max_payload_bytes,
            max_future=self._max_future, now=raw.received_at,
        )
        self.stats.received += 1
        if not decoded:  # e.g. the platform's own outbound message
            client.ack(msg.mid, msg.qos)
            return
        # Blocks when the writer is behind: back-pressure to the broker, which holds the rest.
        self._queue.put(_Item(msg.mid, self._generation, raw, decoded))

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
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + s.ingest_batch_max_seconds
        while len(batch) < s.ingest_batch_max_messages:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    break
                try:
                    batch.append(self._queue.get(timeout=min(remaining, 0.02)))
                except queue.Empty:
                    continue
        return batch

    def _ack(self, batch: list[_Item]) -> None:
        generation = self._generation
        for item in batch:
            # An ack for a message of an earlier connection would name another message:
            # those are left unacknowledged and redelivered (and stored once).
            if item.generation == generation:
                self._client.ack(item.mid, 1)

    # --- life cycle ---------------------------------------------------------------
    def start(self) -> None:
        """Connects (retrying in the background if the broker is away) and starts writing."""
        props = Properties(PacketTypes.CONNECT)
        # The broker keeps our queue while we are away (restarts, upgrades...).
        props.SessionExpiryInterval = self.settings.ingest_session_expiry_s
        self._client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port,
                                   keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()
        self._writer_thread.start()
        if self.settings.ingest_metrics_port:
            try:
                metrics.serve(self.settings.ingest_metrics_port, metrics.StatsCollector(
                    self.stats, self._queue.qsize, lambda: self._spool.size))
            except OSError as exc:
                log.warning("metrics endpoint not started on port %d: %s",
                            self.settings.ingest_metrics_port, exc)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being written."""
        return self._queue.empty() and self._pending == 0

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._connected.wait(timeout)

    def stop(self, drain_timeout: float = 15.0) -> None:
        """Stops taking messages, writes and acknowledges those already taken, disconnects."""
        self._drain_deadline = time.monotonic() + drain_timeout
        self._stopping.set()
        self._writer_thread.join(timeout=drain_timeout + 5)
        self._client.disconnect()
        self._client.loop_stop()
        log.info("ingest stopped: %s", self.stats.line())

