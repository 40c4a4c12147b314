"""What an alert is: types, severities, statuses, and the row as the package reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from psycopg import sql


class Severity(StrEnum):
    """Ordered from least to most severe (contract §3)."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    def raised(self, steps: int = 1) -> Severity:
        """This severity `steps` levels higher, at most critical."""
        return _SEVERITY_ORDER[min(self.rank + steps, len(_SEVERITY_ORDER) - 1)]


_SEVERITY_ORDER = list(Severity)


def max_severity(a: Severity, b: Severity) -> Severity:
    return a if a.rank >= b.rank else b


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertType(StrEnum):
    """The types Phare raises itself; analytics may raise others (any `[a-z][a-z0-9_]*`)."""

    WATER_LEAK = "water_leak"
    ENERGY_ANOMALY = "energy_anomaly"
    FIRE = "fire"
    FLOOD = "flood"
    CABINET_FAULT = "cabinet_fault"
    DEVICE_OFFLINE = "device_offline"
    LOW_BATTERY = "low_battery"
    DEVICE_FAULT = "device_fault"  # a sensor opened or pulled off its mounting (tamper)


class TransitionKind(StrEnum):
    OPENED = "opened"
    REOPENED = "reopened"
    SEVERITY_RAISED = "severity_raised"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Device:
    """What the rules and the texts need to know about a device."""

    uid: int
    tenant_id: int
    tenant: str          # slug
    tenant_name: str
    id: str
    kind: str
    name: str
    metadata: dict[str, Any] = field(default_factory=dict)
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One row of `alerts`, with its device's identifiers."""

    id: int
    tenant_id: int
    tenant: str
    device_uid: int
    device_id: str
    type: str
    severity: Severity
    status: Status
    source: str
    conditions: tuple[str, ...]
    message: str
    text_key: str
    params: dict[str, Any]
    opened_at: datetime
    reopened_at: datetime | None
    last_seen_at: datetime
    occurrences: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_comment: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    escalation_level: int
    escalated_at: datetime | None
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status is not Status.RESOLVED

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Alert:
        values = dict(row)
        values["severity"] = Severity(values["severity"])
        values["status"] = Status(values["status"])
        values["conditions"] = tuple(values["conditions"] or ())
        return cls(**values)


ALERT_COLUMNS = sql.SQL(
    "a.id, a.tenant_id, t.slug as tenant, a.device_uid, d.id as device_id, a.type, a.severity, "
    "a.status, a.source, a.conditions, a.message, a.text_key, a.params, a.opened_at, "
    "a.reopened_at, a.last_seen_at, a.occurrences, a.acknowledged_at, a.acknowledged_by, "
    "a.ack_comment, a.resolved_at, a.resolved_by, a.resolution, a.escalation_level, "
    "a.escalated_at, a.updated_at"
)
ALERT_FROM = sql.SQL(
    "alerts a join tenants t on t.id = a.tenant_id join devices d on d.uid = a.device_uid"
)


def iso(instant: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, as the API writes instants."""
    if instant is None:
        return None
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def public(alert: Alert, message: str | None = None) -> dict[str, Any]:
    """The alert as clients see it (API, stream, webhooks): contract §3 fields first."""
    return {
        "id": alert.id, "tenant": alert.tenant, "device_id": alert.device_id,
        "type": alert.type, "severity": alert.severity.value, "status": alert.status.value,
        "opened_at": iso(alert.opened_at), "message": message or alert.message,
        "last_seen_at": iso(alert.last_seen_at), "occurrences": alert.occurrences,
        "reopened_at": iso(alert.reopened_at),
        "acknowledged_at": iso(alert.acknowledged_at), "acknowledged_by": alert.acknowledged_by,
        "ack_comment": alert.ack_comment,
        "resolved_at": iso(alert.resolved_at), "resolved_by": alert.resolved_by,
        "resolution": alert.resolution, "escalation_level": alert.escalation_level,
    }
