"""What decoding a message produces, before it is matched to a registered device."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from devices.messages import CommandAck, Event, Status


class Reason(StrEnum):
    """Stable codes of why a message (or part of it) was not stored."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_JSON = "invalid_json"
    UNKNOWN_TOPIC = "unknown_topic"
    UNSUPPORTED_FORMAT = "unsupported_format"
    INVALID_READING = "invalid_reading"
    MISSING_TS = "missing_ts"
    INVALID_TS = "invalid_ts"
    FUTURE_TS = "future_ts"
    INVALID_VALUE = "invalid_value"
    INVALID_METRIC_NAME = "invalid_metric_name"
    INVALID_EVENT = "invalid_event"
    INVALID_STATUS = "invalid_status"
    INVALID_ACK = "invalid_ack"
    UNKNOWN_DEVICE = "unknown_device"
    NOT_DECODED = "not_decoded"
    STORAGE_ERROR = "storage_error"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str  # for a person: what was wrong, and where


@dataclass(frozen=True, slots=True)
class Uplink:
    """A LoRaWAN uplink as a network server hands it over, before the device is known.

    `fields` are the network server's decoded values (TTS `decoded_payload`, ChirpStack
    `object`), or None when only the raw `frm_payload` came: then the device model's codec
    decodes it once the device (and so its model) is resolved.
    """

    ts: datetime
    f_port: int | None
    fields: dict[str, Any] | None
    frm_payload: bytes | None


@dataclass(slots=True)
class Decoded:
    """One message (or one device's part of it), decoded: what can be stored, what was rejected.

    A native message names its device by (tenant, device_id) in the topic; a LoRaWAN uplink
    by DevEUI and the network server's device id, resolved by the writer.
    """

    topic: str
    payload: bytes
    tenant: str | None = None
    device_id: str | None = None
    dev_eui: str | None = None        # upper-case hex
    ns_device_id: str | None = None   # the network server's device id
    uplinks: list[Uplink] = field(default_factory=list)
    values: list[tuple[datetime, str, float]] = field(default_factory=list)  # (ts, metric, value)
    events: list[Event] = field(default_factory=list)
    status: Status | None = None
    acks: list[CommandAck] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def reject(self, reason: Reason, detail: str) -> None:
        self.rejections.append(Rejection(reason, detail))

    @property
    def has_data(self) -> bool:
        return bool(self.values or self.events or self.status or self.acks or self.uplinks)
