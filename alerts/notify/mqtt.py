"""MQTT deliveries: alert notifications on `phare/v1/{tenant}/alerts`, QoS 1.

Ingest subscribes to `phare/v1/#` and ignores this topic (ingest/formats/native.py,
OUTBOUND_TENANT_CHANNELS), so alerts published here are never stored or rejected as input.
"""

from __future__ import annotations

import logging
import threading
import uuid

import paho.mqtt.client as mqtt

from alerts.errors import DeliveryError
from devices.catalogue import TOPIC_ROOT
from phare.settings import Settings

log = logging.getLogger(__name__)

ALERTS_CHANNEL = "alerts"


def alerts_topic(tenant: str) -> str:
    """The topic of a tenant's alert notifications."""
    return f"{TOPIC_ROOT}/{tenant}/{ALERTS_CHANNEL}"


class Publisher:
    """One MQTT connection, opened on first use and kept; publishes at QoS 1 and waits for
    the broker's PUBACK."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()

    def _connect(self, timeout: float) -> mqtt.Client:
        if self._client is not None:
            return self._client
        s = self.settings
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"phare-alerts-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        if s.mqtt_username:
            password = s.mqtt_password.get_secret_value() if s.mqtt_password else None
            client.username_pw_set(s.mqtt_username, password)
        if s.mqtt_tls:
            client.tls_set()
        client.on_connect = lambda c, u, f, rc, p: self._connected.set() if not rc.is_failure else None
        client.on_disconnect = lambda c, u, f, rc, p: self._connected.clear()
        try:
            client.connect(s.mqtt_host, s.mqtt_port, keepalive=30)
        except OSError as exc:
            raise DeliveryError(f"cannot reach the broker {s.mqtt_url}: {exc}") from exc
        client.loop_start()
        self._client = client
        return client

    def publish(self, topic: str, payload: bytes, *, timeout: float) -> None:
        """Publishes at QoS 1; raises DeliveryError unless the broker acknowledged it in time."""
        with self._lock:
            client = self._connect(timeout)
        if not self._connected.wait(timeout):
            raise DeliveryError(f"not connected to the broker {self.settings.mqtt_url}")
        info = client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"MQTT publish to {topic} failed: {exc}") from exc
        if not info.is_published():
            raise DeliveryError(f"the broker did not acknowledge {topic} within {timeout:g} s")

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.disconnect()
                self._client.loop_stop()
                self._client = None
