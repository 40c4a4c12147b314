"""From an MQTT message to what it holds: size, then the format that owns its topic.

Runs in the MQTT client's thread: pure computation, no I/O, and it never raises.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from ingest.formats import chirpstack, native, tts
from ingest.formats._fields import FieldError
from ingest.formats.base import Format
from ingest.model import Decoded, Reason

log = logging.getLogger(__name__)

FORMATS: tuple[Format, ...] = (native.FORMAT, tts.FORMAT, chirpstack.FORMAT)


def subscriptions() -> list[str]:
    """Every topic filter the consumer subscribes to."""
    return [topic for f in FORMATS for topic in f.subscriptions]


def decode_message(
    topic: str,
    payload: bytes,
    *,
    max_payload_bytes: int,
    max_future: timedelta,
    now: datetime | None = None,
) -> list[Decoded]:
    """Decodes one message into what it holds; [] when it is none of ingest's business."""
    try:
        for fmt in FORMATS:
            match = fmt.topic_re.match(topic)
            if match is not None:
                break
        else:
            return [_rejected(topic, payload, Reason.UNKNOWN_TOPIC,
                              f"topic '{topic[:200]}' is not one Phare reads (native "
                              "phare/v1/{tenant}/{device_id}/{telemetry|event|status|cmd/ack|senml}"
                              ", The Things Stack v3 or ChirpStack v4 uplinks)")]
        if len(payload) > max_payload_bytes:
            return [_rejected(topic, payload, Reason.PAYLOAD_TOO_LARGE,
                              f"payload of {len(payload)} bytes exceeds the limit of "
                              f"{max_payload_bytes} bytes", match.groupdict())]
        return fmt.decode(match, payload, now or datetime.now(UTC), max_future)
    except FieldError as exc:
        return [_rejected(topic, payload, exc.reason, str(exc))]
    except Exception as exc:  # a decoder bug must cost one message, never the consumer
        log.exception("decoder failed on topic %s", topic[:200])
        return [_rejected(topic, payload, Reason.INTERNAL_ERROR,
                          f"the decoder failed: {type(exc).__name__}: {exc}")]


def _rejected(topic: str, payload: bytes, reason: Reason, detail: str,
              groups: dict[str, str] | None = None) -> Decoded:
    groups = groups or {}
    decoded = Decoded(topic=topic, payload=payload, tenant=groups.get("tenant"),
                      device_id=groups.get("device"))
    decoded.reject(reason, detail)
    return decoded
