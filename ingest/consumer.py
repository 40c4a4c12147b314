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
from datetime import timedelta

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.decode import decode_message, subscriptions
from ingest.model import Decoded
from ingest.registry import Registry
from ingest.writer import Writer
from phare import db
from phare.errors import DatabaseUnavailable
from phare.settings import Settings

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our queue while we are away (upgrades...)
RECONNECT_MAX_S = 30


@dataclass(slots=True)
class Stats:
    """Counters of one consumer's life."""

    received: int = 0
    values_stored: int = 0
    values_duplicate: int = 0
    events_stored: int = 0
    batches: int = 0
    db_errors: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    last_batch_s: float = 0.0

    def line(self) -> str:
        rejected = sum(self.rejected.values())
        return (f"received {self.received} messages, stored {self.values_stored} values "
                f"({self.values_duplicate} duplicates ignored), {self.events_stored} events, "
                f"rejected {rejected}")


@dataclass(slots=True)
class _Item:
    mid: int
    generation: int  # the MQTT connection it arrived on: acks are valid only on that one
    decoded: list[Decoded]


class Consumer:
    """Consumes Phare's topics until `stop()` is called."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats = Stats()
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=settings.ingest_queue_max_messages)
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._connected = threading.Event()
        self._generation = 0
        self._pending = 0  # items taken off the queue and not yet acknowledged
        self._max_future = timedelta(seconds=settings.ingest_max_future_seconds)
        self._topics = subscriptions()
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
        decoded = decode_message(
            msg.topic, msg.payload,
            max_payload_bytes=self.settings.ingest_max_payload_bytes,
            max_future=self._max_future,
        )
        self.stats.received += 1
        if not decoded:  # e.g. the platform's own outbound message
            client.ack(msg.mid, msg.qos)
            return
        # Blocks when the writer is behind: back-pressure to the broker, which holds the rest.
        self._queue.put(_Item(msg.mid, self._generation, decoded))

    # --- writer side --------------------------------------------------------------
    def _write_loop(self) -> None:
        writer: Writer | None = None
        registry = Registry()
        backoff = 0.5
        batch: list[_Item] = []
        try:
            while True:
                if not batch:
                    batch = self._collect()
                    self._pending = len(batch)
                    if not batch:
                        if self._stopping.is_set():
                            return
                        continue
                try:
                    if writer is None:
                        writer = Writer(db.connect(self.settings), registry)
                    started = time.perf_counter()
                    result = writer.write([d for i in batch for d in i.decoded])
                except (psycopg.OperationalError, DatabaseUnavailable) as exc:
                    self.stats.db_errors += 1
                    log.warning("database unavailable (%s); retrying in %.1f s",
                                str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                                backoff)
                    if writer is not None:
                        writer.conn.close()
                        writer = None
                    if self._stopping.wait(backoff) and self._drain_deadline_passed():
                        log.warning("stopping with %d messages unwritten: the broker keeps them",
                                    len(batch) + self._queue.qsize())
                        return
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.5
                self._ack(batch)
                self.stats.batches += 1
                self.stats.last_batch_s = time.perf_counter() - started
                self.stats.values_stored += result.values_stored
                self.stats.values_duplicate += result.values_duplicate
                self.stats.events_stored += result.events_stored
                self.stats.rejected.update(result.rejected)
                batch = []
                self._pending = 0
        finally:
            if writer is not None:
                writer.conn.close()
            self._stopped.set()

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

    def _drain_deadline_passed(self) -> bool:
        return time.monotonic() > self._drain_deadline

    # --- life cycle ---------------------------------------------------------------
    def start(self) -> None:
        """Connects (retrying in the background if the broker is away) and starts writing."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect_async(self.settings.mqtt_host, self.settings.mqtt_port,
                                   keepalive=30, clean_start=False, properties=props)
        self._client.loop_start()
        self._writer_thread.start()

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

    _drain_deadline = float("inf")
