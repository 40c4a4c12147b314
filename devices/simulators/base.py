"""The simulated device: its registration body, its clock, and the messages it publishes."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from devices.catalogue import KINDS, Channel, topic
from devices.messages import Command, CommandAck, Event, MetricValue, Reading, Status

# Every simulated place is in metropolitan France: schedules follow its legal time.
LOCAL_TZ = ZoneInfo("Europe/Paris")

Payload = Reading | Event | Status | CommandAck | list[Reading] | list[Event]
Message = tuple[Channel, Payload]


class SimDevice:
    """A simulated device; subclasses give its physics (`advance`, `measure`, `events`).

    `step(t)` is called with non-decreasing simulated times. The first call publishes the
    device's status; then time is integrated from the previous call (`advance`) and a
    reading is published whenever one is due. All randomness comes from `self.rng`, seeded
    from the fleet seed and the device's identity, so a seed replays the same fleet.
    """

    kind: ClassVar[str]
    model: ClassVar[str]
    fw: ClassVar[str] = "1.0.0"
    takes_commands: ClassVar[bool] = False  # the runner subscribes to `cmd` for those that do
    interval: timedelta = timedelta(minutes=15)  # between two readings
    substep: timedelta = timedelta(minutes=5)  # integration step of indexes and slow states

    def __init__(self, tenant: str, device_id: str, name: str, *, lat: float, lon: float,
                 seed: int, metadata: dict[str, Any] | None = None) -> None:
        self.tenant = tenant
        self.device_id = device_id
        self.name = name
        self.lat = lat
        self.lon = lon
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.rng = random.Random(f"{seed}/{tenant}/{device_id}")
        self.clock: datetime | None = None  # simulated time of the last step
        self.seq = 0
        self.battery_pct: float | None = None  # None: mains powered
        self.battery_drain_pct_per_day = 0.0
        self.rssi_dbm: float | None = None  # None: wired, no radio level to report
        self._next_report: datetime | None = None
        self._metric_names = KINDS[self.kind].metric_names

    @property
    def spec(self) -> dict[str, Any]:
        """The body that registers this device: `POST /api/v1/devices`."""
        return {"tenant": self.tenant, "id": self.device_id, "kind": self.kind, "name": self.name,
                "location": {"lat": round(self.lat, 6), "lon": round(self.lon, 6)},
                "model": self.model, "metadata": self.metadata}

    def topic(self, channel: Channel) -> str:
        return topic(self.tenant, self.device_id, channel)

    def step(self, t: datetime) -> list[Message]:
        """What the device publishes at simulated time t (aware, not before the last step)."""
        if t.tzinfo is None:
            raise ValueError("simulated time must carry a UTC offset")
        out: list[Message] = []
        if self.clock is None:
            out.append((Channel.STATUS, Status(online=True, ts=t, fw=self.fw)))
            self._next_report = self.first_report(t)
        elif t < self.clock:
            raise ValueError(f"{self.device_id}: time went back from {self.clock} to {t}")
        else:
            hours = (t - self.clock).total_seconds() / 3600
            if self.battery_pct is not None:
                self.battery_pct = max(0.0, self.battery_pct
                                       - self.battery_drain_pct_per_day * hours / 24)
            self.advance(self.clock, t)
        self.clock = t
        if self._next_report is not None and t >= self._next_report:
            out.append((Channel.TELEMETRY, self._reading(t)))
            self._next_report = self.next_report(t)
        out.extend(self.events(t))
        return out

    def handle_command(self, cmd: Command) -> CommandAck:
        """Applies a command from the platform; this kind of device takes none."""
        return self.ack(cmd, "rejected", reason="unsupported",
                        message=f"a {self.kind} takes no commands")

    # --- what subclasses give -----------------------------------------------------------
    def first_report(self, t: datetime) -> datetime | None:
        """When the first reading is due; by default at once."""
        return t

    def next_report(self, t: datetime) -> datetime | None:
        """When the reading after the one published at t is due."""
        return t + self.interval

    def advance(self, a: datetime, b: datetime) -> None:
        """Integrates the device's state (indexes, slow quantities) from a to b."""

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        """The metrics of a reading at t (catalogue names of the device's kind)."""
        raise NotImplementedError

    def events(self, t: datetime) -> list[Message]:
        """Events published at t (each ts at or before t)."""
        return []

    # --- helpers ------------------------------------------------------------------------
    def ack(self, cmd: Command, status: str, **detail: Any) -> CommandAck:
        return CommandAck(id=cmd.id, status=status, ts=self.clock or cmd.ts, detail=detail)

    def common_metrics(self) -> dict[str, MetricValue]:
        """Battery and radio levels, for the devices that have them."""
        out: dict[str, MetricValue] = {}
        if self.battery_pct is not None:
            out["battery_pct"] = round(self.battery_pct, 1)
        if self.rssi_dbm is not None:
            out["rssi_dbm"] = round(self.rssi_dbm + self.rng.gauss(0, 2.5))
            out["snr_db"] = round(min(12.0, (self.rssi_dbm + 120) / 3 + self.rng.gauss(0, 1.5)), 1)
        return out

    def _reading(self, t: datetime) -> Reading:
        metrics = self.measure(t)
        unknown = metrics.keys() - self._metric_names
        if unknown:  # a simulator bug: names come from the catalogue
            raise ValueError(f"{self.kind} has no metric {', '.join(sorted(unknown))}")
        self.seq += 1
        return Reading(ts=t, metrics=metrics, seq=self.seq)


def substeps(a: datetime, b: datetime, max_dt: timedelta) -> Iterator[tuple[datetime, float]]:
    """Splits [a, b] into equal chunks of at most max_dt: (midpoint, length in hours) each."""
    total = (b - a).total_seconds()
    if total <= 0:
        return
    n = max(1, math.ceil(total / max_dt.total_seconds()))
    width = total / n
    for i in range(n):
        yield a + timedelta(seconds=width * (i + 0.5)), width / 3600


def next_local(t: datetime, at: time) -> datetime:
    """The first instant at or after t when the local (French) clock shows `at`, in UTC."""
    day = t.astimezone(LOCAL_TZ).date()
    for offset in range(2):
        candidate = datetime.combine(day + timedelta(days=offset), at, tzinfo=LOCAL_TZ)
        if candidate >= t:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: tomorrow's time is always later")


def local_hour(t: datetime) -> float:
    """Hour of the day on the local (French) clock, with fractions."""
    lt = t.astimezone(LOCAL_TZ)
    return lt.hour + lt.minute / 60 + lt.second / 3600


def parse_ts(value: Any) -> datetime:
    """An RFC 3339 time with an offset, or epoch milliseconds (contract §1.2), in a command."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        ts = datetime.fromisoformat(value)
        if ts.tzinfo is not None:
            return ts
    raise ValueError(f"{value!r} is not an RFC 3339 time with an offset nor epoch milliseconds")
