"""LoRaWAN network servers' acknowledgements of confirmed downlinks, as command acks.

A LoRaWAN device cannot answer on `cmd/ack`; the network server tells when the device
acknowledged the confirmed downlink that carried the command, naming the command by the id
Phare gave the downlink (`commands/delivery.py`):

- The Things Stack: `v3/{app}[@{tenant}]/devices/{dev}/down/ack` (→ `applied`),
  `…/down/failed` (→ `failed`, the network server gave up), `…/down/nack` (the device did not
  acknowledge: the dispatcher sends it again); the id is in the downlink's `correlation_ids`.
- ChirpStack: `application/{app}/device/{dev_eui}/event/ack`, `acknowledged` true (→
  `applied`) or false (sent again), the id in `queueItemId`.

The dispatcher's MQTT connection subscribes to these topics (a shared subscription: one
dispatcher of several gets each); `parse` runs in paho's thread and never raises.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql

from commands import history
from commands.acks import apply_ack
from commands.delivery import CORRELATION_PREFIX
from devices.messages import CommandAck

log = logging.getLogger(__name__)

SHARE_GROUP = "phare-commands"
TOPICS = ("v3/+/devices/+/down/ack", "v3/+/devices/+/down/nack", "v3/+/devices/+/down/failed",
          "application/+/device/+/event/ack")
SUBSCRIPTIONS = tuple(f"$share/{SHARE_GROUP}/{t}" for t in TOPICS)
_TTS_RE = re.compile(
    r"^v3/[^/@+#]+(?:@[^/+#]+)?/devices/(?P<device>[^/+#]+)/down/(?P<event>ack|nack|failed)$")
_CHIRPSTACK_RE = re.compile(r"^application/[^/+#]+/device/(?P<eui>[0-9A-Fa-f]{16})/event/ack$")
_TTS_OUTCOMES = {"ack": "applied", "failed": "failed", "nack": None}
_TTS_FIELDS = {"ack": "downlink_ack", "nack": "downlink_nack", "failed": "downlink_failed"}


@dataclass(frozen=True, slots=True)
class NetworkAck:
    """What a network server said about the downlink of a command."""

    command_id: uuid.UUID
    column: str        # how the topic names the device: devices.lorawan_id or devices.dev_eui
    device: str
    status: str | None  # applied | failed; None: not acknowledged, to send again
    ts: datetime
    detail: dict[str, Any] = field(default_factory=dict)


def parse(topic: str, payload: bytes, now: datetime) -> NetworkAck | None:
    """The acknowledgement in a message, None when it is none of Phare's commands."""
    try:
        doc = orjson.loads(payload)
        if not isinstance(doc, dict):
            return None
        match = _TTS_RE.match(topic)
        if match is not None:
            return _tts(match, doc, now)
        match = _CHIRPSTACK_RE.match(topic)
        if match is not None:
            return _chirpstack(match, doc, now)
    except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
        log.warning("Invalid network server ack %r on %s: %s", payload[:200], topic, exc)
    return None


def _tts(match: re.Match[str], doc: dict[str, Any], now: datetime) -> NetworkAck | None:
    event = match["event"]
    downlink = doc.get(_TTS_FIELDS[event]) or {}
    if event == "failed":
        error = downlink.get("error") or {}
        downlink = downlink.get("downlink") or {}
    ids = [*(downlink.get("correlation_ids") or []), *(doc.get("correlation_ids") or [])]
    command_id = next((i[len(CORRELATION_PREFIX):] for i in ids
                       if isinstance(i, str) and i.startswith(CORRELATION_PREFIX)), None)
    if command_id is None:
        return None
    detail: dict[str, Any] = {"network_server": "tts", "event": f"down/{event}"}
    if event == "failed":
        detail["error"] = error.get("message_format") or error.get("name") or "unknown"
    return NetworkAck(uuid.UUID(command_id), "lorawan_id", match["device"], _TTS_OUTCOMES[event],
                      _time(doc.get("received_at"), now), detail)


def _chirpstack(match: re.Match[str], doc: dict[str, Any], now: datetime) -> NetworkAck | None:
    item = doc.get("queueItemId")
    if not isinstance(item, str):
        return None
    acknowledged = doc.get("acknowledged") is True
    return NetworkAck(uuid.UUID(item), "dev_eui", match["eui"].upper(),
                      "applied" if acknowledged else None, _time(doc.get("time"), now),
                      {"network_server": "chirpstack", "acknowledged": acknowledged,
                       "f_cnt_down": doc.get("fCntDown")})


def _time(raw: Any, now: datetime) -> datetime:
    if isinstance(raw, str):
        ts = datetime.fromisoformat(raw)
        if ts.tzinfo is not None:
            return ts
    return now


# The command, if the device the topic names is its device.
_COMMAND_OF = {
    column: sql.SQL("select c.device_uid, c.tenant_id, c.attempts from commands c "
                    "join devices d on d.uid = c.device_uid where c.id = %s and {} = %s")
    .format(sql.Identifier("d", column))
    for column in ("lorawan_id", "dev_eui")
}


class Inbox:
    """Acks parsed in paho's thread, waiting for the dispatcher's next run (bounded: a flood
    of them must not grow memory; those lost only cost a resend)."""

    def __init__(self, size: int = 10_000) -> None:
        self._acks: deque[NetworkAck] = deque(maxlen=size)

    def put(self, topic: str, payload: bytes) -> None:
        ack = parse(topic, payload, datetime.now(UTC))
        if ack is not None:
            self._acks.append(ack)

    def drain(self) -> list[NetworkAck]:
        out = []
        while self._acks:
            out.append(self._acks.popleft())
        return out


def apply(conn: psycopg.Connection, acks: Iterable[NetworkAck], now: datetime) -> int:
    """Applies network servers' acks (in one transaction, which it commits); returns how many
    named a command of the device the topic names."""
    applied = 0
    with conn.transaction():
        for ack in acks:
            row = conn.execute(_COMMAND_OF[ack.column], (ack.command_id, ack.device)).fetchone()
            if row is None:
                log.warning("network server ack for command %s of %s: no such command",
                            ack.command_id, ack.device)
                continue
            uid, tenant_id, attempts = row
            applied += 1
            if ack.status is not None:
                apply_ack(conn, device_uid=uid, ack=CommandAck(
                    id=str(ack.command_id), status=ack.status, ts=ack.ts, detail=ack.detail),
                    now=now)
                continue
            # Not acknowledged by the device: the dispatcher sends it again when its wait ends.
            pending = conn.execute(
                "update commands set last_error = %s, updated_at = %s "
                "where id = %s and status = 'sent'",
                ("the device did not acknowledge the downlink", now, ack.command_id))
            if pending.rowcount:
                history.record(conn, [history.Event(ack.command_id, tenant_id, now,
                                                    "delivery_error", "sent", attempts,
                                                    ack.detail)])
    conn.commit()
    return applied
