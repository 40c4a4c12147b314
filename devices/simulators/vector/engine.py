"""The vectorised engine: a prepared simulation's run as batches of ready-to-publish native
messages, one batch per step of the runner's timeline, without stepping device objects.

Each family computes its readings as arrays (`lighting`, `water`, `building`, `hazard`);
this module applies what every device shares — outages (`offline`: readings and events
held, sent as a backlog when the device is back; `power_loss`: silent), sequence numbers,
statuses, scheduled events (fault edges, leak alarms, wet low points) — and writes the
payloads with `rows`. Devices whose run needs more (a fire's minute-by-minute readings, a
gauge reaching a threshold) are stepped by the object simulator, in the same batches.
Telemetry only: commands are not obeyed (use the object simulator for that).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from devices.catalogue import TOPIC_ROOT, Channel, topic
from devices.messages import Event, Reading, Status, format_ts, to_payload

from ..base import BACKLOG_CHUNK, BACKLOG_MAX, LWT_DELAY, SimDevice, _Outage
from ..building import BuildingMeter
from ..hazard import HazardDetector
from ..lighting import LightingCabinet
from ..simulate import Simulation
from ..territory import Room
from ..water import AcousticLeakSensor, WaterFlowMeter
from . import building, hazard, lighting, water
from .clock import Array, to_datetime
from .frame import BOOL, Context, Readings
from .rows import Rows


@dataclass
class Batch:
    """The messages of one step: publish in order; statuses are retained."""

    at: datetime  # the step's simulated time
    topics: list[str] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    retained: list[bool] = field(default_factory=list)
    values: int = 0  # metric values in its readings
    kinds: Counter[str] = field(default_factory=Counter)  # device kind → messages
    channels: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.payloads)


@dataclass
class _Message:
    window: int
    order: int  # within a window: statuses, backlogs, events, readings
    device: SimDevice
    channel: Channel
    payload: bytes
    values: int = 0


def batches(sim: Simulation, start: datetime, end: datetime, step: timedelta, *,
            part: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
    """The run from start to end (inclusive) at the runner's step, one batch a step.

    `part=(i, n)`: only the devices of every n-th tenant from the i-th (a tenant's devices
    share buildings and mains), for n processes to share a territory. The few devices
    stepped as objects move on as they do in `runner.run`: a simulation runs once.
    """
    if step <= timedelta(0) or end < start:
        raise ValueError("the period must run forwards (start <= end) with a positive step")
    ctx = Context(start.timestamp(), end.timestamp(), sim.territory.seed, sim.territory.weather)
    step_s = step.total_seconds()
    steps = int((end - start) // step) + 1
    devices = _part(sim.devices, *part)
    stepped = [d for d in devices if isinstance(d, HazardDetector) and hazard.needs_objects(d, ctx)]
    objects = {id(d) for d in stepped}
    vector = [d for d in devices if id(d) not in objects]

    by_class: dict[type, list[SimDevice]] = {}
    for d in vector:
        by_class.setdefault(type(d), []).append(d)

    def of(cls: type) -> list:  # type: ignore[type-arg]
        return [d for kind, ds in by_class.items() if issubclass(kind, cls) for d in ds]

    buildings, indoor = building.meters(of(BuildingMeter), ctx)
    groups = [*lighting.readings(of(LightingCabinet), ctx), *water.meters(of(WaterFlowMeter), ctx),
              *water.loggers(of(AcousticLeakSensor), ctx), *buildings,
              *hazard.detectors(of(HazardDetector), ctx, indoor)]
    telemetry = _Telemetry(ctx, step_s, steps)
    for g in groups:
        telemetry.add(g)
    extra: list[_Message] = []
    events: dict[int, list[Event]] = {id(d): [e for e in d._scheduled if e.ts <= end]
                                      for d in vector if d._scheduled}
    for detector, e in hazard.events(of(HazardDetector), ctx, step_s):
        events.setdefault(id(detector), []).append(e)
    for d in vector:
        if d._outages or id(d) in events:
            extra.extend(_device_messages(d, events.get(id(d), []), ctx, step_s, steps, telemetry))
    extra.sort(key=lambda m: (m.window, m.order))
    by_window: dict[int, list[_Message]] = {}
    for m in extra:
        by_window.setdefault(m.window, []).append(m)
    for k in range(steps):
        t = start + k * step
        batch = Batch(t)
        if k == 0:  # every device says it is online: one retained status each
            status = Channel.STATUS.value
            batch.topics = [f"{TOPIC_ROOT}/{d.tenant}/{d.device_id}/{status}" for d in vector]
            batch.payloads = [_online(ctx.start, d.fw) for d in vector]
            batch.retained = [True] * len(vector)
            batch.kinds.update(d.kind for d in vector)
            batch.channels[Channel.STATUS] += len(vector)
        for m in by_window.get(k, ()):
            _append(batch, m.device, m.channel, m.payload, m.values)
        if k:
            _rooms(stepped, indoor, ctx, (t - step).timestamp())
        for d in stepped:
            for channel, item in d.step(t):
                payload = to_payload(item)
                _append(batch, d, channel, payload, _values(item) if channel is Channel.TELEMETRY else 0)
        telemetry.fill(batch, k)
        yield batch


def _rooms(stepped: list[HazardDetector], indoor: dict[int, Array], ctx: Context,
           at: float) -> None:
    """Stepped detectors read their building's meter, which the engine does not step: it is
    given the indoor temperature the arrays computed, as of the previous step (the object
    simulator steps meters after detectors)."""
    for d in stepped:
        room = d._room_c
        if isinstance(room, Room) and id(room.meter) in indoor:
            series = indoor[id(room.meter)]
            times = ctx.start + BuildingMeter.interval.total_seconds() * np.arange(series.size)
            room.meter.indoor_c = float(np.interp(at, times, series))


def _part(devices: list[SimDevice], index: int, count: int) -> list[SimDevice]:
    if not 0 <= index < count:
        raise ValueError(f"part {index} of {count} does not exist")
    if count == 1:
        return devices
    tenants: dict[str, int] = {}
    for d in devices:
        tenants.setdefault(d.tenant, len(tenants))
    return [d for d in devices if tenants[d.tenant] % count == index]


_TOPICS: dict[tuple[str, str, Channel], str] = {}


def _topic(device: SimDevice, channel: Channel) -> str:
    key = (device.tenant, device.device_id, channel)
    text = _TOPICS.get(key)
    if text is None:
        if len(_TOPICS) > 500_000:
            _TOPICS.clear()
        text = _TOPICS[key] = topic(device.tenant, device.device_id, channel)
    return text


def _append(batch: Batch, device: SimDevice, channel: Channel, payload: bytes, values: int) -> None:
    batch.topics.append(_topic(device, channel))
    batch.payloads.append(payload)
    batch.retained.append(channel is Channel.STATUS)
    batch.values += values
    batch.kinds[device.kind] += 1
    batch.channels[channel] += 1


def _values(item: object) -> int:
    items = item if isinstance(item, list) else [item]
    return sum(len(r.metrics) for r in items if isinstance(r, Reading))


def _window(ts: npt.ArrayLike, ctx: Context, step_s: float) -> Array:
    """The runner's step that publishes a message of time ts: the first at or after it."""
    w = np.ceil((np.asarray(ts, dtype=np.float64) - ctx.start) / step_s - 1e-9)
    return np.maximum(0, w).astype(np.int64)


class _Telemetry:
    """Live readings of every group, in the order of the step that publishes them, and the
    readings held during outages (sent as backlogs by `_device_messages`)."""

    def __init__(self, ctx: Context, step_s: float, steps: int) -> None:
        self.ctx = ctx
        self.step_s = step_s
        self.steps = steps
        # A group each: its readings' topics and payloads by step, where each step starts.
        self.groups: list[tuple[list[str], list[bytes], Array, str, int]] = []
        # device id → its held readings: (ts, reading object, metric values)
        self.held: dict[int, list[tuple[float, bytes, int]]] = {}

    def add(self, r: Readings) -> None:
        taken = r.due.copy()
        held = np.zeros_like(taken)
        for i, d in enumerate(r.devices):
            for o in d._outages:
                covers = _covers(o, r.ts[i])
                if o.kind == "power_loss":
                    taken[i] &= ~covers  # no power: no reading at all
                held[i] |= covers
        seq = np.cumsum(taken, axis=1)
        order = taken.T  # time-major: every device's first reading, then every second …
        cols, rows = np.nonzero(order)
        ts = r.ts.T[order]
        lines = _render(r, order, ts, seq.T[order])
        is_held = held[rows, cols]
        for j in np.nonzero(is_held)[0]:
            self.held.setdefault(id(r.devices[rows[j]]), []).append(
                (float(ts[j]), lines[j], len(r.metrics)))
        live = np.nonzero(~is_held)[0]
        windows = _window(ts[live], self.ctx, self.step_s)
        if windows.size and (np.diff(windows) < 0).any():  # loggers report at their own times
            by_step = np.argsort(windows, kind="stable")
            live, windows = live[by_step], windows[by_step]
        telemetry = Channel.TELEMETRY.value
        table = np.array([f"{TOPIC_ROOT}/{d.tenant}/{d.device_id}/{telemetry}" for d in r.devices],
                         dtype=object)
        topics = table[rows[live]].tolist()
        payloads = lines if live.size == len(lines) and not is_held.any() and \
            (live == np.arange(live.size)).all() else [lines[j] for j in live.tolist()]
        bounds = np.searchsorted(windows, np.arange(self.steps + 1))
        kind = r.devices[0].kind if r.devices else ""
        self.groups.append((topics, payloads, bounds, kind, len(r.metrics)))

    def fill(self, batch: Batch, k: int) -> None:
        """Appends the live readings published at step k."""
        for topics, payloads, bounds, kind, metrics in self.groups:
            lo, hi = int(bounds[k]), int(bounds[k + 1])
            if hi > lo:
                batch.topics.extend(topics[lo:hi])
                batch.payloads.extend(payloads[lo:hi])
                batch.retained.extend([False] * (hi - lo))
                batch.kinds[kind] += hi - lo
                batch.values += (hi - lo) * metrics
                batch.channels[Channel.TELEMETRY] += hi - lo


def _covers(o: _Outage, ts: Array) -> Array:
    on = ts >= o.start.timestamp()
    if o.end is not None:
        on &= ts < o.end.timestamp()
    return on


def _render(r: Readings, order: Array, ts: Array, seq: Array) -> list[bytes]:
    """The reading objects `{"ts", "seq", "metrics"}` (contract §1.2), one `bytes` each, of
    the readings where `order` (times × devices) is True."""
    unique, index = np.unique(ts, return_inverse=True)
    stamps = [f'"{format_ts(to_datetime(float(x)))}"' for x in unique]
    out = Rows(ts.size).literal('{"ts":').choice(index, stamps).literal(',"seq":').number(seq)
    out.literal(',"metrics":{')
    for j, (name, (values, decimals)) in enumerate(r.metrics.items()):
        out.literal(("," if j else "") + f'"{name}":')
        picked = values.T[order]
        if decimals == BOOL:
            out.boolean(picked)
        else:
            out.number(picked, decimals)
    out.literal("}}")
    return out.lines()


def _device_messages(d: SimDevice, events: list[Event], ctx: Context, step_s: float, steps: int,
                     telemetry: _Telemetry) -> list[_Message]:
    """A device's statuses, events and backlogs, at the steps the object simulator sends them
    (`SimDevice._publish`)."""
    out: list[_Message] = []  # the first status is sent by `batches` for every device
    last = steps - 1
    backlog = telemetry.held.get(id(d), [])
    held_events: dict[int, list[Event]] = {}
    live: dict[int, list[Event]] = {}
    for e in sorted(events, key=lambda e: e.ts):
        window = int(_window(e.ts.timestamp(), ctx, step_s))
        outage = next((o for o in d._outages if o.covers(e.ts)), None)
        dying_gasp = outage is not None and outage.kind == "power_loss" and outage.start == e.ts
        if outage is not None and not dying_gasp:
            if outage.end is not None:
                held_events.setdefault(int(_window(outage.end.timestamp(), ctx, step_s)), []).append(e)
        else:
            live.setdefault(window, []).append(e)
    for window, items in live.items():
        if window <= last:
            payload = to_payload(items[0] if len(items) == 1 else items)
            out.append(_Message(window, 2, d, Channel.EVENT, payload))
    for o in d._outages:
        off_at = o.start + LWT_DELAY
        if o.end is None or off_at < o.end:
            window = int(_window(off_at.timestamp(), ctx, step_s))
            if window <= last:
                out.append(_Message(window, 0, d, Channel.STATUS, to_payload(Status(False, off_at))))
        if o.end is None:
            continue
        window = int(_window(o.end.timestamp(), ctx, step_s))
        if window > last:
            continue
        out.append(_Message(window, 0, d, Channel.STATUS, to_payload(Status(True, o.end, d.fw))))
        kept = [(line, n) for ts, line, n in backlog if o.start.timestamp() <= ts < o.end.timestamp()]
        kept = kept[-BACKLOG_MAX:]  # a full memory drops the oldest
        for i in range(0, len(kept), BACKLOG_CHUNK):
            chunk = kept[i:i + BACKLOG_CHUNK]
            out.append(_Message(window, 1, d, Channel.TELEMETRY,
                                b"[" + b",".join(line for line, _ in chunk) + b"]",
                                sum(n for _, n in chunk)))
        if window in held_events:
            out.append(_Message(window, 1, d, Channel.EVENT, to_payload(held_events.pop(window))))
    return out


_ONLINE: dict[tuple[float, str], bytes] = {}


def _online(at: float, fw: str) -> bytes:
    """The status a device publishes when it starts (the same for devices of one firmware)."""
    key = (at, fw)
    if key not in _ONLINE:
        _ONLINE[key] = to_payload(Status(True, to_datetime(at), fw))
    return _ONLINE[key]
