"""What devices send and receive (contract §1.2-1.4), shared by simulators and ingest.

A simulator builds these and serialises them with `to_payload`; ingest decodes payloads
back into them, so both sides agree on one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

MetricValue = float | bool


@dataclass(frozen=True, slots=True)
class Reading:
    ts: datetime
    metrics: dict[str, MetricValue]
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ts": format_ts(self.ts), "metrics": self.metrics}
        if self.seq is not None:
            out["seq"] = self.seq
        return out


@dataclass(frozen=True, slots=True)
class Event:
    ts: datetime
    type: str
    active: bool = True
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ts": format_ts(self.ts), "type": self.type, "active": self.active,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Status:
    online: bool
    ts: datetime
    fw: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"online": self.online, "ts": format_ts(self.ts)}
        if self.fw is not None:
            out["fw"] = self.fw
        return out


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    type: str
    params: dict[str, Any]
    ts: datetime
    expires: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "params": self.params,
                               "ts": format_ts(self.ts)}
        if self.expires is not None:
            out["expires"] = format_ts(self.expires)
        return out


@dataclass(frozen=True, slots=True)
class CommandAck:
    id: str
    status: str  # applied | rejected | failed
    ts: datetime
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "ts": format_ts(self.ts),
                "detail": self.detail}


def format_ts(ts: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, millisecond precision."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_payload(items: Reading | Event | Status | Command | CommandAck | list[Any]) -> bytes:
    """The JSON payload of one message, or of a backlog array."""
    if isinstance(items, list):
        return orjson.dumps([i.to_json() for i in items])
    return orjson.dumps(items.to_json())
