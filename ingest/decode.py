"""From an MQTT message to a `Decoded`: size, topic, then the format of the topic's channel.

Runs in the MQTT client's thread: pure computation, no I/O, and it never raises.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from devices.catalogue import NATIVE_TOPIC_RE, Channel
from ingest.formats import native
from ingest.model import Decoded, Reason

log = logging.getLogger(__name__)

# Topics the platform itself publishes under its root: not input, not an error.
OUTBOUND_CHANNELS = frozenset({Channel.CMD})


def decode_message(
    topic: str,
    payload: bytes,
    *,
    max_payload_bytes: int,
    max_future: timedelta,
    now: datetime | None = None,
) -> Decoded | None:
    """Decodes one message; None for the platform's own outbound messages."""
    decoded = Decoded(topic=topic, payload=payload)
    try:
        match = NATIVE_TOPIC_RE.match(topic)
        if match is None:
            decoded.reject(
                Reason.UNKNOWN_TOPIC,
                f"topic '{topic[:200]}' is not phare/v1/{{tenant}}/{{device_id}}/"
                "{telemetry|event|status|cmd/ack|senml}",
            )
            return decoded
        decoded.tenant, decoded.device_id = match["tenant"], match["device"]
        channel = Channel(match["channel"])
        if channel in OUTBOUND_CHANNELS:
            return None
        if len(payload) > max_payload_bytes:
            decoded.reject(
                Reason.PAYLOAD_TOO_LARGE,
                f"payload of {len(payload)} bytes exceeds the limit of {max_payload_bytes} bytes",
            )
            return decoded
        if channel is Channel.SENML:
            decoded.reject(Reason.UNSUPPORTED_FORMAT, "SenML packs are not decoded yet")
            return decoded
        native.decode(decoded, channel, payload, now or datetime.now(UTC), max_future)
    except Exception as exc:  # a decoder bug must cost one message, never the consumer
        log.exception("decoder failed on topic %s", topic[:200])
        decoded.values.clear()
        decoded.events.clear()
        decoded.reject(Reason.INTERNAL_ERROR, f"the decoder failed: {type(exc).__name__}: {exc}")
    return decoded
