"""The simulated device: its registration body, clock, faults, outages and what it publishes."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from devices.catalogue import KINDS, Channel, topic
from devices.messages import Command, CommandAck, Event, MetricValue, Reading, Status

# Every simulated place is in metropolitan France: schedules follow its legal time.
LOCAL_TZ = ZoneInfo("Europe/Paris")

Payload = Reading | Event | Status | CommandAck | list[Reading] | list[Event]
Message = tuple[Channel, Payload]

# The broker publishes a client's last will once it missed 1.5 keepalives (60 s).
LWT_DELAY = timedelta(seconds=90)
# Readings a device keeps while it cannot publish; the oldest are lost beyond (a week of
# 10-minute readings).
BACKLOG_MAX = 1000
# Readings per backlog message: ~45 KB for a cabinet's, well under ingest's 256 KiB limit.
BACKLOG_CHUNK = 100
OUTAGE_FAULTS = ("offline", "power_loss")


@dataclass(frozen=True, slots=True)
class Fault:
    """Something wrong with a device from `start` to `end` (None: not repaired in the run)."""

    type: str
    start: datetime
    end: datetime | None
    params: dict[str, Any] = field(default_factory=dict)

    def active(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass(slots=True)
class _Outage:
    """A period the device cannot publish: `offline` (radio, network: it keeps measuring and
    sends its backlog afterwards) or `power_loss` (it measures nothing)."""

    start: datetime
    end: datetime | None
    kind: str
    off_sent: bool = False
    on_sent: bool = False

    def covers(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


class SimDevice:
    """A simulated device; subclasses give its physics (`advance`, `measure`, `events`).

    `step(t)` is called with non-decreasing simulated times. The first call publishes the
    device's status. Each call then takes every reading due since the previous call at its
    own time (state integrated up to it by `advance`), so readings are `interval` apart
    whatever the runner's step. Faults change the physics; outages hold messages back
    (a backlog sent as an array when the device is back) or silence it. All randomness comes
    from `self.rng`, seeded from the fleet seed and the device's identity.
    """

    kind: ClassVar[str]
    model: ClassVar[str]
    fw: ClassVar[str] = "1.0.0"
    takes_commands: ClassVar[bool] = False  # the runner subscribes to `cmd` for those that do
    fault_types: ClassVar[frozenset[str]] = frozenset({"offline"})
    # Faults that the device itself reports: fault type -> event type (active at the fault's
    # start, inactive at its end).
    edge_events: ClassVar[dict[str, str]] = {}
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
        self.faults: list[Fault] = []
        self._outages: list[_Outage] = []
        self._scheduled: list[Event] = []  # events due at their own times, sorted
        self._emitted: list[Event] = []  # events raised by the physics during this step
        self._live: list[Reading] = []
        self._backlog: list[Reading] = []
        self._backlog_events: list[Event] = []
        self._at: datetime | None = None  # how far the state is integrated
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

    # --- faults ---------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        """Injects a fault; the device's physics and events follow it."""
        if fault.type not in self.fault_types:
            raise ValueError(f"a {self.kind} cannot have a {fault.type!r} fault "
                             f"(it takes {', '.join(sorted(self.fault_types))})")
        if fault.end is not None and fault.end <= fault.start:
            raise ValueError(f"{fault.type} on {self.device_id} ends before it starts")
        if fault.type in OUTAGE_FAULTS:
            if any(o.start < (fault.end or datetime.max.replace(tzinfo=UTC))
                   and (o.end is None or fault.start < o.end) for o in self._outages):
                raise ValueError(f"{fault.type} on {self.device_id} overlaps another outage")
            self._outages.append(_Outage(fault.start, fault.end, fault.type))
            self._outages.sort(key=lambda o: o.start)
        self.faults.append(fault)
        event_type = self.edge_events.get(fault.type)
        if event_type is not None:
            self.schedule(Event(ts=fault.start, type=event_type, active=True, detail=fault.params))
            if fault.end is not None:
                self.schedule(Event(ts=fault.end, type=event_type, active=False,
                                    detail=fault.params))

    def fault(self, kind: str, t: datetime) -> Fault | None:
        """The fault of that type active at t, if any."""
        for f in self.faults:
            if f.type == kind and f.active(t):
                return f
        return None

    def faults_of(self, kind: str, t: datetime) -> list[Fault]:
        return [f for f in self.faults if f.type == kind and f.active(t)]

    def schedule(self, event: Event) -> None:
        """An event published when the simulated clock reaches its time."""
        self._scheduled.append(event)
        self._scheduled.sort(key=lambda e: e.ts)

    def emit(self, event: Event) -> None:
        """An event raised by the physics (while advancing or measuring), at or before now."""
        self._emitted.append(event)

    def silent(self, t: datetime) -> bool:
        """Whether the device is without power at t (it measures nothing)."""
        return any(o.kind == "power_loss" and o.covers(t) for o in self._outages)

    def prepare(self, start: datetime, end: datetime) -> None:
        """Called once before a run over [start, end]: precompute what depends on the period."""

    # --- the clock ------------------------------------------------------------------------
    def step(self, t: datetime) -> list[Message]:
        """What the device publishes at simulated time t (aware, not before the last step)."""
        if t.tzinfo is None:
            raise ValueError("simulated time must carry a UTC offset")
        out: list[Message] = []
        if self.clock is None:
            out.append((Channel.STATUS, Status(online=True, ts=t, fw=self.fw)))
            self._at = t
            self._next_report = self.first_report(t)
        elif t < self.clock:
            raise ValueError(f"{self.device_id}: time went back from {self.clock} to {t}")
        previous = self.clock
        while self._next_report is not None and self._next_report <= t:
            due = self._next_report
            self._advance_to(due)
            if not self.silent(due):
                self._take_reading(due)
            self._next_report = self.next_report(due)
        self._advance_to(t)
        self.clock = t
        events = self._emitted + self.events(t)
        self._emitted = []
        while self._scheduled and self._scheduled[0].ts <= t:
            events.append(self._scheduled.pop(0))
        events.sort(key=lambda e: e.ts)
        out.extend(self._publish(previous, t, events))
        return out

    def _advance_to(self, b: datetime) -> None:
        a = self._at
        if a is None or b <= a:
            return
        if self.battery_pct is not None:
            days = (b - a).total_seconds() / 86400
            self.battery_pct = max(0.0, self.battery_pct - self.battery_drain_pct_per_day * days)
        self.advance(a, b)
        self._at = b

    def _take_reading(self, ts: datetime) -> None:
        metrics = self.measure(ts)
        unknown = metrics.keys() - self._metric_names
        if unknown:  # a simulator bug: names come from the catalogue
            raise ValueError(f"{self.kind} has no metric {', '.join(sorted(unknown))}")
        self.seq += 1
        reading = Reading(ts=ts, metrics=metrics, seq=self.seq)
        if self._held(ts):
            self._backlog.append(reading)
            del self._backlog[:-BACKLOG_MAX]  # a full memory drops the oldest
        else:
            self._live.append(reading)

    def _held(self, ts: datetime) -> bool:
        """Whether a message of time ts waits for the end of an outage."""
        return any(o.covers(ts) for o in self._outages)

    def _publish(self, previous: datetime | None, t: datetime,
                 events: list[Event]) -> list[Message]:
        """This step's messages in time order: statuses of outages that began or ended,
        live readings and events, and the backlog when the device comes back (right after
        its status, before what it measures from then on)."""
        items: list[tuple[datetime, int, Message]] = []
        live_events = []
        for e in events:
            dying_gasp = any(o.kind == "power_loss" and o.start == e.ts for o in self._outages)
            if self._held(e.ts) and not dying_gasp:
                self._backlog_events.append(e)
            else:
                live_events.append(e)
        if live_events:
            payload: Payload = live_events[0] if len(live_events) == 1 else live_events
            items.append((live_events[0].ts, 3, (Channel.EVENT, payload)))
        items.extend((r.ts, 3, (Channel.TELEMETRY, r)) for r in self._live)
        self._live = []
        for o in self._outages:
            off_at = o.start + LWT_DELAY
            if not o.off_sent and off_at <= t and (o.end is None or off_at < o.end):
                o.off_sent = True
                items.append((off_at, 0, (Channel.STATUS, Status(online=False, ts=off_at))))
            if not o.on_sent and o.end is not None and o.end <= t:
                o.on_sent = True
                items.append((o.end, 0, (Channel.STATUS,
                                         Status(online=True, ts=o.end, fw=self.fw))))
                items.extend((o.end, 1, (Channel.TELEMETRY, chunk))
                             for chunk in _chunks(self._backlog, BACKLOG_CHUNK))
                self._backlog = []
                if self._backlog_events:
                    items.append((o.end, 2, (Channel.EVENT, self._backlog_events)))
                    self._backlog_events = []
        items.sort(key=lambda item: (item[0], item[1]))
        return [message for _, _, message in items]

    def handle_command(self, cmd: Command) -> CommandAck:
        """Applies a command from the platform; this kind of device takes none."""
        return self.ack(cmd, "rejected", reason="unsupported",
                        message=f"a {self.kind} takes no commands")

    # --- what subclasses give -----------------------------------------------------------
    def first_report(self, t: datetime) -> datetime | None:
        """When the first reading is due; by default at once."""
        return t

    def next_report(self, t: datetime) -> datetime | None:
        """When the reading after the one taken at t is due."""
        return t + self.interval

    def advance(self, a: datetime, b: datetime) -> None:
        """Integrates the device's state (indexes, slow quantities) from a to b."""

    def measure(self, t: datetime) -> dict[str, MetricValue]:
        """The metrics of a reading at t (catalogue names of the device's kind)."""
        raise NotImplementedError

    def events(self, t: datetime) -> list[Event]:
        """Recurring events published at t (each ts at or before t)."""
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


def _chunks(items: list[Reading], size: int) -> Iterator[Payload]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


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


# Offset of the local clock from UTC (s) by UTC hour: clocks change on the hour, and
# `astimezone` is the simulators' hottest call.
_OFFSETS: dict[int, float] = {}


def _local_seconds(t: datetime) -> float:
    """Seconds since 1970-01-01 on the local (French) clock."""
    ts = t.timestamp()
    hour = int(ts // 3600)
    offset = _OFFSETS.get(hour)
    if offset is None:
        delta = t.astimezone(LOCAL_TZ).utcoffset()
        offset = _OFFSETS[hour] = delta.total_seconds() if delta is not None else 0.0
    return ts + offset


def local_hour(t: datetime) -> float:
    """Hour of the day on the local (French) clock, with fractions."""
    return _local_seconds(t) % 86400 / 3600


def local_day(t: datetime) -> int:
    """The local (French) day of t, as days since 1970-01-01 (a Thursday)."""
    return int(_local_seconds(t) // 86400)


def local_weekday(t: datetime) -> int:
    """Day of the week on the local (French) clock, Monday 0."""
    return (local_day(t) + 3) % 7


def parse_ts(value: Any) -> datetime:
    """An RFC 3339 time with an offset, or epoch milliseconds (contract §1.2), in a command."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        ts = datetime.fromisoformat(value)
        if ts.tzinfo is not None:
            return ts
    raise ValueError(f"{value!r} is not an RFC 3339 time with an offset nor epoch milliseconds")
