"""`phare simulate`: a scenario's territory over a period — registered, published, labelled.

Registration: with an API URL and key, devices are registered through the HTTP API, as any
client would (their tenants must exist in the key's scope). Without, tenants and devices
are created directly in the database with Phare's own functions (`phare.tenancy`, the API's
`create_device`), so that one command works on a fresh installation. Labels always go to a
JSON Lines file and, unless told not to, to the `ground_truth` table.

Time: `speed=None` simulates the period as fast as the broker takes it, ending now (ingest
rejects timestamps more than 10 minutes ahead); a speed factor above 1 paces it, also
ending now; a factor of 1 or less runs from now on, in (slowed) real time.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from devices.catalogue import Channel

from .base import Payload, SimDevice
from .errors import RegistrationError, ScenarioError
from .faults import Plan, inject, plan_faults
from .labels import Label, Run, ground_truth, store, write_jsonl
from .runner import Encoder, RunStats, native, publish, register, run
from .scenario import Scenario, load
from .territory import Territory, build

if TYPE_CHECKING:
    from phare.settings import Settings

    from .vector.engine import Batch

log = logging.getLogger(__name__)

Echo = Callable[[str], None]
ENGINES = ("auto", "objects", "vector")
VECTOR_FROM = 1000  # devices: below, the object simulator is fast enough for any ingest


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    scenario: str = "default"
    days: float = 30.0
    speed: float | None = None  # None: flat out; else a real-time factor
    step: timedelta = timedelta(minutes=15)
    seed: int | None = None  # default: the scenario's
    labels_path: Path | None = None  # default: var/labels-<scenario>.jsonl
    labels_table: bool = True
    api_url: str | None = None
    api_key: str | None = None
    now: datetime | None = None  # the wall clock (tests)
    engine: str = "auto"  # objects | vector | auto (vector for large territories at max speed)


@dataclass
class Simulation:
    """A territory with its faults injected for a period, ready to run."""

    scenario: Scenario
    territory: Territory
    plan: Plan
    run: Run

    @property
    def devices(self) -> list[SimDevice]:
        return self.territory.devices

    def labels(self, until: datetime | None = None) -> list[Label]:
        return ground_truth(self.territory, self.plan, until)


@dataclass
class Outcome:
    simulation: Simulation
    stats: RunStats
    labels: list[Label]
    labels_path: Path
    labels_stored: int | None
    messages: int = 0
    seconds: float = 0.0
    registered: tuple[int, int] = (0, 0)
    kinds: Counter[str] = field(default_factory=Counter)


def period(days: float, speed: float | None, step: timedelta,
           now: datetime | None = None) -> tuple[datetime, datetime]:
    """The simulated period: ending now when it runs faster than real time, else from now."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    span = timedelta(days=days)
    if speed is None or speed > 1:
        end = now - (now - datetime(2000, 1, 1, tzinfo=UTC)) % step  # on the step's grid
        return end - span, end
    return now, now + span


def prepare(scenario: str | Scenario, start: datetime, end: datetime,
            seed: int | None = None) -> Simulation:
    """Loads and builds a territory, plans and injects its faults over [start, end]."""
    sc = load(scenario) if isinstance(scenario, str) else scenario
    territory = build(sc, seed=seed)
    plan = plan_faults(territory, start, end)
    inject(territory, plan)
    return Simulation(sc, territory, plan, Run(sc.name, territory.seed))


def simulate(settings: Settings, options: SimulateOptions, echo: Echo,
             encode: Encoder = native) -> Outcome:
    """Registers the territory's devices, publishes the period, writes the labels."""
    start, end = period(options.days, options.speed, options.step, options.now)
    sim = prepare(options.scenario, start, end, options.seed)
    engine = choose_engine(options, len(sim.devices), encode)
    kinds = sim.territory.kinds()
    echo(f"scenario {sim.scenario.name}: {len(sim.devices)} devices ("
         + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + f"), seed {sim.run.seed}")
    injected = Counter(f.type for _, f in sim.plan.faults)
    injected.update({"water_leak": len(sim.plan.leaks), "flood": len(sim.plan.storms)})
    echo("faults injected: " + (", ".join(f"{n} {k}" for k, n in sorted(injected.items()) if n)
                                or "none"))
    registered = register_territory(settings, sim, options)
    echo(f"registered: {registered[0]} new devices, {registered[1]} already there")
    pace = "as fast as the broker takes it" if options.speed is None else f"at ×{options.speed:g}"
    echo(f"simulating {options.days:g} days, {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC, "
         f"{pace} …")
    counter = _Counter(encode)
    last: list[datetime | None] = [None]  # the last simulated time
    progress = _progress(echo, start, options.step, counter, last)
    began = time.monotonic()
    try:
        if engine == "vector":
            from .vector.engine import batches  # numpy, and the engine, only when asked for

            echo("vectorised engine: telemetry only, the devices do not answer commands")
            stats = publish(_counted(batches(sim, start, end, options.step), counter),
                            mqtt_url=settings.mqtt_url, start=start, end=end, step=options.step,
                            speed=options.speed, on_progress=progress, now=options.now)
        else:
            stats = run(sim.devices, mqtt_url=settings.mqtt_url, start=start, end=end,
                        step=options.step, speed=options.speed, on_progress=progress,
                        encode=counter, now=options.now)
    finally:  # what was simulated is labelled, even when interrupted
        path = options.labels_path or Path("var") / f"labels-{sim.scenario.name}.jsonl"
        labels, stored = [], None
        if last[0] is not None:
            labels = sim.labels(until=last[0])
            write_jsonl(path, labels, sim.run)
            stored = _store_labels(settings, labels, sim.run) if options.labels_table else None
            by_type = Counter(label.type for label in labels)
            kinds_text = ", ".join(f"{n} {k}" for k, n in sorted(by_type.items()))
            echo(f"ground truth: {len(labels)} labels" + (f" ({kinds_text})" if labels else "")
                 + f" → {path}"
                 + (f" and table ground_truth (run {sim.run.id})" if stored is not None else ""))
    seconds = time.monotonic() - began
    echo(f"published {counter.messages:,} messages in {seconds:.1f} s "
         f"({counter.messages / max(seconds, 1e-9):,.0f}/s)")
    return Outcome(sim, stats, labels, path, stored, counter.messages, seconds, registered, kinds)


def choose_engine(options: SimulateOptions, devices: int, encode: Encoder = native) -> str:
    """`objects` or `vector`: `auto` takes the vectorised engine for a territory of at least
    VECTOR_FROM devices run flat out in native messages, where the simulator could limit
    ingest; the object simulator everywhere else (it answers commands, speaks every envelope)."""
    if options.engine not in ENGINES:
        raise ScenarioError(f"unknown engine {options.engine!r}: one of {', '.join(ENGINES)}")
    if options.engine == "auto":
        fast = options.speed is None and devices >= VECTOR_FROM and encode is native
        return "vector" if fast else "objects"
    if options.engine == "vector" and encode is not native:
        raise ScenarioError("the vectorised engine publishes native messages only")
    return options.engine


def _counted(items: Iterable[Batch], counter: _Counter) -> Iterator[Batch]:
    for batch in items:
        counter.messages += len(batch)
        yield batch


def register_territory(settings: Settings, sim: Simulation, options: SimulateOptions, *,
                       transport: httpx.BaseTransport | None = None) -> tuple[int, int]:
    """(created, existing) devices, through the API when given one, else in the database."""
    if options.api_url and options.api_key:
        _check_tenants_via_api(options.api_url, options.api_key, sim.scenario, transport)
        done = register(sim.devices, options.api_url, options.api_key, transport=transport)
        return done.created, done.existing
    if options.api_url or options.api_key:
        raise RegistrationError("give both --api-url and --api-key, or neither (the database)")
    return register_in_database(settings, sim)


def register_in_database(settings: Settings, sim: Simulation) -> tuple[int, int]:
    """Creates the scenario's tenants (idempotent) and devices with Phare's own functions."""
    from api.errors import Conflict
    from api.models import DeviceCreate
    from api.queries.devices import create_device
    from phare import db
    from phare.tenancy import add_tenant

    created = existing = 0
    with db.connect(settings, autocommit=True) as conn:
        ids = {t.slug: add_tenant(conn, t.slug, t.name, t.parent) for t in sim.scenario.tenants}
        kinds = {(slug, device_id): kind for slug, device_id, kind in conn.execute(
            "select t.slug, d.id, d.kind from devices d join tenants t on t.id = d.tenant_id "
            "where t.slug = any(%s)", (list(ids),))}
        for device in sim.devices:
            known = kinds.get((device.tenant, device.device_id))
            if known is not None:
                if known != device.kind:
                    raise RegistrationError(
                        f"{device.tenant}/{device.device_id} is registered as a {known}, the "
                        f"scenario has a {device.kind}: remove it, or use another tenant")
                existing += 1
                continue
            try:
                create_device(conn, tenant_id=ids[device.tenant],
                              device=DeviceCreate.model_validate(device.spec))
                created += 1
            except Conflict:  # registered meanwhile by someone else
                existing += 1
    return created, existing


def _check_tenants_via_api(api_url: str, api_key: str, scenario: Scenario,
                           transport: httpx.BaseTransport | None) -> None:
    try:
        with httpx.Client(base_url=api_url.rstrip("/"), transport=transport, timeout=10,
                          headers={"Authorization": f"Bearer {api_key}"}) as http:
            answer = http.get("/api/v1/tenants")
    except httpx.HTTPError as exc:
        raise RegistrationError(f"cannot reach the API at {api_url}: {exc}") from exc
    if answer.status_code != httpx.codes.OK:
        raise RegistrationError(f"listing tenants through the API failed: HTTP "
                                f"{answer.status_code}")
    visible = {t["slug"] for t in answer.json().get("data", [])}
    holders = {d[0] for d in scenario.device_keys()}
    missing = sorted(holders - visible)
    if missing:
        raise RegistrationError(
            f"tenant(s) {', '.join(missing)} do not exist or are outside the key's scope: "
            "create them first (`phare tenant add SLUG --name … --parent …`), or run without "
            "--api-url/--api-key to create them in the database")


def _store_labels(settings: Settings, labels: list[Label], run_: Run) -> int:
    from phare import db
    from phare.errors import PhareError

    try:
        with db.connect(settings) as conn:
            n = store(conn, labels, run_)
            conn.commit()
    except (PhareError, ValueError) as exc:
        raise ScenarioError(f"cannot store the labels in the database ({exc}); they are in "
                            "the JSON Lines file (use --no-labels-table to skip the table)") from exc
    return n


class _Counter:
    """An encoder that counts what it encodes."""

    def __init__(self, encode: Encoder) -> None:
        self.encode = encode
        self.messages = 0

    def __call__(self, device: SimDevice, channel: Channel, item: Payload) -> tuple[str, bytes]:
        self.messages += 1
        return self.encode(device, channel, item)


def _progress(echo: Echo, start: datetime, step: timedelta, counter: _Counter,
              last: list[datetime | None]) -> Callable[[int, int], None]:
    began = time.monotonic()
    shown = [began]

    def report(done: int, total: int) -> None:
        last[0] = start + (done - 1) * step
        now = time.monotonic()
        if now - shown[0] >= 2 or done == total:
            shown[0] = now
            unit = timedelta(days=1) if (total - 1) * step >= timedelta(days=1) else timedelta(hours=1)
            name = "day" if unit == timedelta(days=1) else "hour"
            at, span = (done - 1) * step / unit, (total - 1) * step / unit
            rate = counter.messages / max(now - began, 1e-9)
            echo(f"  {name} {at:5.1f}/{span:.3g}  {100 * done / total:5.1f} %  "
                 f"{counter.messages:>10,} messages  {rate:>8,.0f}/s")

    return report
