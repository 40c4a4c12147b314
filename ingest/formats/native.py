"""Phare's native JSON format (contract §1.1-1.4): telemetry, events, status, command acks."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import orjson

from devices.catalogue import NATIVE_TOPIC_RE, TENANT_PATTERN, TOPIC_ROOT, Channel
from devices.messages import CommandAck, Event, Status
from ingest.formats import senml
from ingest.formats._fields import MAX_FUTURE, FieldError, _short, loads, parse_ts, parse_value
from ingest.formats.base import Format
from ingest.model import Decoded, Reason

# Topics the platform itself publishes under its root: not input, not an error.
OUTBOUND_CHANNELS = frozenset({Channel.CMD})
# Tenant-level topics the platform publishes: alert notifications, `phare/v1/{tenant}/alerts`
# (alerts/notify/mqtt.py). Matched here so that they are ignored, not rejected as unknown.
OUTBOUND_TENANT_CHANNELS = ("alerts",)
TOPIC_RE = re.compile(
    rf"{NATIVE_TOPIC_RE.pattern}|^{re.escape(TOPIC_ROOT)}/(?P<outbound_tenant>{TENANT_PATTERN})"
    rf"/(?:{'|'.join(OUTBOUND_TENANT_CHANNELS)})$"
)
ACK_STATUSES = ("applied", "rejected", "failed")
_TEXT_RE = re.compile(r"^[^\x00-\x1f]{1,64}$")
_CHANNELS = {c.value: c for c in Channel}  # a dict lookup: Channel(value) costs ten times more


def decode(match: re.Match[str], payload: bytes, now: datetime,
           max_future: timedelta = MAX_FUTURE) -> list[Decoded]:
    """Decodes a message on a native topic; [] for the platform's own outbound messages."""
    if match["channel"] is None:  # a tenant-level outbound topic (OUTBOUND_TENANT_CHANNELS)
        return []
    channel = _CHANNELS[match["channel"]]
    if channel in OUTBOUND_CHANNELS:
        return []
    if channel is Channel.STATUS and not payload:
        return []  # an empty retained message clears the retained status (MQTT convention)
    decoded = Decoded(topic=match.string, payload=payload, tenant=match["tenant"],
                      device_id=match["device"])
    if channel is Channel.SENML:
        senml.decode(decoded, payload, now, max_future)
    else:
        _decode_json(decoded, channel, payload, now, max_future)
    return [decoded]


def _decode_json(decoded: Decoded, channel: Channel, payload: bytes, now: datetime,
                 max_future: timedelta) -> None:
    try:
        doc = loads(payload)
    except FieldError as exc:
        decoded.reject(exc.reason, str(exc))
        return
    one = _HANDLERS[channel]
    if isinstance(doc, dict):  # one object, as most messages are
        try:
            one(decoded, doc, now, max_future, "")
        except FieldError as exc:
            decoded.reject(exc.reason, str(exc))
        return
    items = doc if isinstance(doc, list) else [doc]
    for index, item in enumerate(items):
        where = f"item {index}: " if isinstance(doc, list) else ""
        if not isinstance(item, dict):
            decoded.reject(_NOT_OBJECT[channel], f"{where}expected a JSON object, got {_short(item)}")
            continue
        try:
            one(decoded, item, now, max_future, where)
        except FieldError as exc:
            decoded.reject(exc.reason, f"{where}{exc}")


def _reading(decoded: Decoded, item: dict[str, Any], now: datetime, max_future: timedelta,
             where: str) -> None:
    ts = parse_ts(item.get("ts"), now, max_future)
    seq = item.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise FieldError(Reason.INVALID_READING, f"'seq' must be a non-negative integer, got {_short(seq)}")
    metrics = item.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise FieldError(Reason.INVALID_READING, "'metrics' must be a non-empty object")
    for name, raw in metrics.items():
        try:
            decoded.values.append((ts, name, parse_value(name, raw)))
        except FieldError as exc:
            decoded.reject(exc.reason, f"{where}{exc}")


def _event(decoded: Decoded, item: dict[str, Any], now: datetime, max_future: timedelta,
           where: str) -> None:
    ts = parse_ts(item.get("ts"), now, max_future)
    kind = item.get("type")
    if not isinstance(kind, str) or not _TEXT_RE.match(kind):
        raise FieldError(Reason.INVALID_EVENT, f"'type' must be a short text, got {_short(kind)}")
    active = item.get("active", True)
    if not isinstance(active, bool):
        raise FieldError(Reason.INVALID_EVENT, f"'active' must be true or false, got {_short(active)}")
    detail = item.get("detail", {})
    if not isinstance(detail, dict):
        raise FieldError(Reason.INVALID_EVENT, f"'detail' must be an object, got {_short(detail)}")
    _check_storable_json(detail, "detail", Reason.INVALID_EVENT)
    decoded.events.append(Event(ts=ts, type=kind, active=active, detail=detail))


def _status(decoded: Decoded, item: dict[str, Any], now: datetime, max_future: timedelta,
            where: str) -> None:
    online = item.get("online")
    if not isinstance(online, bool):
        raise FieldError(Reason.INVALID_STATUS, f"'online' must be true or false, got {_short(online)}")
    # A last will is written once, long before it is sent: its `ts` may be old or absent.
    ts = parse_ts(item["ts"], now, max_future) if item.get("ts") is not None else now
    fw = item.get("fw")
    if fw is not None and (not isinstance(fw, str) or not _TEXT_RE.match(fw)):
        raise FieldError(Reason.INVALID_STATUS, f"'fw' must be a short text, got {_short(fw)}")
    decoded.status = Status(online=online, ts=ts, fw=fw)


def _ack(decoded: Decoded, item: dict[str, Any], now: datetime, max_future: timedelta,
         where: str) -> None:
    cid = item.get("id")
    if not isinstance(cid, str) or not _TEXT_RE.match(cid):
        raise FieldError(Reason.INVALID_ACK, f"'id' must be the command's id, got {_short(cid)}")
    status = item.get("status")
    if status not in ACK_STATUSES:
        raise FieldError(
            Reason.INVALID_ACK, f"'status' must be one of {', '.join(ACK_STATUSES)}, got {_short(status)}"
        )
    ts = parse_ts(item.get("ts"), now, max_future)
    detail = item.get("detail", {})
    if not isinstance(detail, dict):
        raise FieldError(Reason.INVALID_ACK, f"'detail' must be an object, got {_short(detail)}")
    _check_storable_json(detail, "detail", Reason.INVALID_ACK)
    decoded.acks.append(CommandAck(id=cid, status=status, ts=ts, detail=detail))


def _check_storable_json(value: Any, name: str, reason: Reason) -> None:
    """PostgreSQL's jsonb cannot hold NUL characters or NaN: refuse them here, not at COPY."""
    try:
        text = orjson.dumps(value)  # NaN/Infinity markers from the lenient parser raise here
    except (TypeError, orjson.JSONEncodeError):
        raise FieldError(reason, f"'{name}' holds a non-finite number") from None
    if b"\\u0000" in text:
        raise FieldError(reason, f"'{name}' holds a NUL character")


_HANDLERS = {
    Channel.TELEMETRY: _reading,
    Channel.EVENT: _event,
    Channel.STATUS: _status,
    Channel.CMD_ACK: _ack,
}
_NOT_OBJECT = {
    Channel.TELEMETRY: Reason.INVALID_READING,
    Channel.EVENT: Reason.INVALID_EVENT,
    Channel.STATUS: Reason.INVALID_STATUS,
    Channel.CMD_ACK: Reason.INVALID_ACK,
}

FORMAT = Format(
    name="native",
    subscriptions=(f"{TOPIC_ROOT}/#",),
    topic_re=TOPIC_RE,
    decode=decode,
)
