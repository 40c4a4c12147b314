"""How a command reaches a device: the topic and payload of each route, and the MQTT publisher.

Three routes, chosen from the device's registration:

- native (contract §1.4): `phare/v1/{tenant}/{device_id}/cmd`, the command object as JSON;
  the device answers on `cmd/ack`, which ingest applies (`commands.acks`).
- The Things Stack v3: `v3/{app}[@{ns_tenant}]/devices/{device_id}/down/push`,
  `{"downlinks": [{"f_port", "frm_payload" (base64), "priority", "confirmed", "correlation_ids"}]}`.
- ChirpStack v4: `application/{app_id}/device/{dev_eui}/command/down`,
  `{"id", "devEui", "confirmed", "fPort", "data" (base64)}`.

A LoRaWAN device says which network server and application it belongs to in its metadata:

    "metadata": {"lorawan": {"network_server": "tts" | "chirpstack",
                             "application_id": "…", "tenant": "…"}}

`tenant` is The Things Stack's tenant (`app@tenant`), absent on single-tenant deployments. The
TTS device id is the device's `lorawan_id`; ChirpStack's is its DevEUI. The frame is the device
model's (`commands/encoding.py`). Downlinks are confirmed and carry the command id (TTS
`correlation_ids`, ChirpStack `id`), so that the network servers' acknowledgements name it.
All go to Phare's broker, where the network servers' integrations (or a bridge) take them.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import orjson
import paho.mqtt.client as mqtt

from commands.encoding import Downlink, encode
from commands.errors import DeliveryError, InvalidCommand
from commands.targets import Target
from devices.catalogue import Channel, topic
from devices.messages import Command, to_payload
from phare.settings import Settings

log = logging.getLogger(__name__)

CORRELATION_PREFIX = "phare:command:"
_TOPIC_PART_RE = re.compile(r"^[^/+#\x00]{1,128}$")


class Route(StrEnum):
    NATIVE = "native"
    TTS = "tts"
    CHIRPSTACK = "chirpstack"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish for one command."""

    route: Route
    topic: str
    payload: bytes


def route_of(target: Target) -> Route:
    """The route to the device; InvalidCommand when a LoRaWAN device says too little."""
    lorawan = target.metadata.get("lorawan")
    if lorawan is None:
        if target.dev_eui or target.lorawan_id:
            raise InvalidCommand("device", "this LoRaWAN device cannot take commands: its metadata "
                                 "lacks 'lorawan' {\"network_server\": \"tts\" or \"chirpstack\", "
                                 "\"application_id\": …}")
        return Route.NATIVE
    server = lorawan.get("network_server") if isinstance(lorawan, dict) else None
    if server not in (Route.TTS, Route.CHIRPSTACK):
        raise InvalidCommand("device", "the device's metadata 'lorawan.network_server' must be "
                             f"'tts' or 'chirpstack', not {server!r}")
    return Route(server)


def outgoing(target: Target, command: Command, *, urgent: bool = False) -> Outgoing:
    """The message that carries `command` to `target`; InvalidCommand if none can."""
    route = route_of(target)
    if route is Route.NATIVE:
        return Outgoing(route, topic(target.tenant, target.id, Channel.CMD), to_payload(command))
    lorawan = target.metadata["lorawan"]
    app = _part(lorawan.get("application_id"), "lorawan.application_id")
    downlink = encode(target.model, command.type, command.params)
    if route is Route.TTS:
        ns_tenant = lorawan.get("tenant")
        app_ref = f"{app}@{_part(ns_tenant, 'lorawan.tenant')}" if ns_tenant else app
        device = _part(target.lorawan_id, "lorawan_id (The Things Stack device id)")
        return Outgoing(route, f"v3/{app_ref}/devices/{device}/down/push",
                        tts_push(downlink, command.id, urgent=urgent))
    if not target.dev_eui:
        raise InvalidCommand("device", "a ChirpStack device needs its DevEUI to take commands")
    eui = target.dev_eui.lower()  # ChirpStack writes DevEUIs in lower case
    return Outgoing(route, f"application/{app}/device/{eui}/command/down",
                    chirpstack_down(downlink, command.id, eui))


def check(target: Target, command: Command) -> Route:
    """The route of a command that can be delivered; InvalidCommand otherwise."""
    return outgoing(target, command).route


def tts_push(downlink: Downlink, command_id: str, *, urgent: bool = False) -> bytes:
    return orjson.dumps({"downlinks": [{
        "f_port": downlink.f_port,
        "frm_payload": base64.b64encode(downlink.frame).decode(),
        "priority": "HIGHEST" if urgent else "NORMAL",
        "confirmed": True,
        "correlation_ids": [f"{CORRELATION_PREFIX}{command_id}"],
    }]})


def chirpstack_down(downlink: Downlink, command_id: str, dev_eui: str) -> bytes:
    return orjson.dumps({
        "id": command_id,
        "devEui": dev_eui,
        "confirmed": True,
        "fPort": downlink.f_port,
        "data": base64.b64encode(downlink.frame).decode(),
    })


def _part(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _TOPIC_PART_RE.match(value):
        raise InvalidCommand("device", f"the device's {name} must be a text without '/', '+' "
                             f"or '#', got {value!r:.60}")
    return value


# --- publishing --------------------------------------------------------------------------
class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes) -> None:
        """Publishes at QoS 1 and returns once the broker has it; DeliveryError otherwise."""
        ...


class MqttPublisher:
    """The dispatcher's MQTT connection: QoS 1 publishes, each acknowledged by the broker."""

    def __init__(self, settings: Settings, *, client_id: str | None = None,
                 timeout: float = 10.0, subscriptions: Sequence[str] = (),
                 on_message: Callable[[str, bytes], None] | None = None) -> None:
        self.settings = settings
        self.timeout = timeout
        self.subscriptions = tuple(subscriptions)  # e.g. network servers' acks
        self.on_message = on_message
        self._answered = threading.Event()   # the broker answered our first CONNECT
        self._subscribed = threading.Event()
        self._connected = threading.Event()  # connected now (paho reconnects by itself)
        self._closing = False
        self._refused: str | None = None
        # MQTT 5: shared subscriptions, so that one dispatcher of several gets each ack.
        # Unique per connection: two dispatchers with one id would take turns kicking each other.
        client_id = client_id or f"{settings.commands_client_id}-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=client_id)
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            self.client.username_pw_set(settings.mqtt_username, password)
        if settings.mqtt_tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()

    def connect(self) -> MqttPublisher:
        host, port = self.settings.mqtt_host, self.settings.mqtt_port
        try:
            self.client.connect(host, port, keepalive=60)
        except OSError as exc:
            raise DeliveryError(f"cannot reach the MQTT broker at {host}:{port}: {exc}") from exc
        self.client.loop_start()
        if not self._answered.wait(self.timeout) or self._refused:
            self.close()
            raise DeliveryError(f"the MQTT broker at {host}:{port} "
                                f"{self._refused or 'did not answer'}")
        if self.subscriptions and not self._subscribed.wait(self.timeout):
            self.close()
            raise DeliveryError(f"the MQTT broker at {host}:{port} did not confirm the "
                                "subscriptions")
        return self

    def publish(self, topic: str, payload: bytes) -> None:
        if not self._connected.is_set():
            raise DeliveryError("not connected to the MQTT broker (reconnecting)")
        info = self.client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"publishing on {topic} failed: {exc}") from exc
        if not info.is_published():
            raise DeliveryError(f"the MQTT broker did not acknowledge the message on {topic} "
                                f"within {self.timeout:g} s")

    def close(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttPublisher:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- paho's thread: never raises ----------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                    properties: Any) -> None:
        if reason_code.is_failure:
            self._refused = f"refused the connection: {reason_code}"
        else:
            if self.subscriptions:  # again after a reconnection: the session was clean
                client.subscribe([(t, mqtt.SubscribeOptions(qos=1)) for t in self.subscriptions])
            self._connected.set()
        self._answered.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        self._connected.clear()
        if not self._closing:
            log.warning("commands: lost the MQTT broker (%s); reconnecting", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self.on_message is None:
            return
        try:
            self.on_message(msg.topic, bytes(msg.payload))
        except Exception:  # a bad message must not take the connection down
            log.exception("commands: failed to read %r on %s", msg.payload[:200], msg.topic)
