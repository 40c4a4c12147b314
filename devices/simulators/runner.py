"""Puts simulated devices on the platform: registers them through the API, publishes over MQTT."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import httpx
import orjson
import paho.mqtt.client as mqtt

from devices.catalogue import Channel
from devices.messages import Command, CommandAck, to_payload

from .base import Payload, SimDevice, parse_ts
from .errors import BrokerError, RegistrationError
from .wire import Publisher

log = logging.getLogger(__name__)

MAX_FUTURE = timedelta(minutes=10)  # ingest rejects later timestamps (contract §5)
DEVICES_PATH = "/api/v1/devices"

# How a device's message goes on the wire: (topic, payload). Native today; LoRaWAN network
# servers' envelopes are other encoders of the same messages.
Encoder = Callable[[SimDevice, Channel, Payload], tuple[str, bytes]]


def native(device: SimDevice, channel: Channel, item: Payload) -> tuple[str, bytes]:
    """Phare's native topic and JSON payload (contract §1.1-1.4)."""
    return device.topic(channel), to_payload(item)


@dataclass(frozen=True, slots=True)
class Registered:
    created: int
    existing: int


@dataclass(slots=True)
class RunStats:
    """What a run published: messages per device kind and per channel, commands answered."""

    messages: Counter[str] = field(default_factory=Counter)  # device kind → messages
    channels: Counter[str] = field(default_factory=Counter)  # channel → messages
    steps: int = 0
    commands: int = 0
    seconds: float = 0.0


def register(devices: Sequence[SimDevice], api_url: str, api_key: str, *,
             transport: httpx.BaseTransport | None = None, timeout: float = 10.0) -> Registered:
    """Registers each device through `POST /api/v1/devices`; one that exists already is fine."""
    created = existing = 0
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=timeout,
                      transport=transport) as client:
        for device in devices:
            try:
                response = client.post(DEVICES_PATH, json=device.spec)
            except httpx.HTTPError as exc:
                raise RegistrationError(f"cannot reach the API at {api_url}: {exc}") from exc
            if response.status_code == httpx.codes.CREATED:
                created += 1
            elif response.status_code == httpx.codes.CONFLICT:
                existing += 1
            else:
                raise RegistrationError(
                    f"registering {device.tenant}/{device.device_id} failed: HTTP "
                    f"{response.status_code}: {_api_message(response)}")
    return Registered(created, existing)


def run(devices: Sequence[SimDevice], *, mqtt_url: str, start: datetime, end: datetime,
        step: timedelta, speed: float | None,
        on_progress: Callable[[int, int], None] | None = None, now: datetime | None = None,
        client_id: str | None = None, max_inflight: int = 1000, ack_timeout: float = 60.0,
        encode: Encoder = native) -> RunStats:
    """Steps simulated time from start to end (inclusive) and publishes what devices send.

    `speed=None` runs as fast as the broker takes it (timestamps say when things happened);
    a number is a real-time factor (1.0: real time, 60: a simulated minute a second).
    Devices that take commands answer them on `cmd/ack` while the run lasts.
    """
    times = _timeline(start, end, step, speed, now or datetime.now(UTC))
    behind = [d.device_id for d in devices if d.clock is not None and d.clock > start]
    if behind:  # a device's state (indexes, seq) only moves forwards: continue, never replay
        raise ValueError(f"{len(behind)} devices (e.g. {behind[0]}) were already simulated past "
                         f"{start}: build a new fleet to replay a period")
    stats = RunStats()
    lock = threading.Lock()  # devices are stepped here and commanded from paho's thread
    commandable = {d.topic(Channel.CMD): d for d in devices if d.takes_commands}
    link = _Link(mqtt_url, client_id or f"phare-sim-{uuid.uuid4().hex[:8]}", max_inflight,
                 ack_timeout)

    def on_command(topic: str, payload: bytes) -> None:
        device = commandable.get(topic)
        if device is None:
            return
        with lock:
            ack = _answer(device, payload)
            if ack is not None:
                stats.commands += 1
                stats.messages[device.kind] += 1
                stats.channels[Channel.CMD_ACK] += 1
        if ack is not None:
            link.publish_soon(*native(device, Channel.CMD_ACK, ack))

    link.on_command = on_command
    began = time.monotonic()
    link.connect([(topic, 1) for topic in commandable])
    try:
        for done, t in enumerate(times, start=1):
            if speed is not None:
                time.sleep(max(0.0, began + (t - start).total_seconds() / speed
                               - time.monotonic()))
            with lock:
                batch = [(d, d.step(t)) for d in devices]
                for d, messages in batch:
                    stats.messages[d.kind] += len(messages)
                    stats.channels.update(channel for channel, _ in messages)
            for d, messages in batch:
                for channel, item in messages:
                    link.publish(*encode(d, channel, item), retain=channel is Channel.STATUS)
            stats.steps = done
            if on_progress is not None:
                on_progress(done, len(times))
        link.flush()
    finally:
        link.close()
    stats.seconds = time.monotonic() - began
    return stats


class StepBatch(Protocol):
    """The messages of one simulated step, ready to publish (the vectorised engine's `Batch`)."""

    at: datetime
    topics: list[str]
    payloads: list[bytes]
    retained: list[bool]
    kinds: Counter[str]
    channels: Counter[str]


def publish(batches: Iterable[StepBatch], *, mqtt_url: str, start: datetime, end: datetime,
            step: timedelta, speed: float | None,
            on_progress: Callable[[int, int], None] | None = None, now: datetime | None = None,
            client_id: str | None = None, max_inflight: int = 1000,
            ack_timeout: float = 60.0) -> RunStats:
    """Publishes ready-made batches, one a step of [start, end], paced as `run` paces steps.
    Nothing answers commands: the devices are not there (telemetry-only runs). Flat out, a
    lean socket publisher (`wire.Publisher`) sends them, so that the broker sets the pace."""
    total = len(_timeline(start, end, step, speed, now or datetime.now(UTC)))
    stats = RunStats()
    name = client_id or f"phare-sim-{uuid.uuid4().hex[:8]}"
    link: _Link | Publisher
    link = Publisher(mqtt_url, name, timeout=ack_timeout) if speed is None else _Link(
        mqtt_url, name, max_inflight, ack_timeout)
    began = time.monotonic()
    if isinstance(link, Publisher):
        link.connect()
    else:
        link.connect([])
    try:
        for done, batch in enumerate(batches, start=1):
            if isinstance(link, Publisher):
                link.publish(batch.topics, batch.payloads, batch.retained)
            else:
                time.sleep(max(0.0, began + (batch.at - start).total_seconds() / (speed or 1)
                               - time.monotonic()))
                for topic, payload, retain in zip(batch.topics, batch.payloads, batch.retained,
                                                  strict=True):
                    link.publish(topic, payload, retain=retain)
            stats.messages.update(batch.kinds)
            stats.channels.update(batch.channels)
            stats.steps = done
            if on_progress is not None:
                on_progress(done, total)
        link.flush()
    finally:
        link.close()
    stats.seconds = time.monotonic() - began
    return stats


def _timeline(start: datetime, end: datetime, step: timedelta, speed: float | None,
              now: datetime) -> list[datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must carry a UTC offset")
    if step <= timedelta(0) or end < start:
        raise ValueError("the period must run forwards (start <= end) with a positive step")
    if speed is not None and speed <= 0:
        raise ValueError("speed must be a positive real-time factor, or None for flat out")
    # How far ahead of the wall clock the simulated clock gets; ingest refuses > 10 minutes.
    if speed is None:
        ahead = end - now
    else:
        ahead = max(start - now, end - (now + (end - start) / speed))
    if ahead > MAX_FUTURE:
        raise ValueError(f"the run would publish timestamps {ahead} ahead of now, and ingest "
                         f"rejects those more than {MAX_FUTURE} in the future: end the simulated "
                         "period at or before now (or slow it down)")
    return [start + i * step for i in range((end - start) // step + 1)]


def _answer(device: SimDevice, payload: bytes) -> CommandAck | None:
    """The device's acknowledgement of a command; None when there is nobody to answer."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        log.warning("Invalid command %r for %s: not JSON", payload[:200], device.device_id)
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        log.warning("Invalid command %r for %s: no 'id'", payload[:200], device.device_id)
        return None
    try:
        cmd = _command(doc)
    except (ValueError, TypeError) as exc:
        return CommandAck(id=doc["id"], status="rejected", ts=device.clock or datetime.now(UTC),
                          detail={"reason": "invalid_command", "message": str(exc)})
    return device.handle_command(cmd)


def _command(doc: dict[str, Any]) -> Command:
    kind, params = doc.get("type"), doc.get("params", {})
    if not isinstance(kind, str):
        raise ValueError("'type' must be a text")
    if not isinstance(params, dict):
        raise ValueError("'params' must be an object")
    ts = parse_ts(doc["ts"]) if doc.get("ts") is not None else datetime.now(UTC)
    expires = parse_ts(doc["expires"]) if doc.get("expires") is not None else None
    return Command(id=doc["id"], type=kind, params=params, ts=ts, expires=expires)


def _api_message(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    return str(detail)[:500]


class _Link:
    """The fleet's one MQTT connection: QoS 1 publishes with a bounded number unacknowledged."""

    def __init__(self, url: str, client_id: str, max_inflight: int, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"MQTT URL {url!r} must look like mqtt://host:1883 or mqtts://host:8883")
        self.host = parts.hostname
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self.timeout = timeout
        self.on_command: Callable[[str, bytes], None] | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if parts.username:
            self.client.username_pw_set(unquote(parts.username),
                                        unquote(parts.password) if parts.password else None)
        if parts.scheme == "mqtts":
            self.client.tls_set()
        self.client.max_inflight_messages_set(max_inflight)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._max_pending = 10 * max_inflight  # queued in paho beyond those on the wire
        self._pending: deque[mqtt.MQTTMessageInfo] = deque()
        self._subscriptions: list[tuple[str, int]] = []
        self._ready = threading.Event()
        self._refused: str | None = None

    def connect(self, subscriptions: list[tuple[str, int]]) -> None:
        self._subscriptions = subscriptions
        try:
            self.client.connect(self.host, self.port, keepalive=60)
        except OSError as exc:
            raise BrokerError(f"cannot reach the MQTT broker at {self.host}:{self.port}: "
                              f"{exc}") from exc
        self.client.loop_start()
        if not self._ready.wait(self.timeout) or self._refused:
            self.close()
            raise BrokerError(f"the MQTT broker at {self.host}:{self.port} "
                              f"{self._refused or 'did not answer'}")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self._pending.append(self.client.publish(topic, payload, qos=1, retain=retain))
        while self._pending and self._pending[0].is_published():
            self._pending.popleft()
        while len(self._pending) > self._max_pending:
            self._wait(self._pending.popleft())

    def publish_soon(self, topic: str, payload: bytes) -> None:
        """Publishes from paho's own thread, which must not wait for itself."""
        self._pending.append(self.client.publish(topic, payload, qos=1))

    def flush(self) -> None:
        """Waits until the broker has acknowledged every message published so far."""
        while self._pending:
            self._wait(self._pending.popleft())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _wait(self, info: mqtt.MQTTMessageInfo) -> None:
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as exc:
            raise BrokerError(f"publishing to {self.host}:{self.port} failed: {exc}") from exc
        if not info.is_published():
            raise BrokerError(f"the MQTT broker at {self.host}:{self.port} did not acknowledge "
                              f"a message within {self.timeout:g} s")

    # --- paho's thread: never raises -------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._refused = f"refused the connection: {reason_code}"
            self._ready.set()
        elif self._subscriptions:  # again after a reconnection: the session was clean
            client.subscribe(self._subscriptions)
        else:
            self._ready.set()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: Any, properties: Any) -> None:
        self._ready.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self.on_command is None:
            return
        try:
            self.on_command(msg.topic, bytes(msg.payload))
        except Exception:  # a bad command must not take the connection down
            log.exception("Failed to answer command %r on %s", msg.payload[:200], msg.topic)
