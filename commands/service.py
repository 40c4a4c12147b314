"""Commands: check, queue (one device, a group, an emergency force-on), and dispatch.

A command is queued in the database and sent by the dispatcher (`dispatch_due`, the `commands`
job of `phare worker`), never by the API itself: the API answers at once, and a command to a
device that is offline waits, is sent again, and ends up `failed` or `expired` with a sentence
that says why. A new command replaces the pending commands of the same type to the same device
(they become `cancelled`), unless they have a higher priority: the dispatcher must never resend
an old "switch off" after it, and routine never cancels an emergency.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from commands import delivery, expiry, history, texts
from commands.errors import DeliveryError, InvalidCommand
from commands.params import check_type, validate
from commands.targets import Target
from devices.messages import Command, format_ts
from phare.settings import Settings
from phare.tenancy import Actor, audit, audit_many

log = logging.getLogger(__name__)

PRIORITY_NORMAL = 0
PRIORITY_EMERGENCY = 100  # force-on: sent first, and no routine command cancels it
FORCE_ON_LEVEL = 100
FORCE_ON_MAX = timedelta(hours=72)  # a long weekend; longer is a schedule, not an emergency
BATCH = 200  # commands locked and sent per transaction
CHANNEL = "phare_commands"  # NOTIFY'd when commands are queued: a dispatcher loop wakes up


class Source(StrEnum):
    """What queued a command: a client's request, or an emergency force-on."""

    API = "api"
    FORCE_ON = "force_on"


@dataclass(frozen=True, slots=True)
class Policy:
    """When to send again and when to give up (settings `PHARE_COMMANDS_*`)."""

    ack_timeout: timedelta = timedelta(seconds=30)
    lorawan_ack_timeout: timedelta = timedelta(minutes=15)
    backoff: float = 2.0
    max_attempts: int = 3
    default_ttl: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(ack_timeout=timedelta(seconds=settings.commands_ack_timeout_s),
                   lorawan_ack_timeout=timedelta(seconds=settings.commands_lorawan_ack_timeout_s),
                   backoff=settings.commands_backoff, max_attempts=settings.commands_max_attempts,
                   default_ttl=timedelta(seconds=settings.commands_default_ttl_s))

    def wait_after(self, route: delivery.Route, attempt: int) -> timedelta:
        """How long to wait for the ack of send number `attempt` (1, 2, …) before acting."""
        base = self.ack_timeout if route is delivery.Route.NATIVE else self.lorawan_ack_timeout
        return base * self.backoff ** (attempt - 1)


@dataclass(frozen=True, slots=True)
class Order:
    """One command to send, checked: its type, normalised params and deadline."""

    type: str
    params: dict[str, Any]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Group:
    """What one request asked of many devices (a `command_groups` row)."""

    tenant_id: int
    type: str  # a command type, or 'force_on'
    params: dict[str, Any]
    selector: dict[str, Any]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Queued:
    group_id: uuid.UUID
    command_ids: list[uuid.UUID]
    undeliverable: int  # commands created `failed`: no route reaches their device


# --- checking ---------------------------------------------------------------------------
def prepare(command_type: str, params: Mapping[str, Any], *, expires: datetime | None,
            now: datetime, policy: Policy) -> Order:
    """The order for a command type and params; InvalidCommand naming the problem."""
    checked = validate(command_type, params, now=now)
    if expires is None:
        expires_at = now + policy.default_ttl
    elif expires <= now:
        raise InvalidCommand("expires", f"({format_ts(expires)}) is in the past: a command "
                             "must expire after it is sent")
    else:
        expires_at = expires
    return Order(command_type, checked, expires_at)


def check_target(target: Target, order: Order, *, now: datetime) -> None:
    """InvalidCommand unless `target` takes the order and a route carries it there."""
    check_type(target.kind, order.type)
    delivery.check(target, _message(uuid.uuid4(), order, now))


def force_on_orders(until: datetime, *, now: datetime) -> list[Order]:
    """An emergency force-on: output on, at 100 %, until `until` (which is also the deadline)."""
    if until <= now:
        raise InvalidCommand("until", f"({format_ts(until)}) is not in the future")
    if until - now > FORCE_ON_MAX:
        raise InvalidCommand("until", f"({format_ts(until)}) is more than "
                             f"{FORCE_ON_MAX.total_seconds() / 3600:g} hours ahead: a force-on "
                             "is for an emergency; use a schedule for longer")
    until = until.replace(microsecond=0)  # what devices keep (LoRaWAN frames: seconds)
    stamp = format_ts(until)
    return [Order("switch", {"on": True, "until": stamp}, until),
            Order("set_dimming", {"level_pct": FORCE_ON_LEVEL, "until": stamp}, until)]


# --- queueing ---------------------------------------------------------------------------
def queue_command(conn: psycopg.Connection, target: Target, order: Order, *, now: datetime,
                  actor: Actor, source: Source = Source.API,
                  priority: int = PRIORITY_NORMAL) -> uuid.UUID:
    """Queues one command to one device, in the caller's transaction (which the caller
    commits); InvalidCommand if the device cannot take it."""
    check_target(target, order, now=now)
    with conn.transaction():
        [command_id] = _insert(conn, [(target, order, None)], now=now, group_id=None,
                               source=source, priority=priority, actor=actor)
        audit(conn, actor, tenant_id=target.tenant_id, action="command.create",
              target=f"{target.tenant}/{target.id}",
              detail={"command": str(command_id), "type": order.type, "params": order.params,
                      "expires": format_ts(order.expires_at)})
    return command_id


def queue_commands(conn: psycopg.Connection, items: Sequence[tuple[Target, Order]], *,
                   now: datetime, actor: Actor, source: Source = Source.API,
                   priority: int = PRIORITY_NORMAL) -> list[uuid.UUID]:
    """Queues one order to each of many devices (each its own, e.g. a night's schedule) in the
    caller's transaction, with a few statements for all; the targets must have passed
    `check_target`. Returns the ids, in the order of `items`."""
    if not items:
        return []
    with conn.transaction():
        ids = _insert(conn, [(target, order, None) for target, order in items], now=now,
                      group_id=None, source=source, priority=priority, actor=actor)
        audit_many(conn, actor, "command.create", (
            (target.tenant_id, f"{target.tenant}/{target.id}",
             {"command": str(command_id), "type": order.type, "params": order.params,
              "expires": format_ts(order.expires_at)})
            for (target, order), command_id in zip(items, ids, strict=True)))
    return ids


def queue_group(conn: psycopg.Connection, targets: Sequence[Target], orders: Sequence[Order],
                group: Group, *, now: datetime, actor: Actor,
                source: Source = Source.API, priority: int = PRIORITY_NORMAL) -> Queued:
    """Queues `orders` to every target, under one group, in the caller's transaction.

    The targets must take the orders' types (the caller selected them by kind). A target no
    route reaches (a LoRaWAN device without its network server's identifiers) does not hold up
    the others: its command is created `failed`, saying why.
    """
    items: list[tuple[Target, Order, str | None]] = []
    for target in targets:
        for order in orders:
            check_type(target.kind, order.type)
            try:
                delivery.check(target, _message(uuid.uuid4(), order, now))
            except InvalidCommand as exc:
                items.append((target, order, exc.message))
            else:
                items.append((target, order, None))
    group_id = uuid.uuid4()
    with conn.transaction():
        conn.execute(
            "insert into command_groups (id, tenant_id, type, params, selector, source, priority, "
            "reason, requested_by, created_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (group_id, group.tenant_id, group.type, Jsonb(group.params), Jsonb(group.selector),
             source.value, priority, group.reason, actor.key_id, now),
        )
        ids = _insert(conn, items, now=now, group_id=group_id, source=source, priority=priority,
                      actor=actor)
        audit(conn, actor, tenant_id=group.tenant_id,
              action="command.force_on" if source is Source.FORCE_ON else "command.create",
              target=f"group:{group_id}",
              detail={"group": str(group_id), "type": group.type, "params": group.params,
                      "selector": group.selector, "reason": group.reason,
                      "devices": len(targets), "commands": len(ids)})
    return Queued(group_id, ids, sum(1 for *_, problem in items if problem))


def _insert(conn: psycopg.Connection, items: Sequence[tuple[Target, Order, str | None]], *,
            now: datetime, group_id: uuid.UUID | None, source: Source, priority: int,
            actor: Actor) -> list[uuid.UUID]:
    """Inserts commands (`failed` when the item names a problem), after cancelling the pending
    ones they replace; records the events. In the caller's transaction."""
    ids = [uuid.uuid4() for _ in items]
    by_type: dict[str, list[tuple[int, uuid.UUID]]] = {}
    for command_id, (target, order, problem) in zip(ids, items, strict=True):
        if problem is None:
            by_type.setdefault(order.type, []).append((target.uid, command_id))
    for command_type, news in by_type.items():
        _supersede(conn, command_type, news, now=now, priority=priority)
    rows = []
    events = []
    for command_id, (target, order, problem) in zip(ids, items, strict=True):
        status = "queued" if problem is None else "failed"
        detail = {} if problem is None else texts.undeliverable(problem)
        rows.append((command_id, target.tenant_id, target.uid, order.type, Jsonb(order.params),
                     status, now, order.expires_at, now if problem is None else None,
                     group_id, source.value, priority, actor.key_id, now, Jsonb(detail)))
        events.append(history.Event(command_id, target.tenant_id, now, status, status,
                                    detail=detail))
    with conn.cursor() as cur:
        cur.executemany(
            "insert into commands (id, tenant_id, device_uid, type, params, status, created_at, "
            "expires_at, next_attempt_at, group_id, source, priority, requested_by, updated_at, "
            "detail) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    history.record(conn, events)
    conn.execute("select pg_notify(%s, '')", (CHANNEL,))
    return ids


def _supersede(conn: psycopg.Connection, command_type: str, news: list[tuple[int, uuid.UUID]],
               *, now: datetime, priority: int) -> None:
    """Cancels the pending commands of `command_type` that the new ones (uid, id) replace."""
    detail = texts.superseded(at=now)
    rows = conn.execute(
        "update commands c set status = 'cancelled', next_attempt_at = null, updated_at = %s, "
        "    detail = %s || jsonb_build_object('by', n.id) "
        "from unnest(%s::integer[], %s::uuid[]) n(uid, id) "
        "where c.device_uid = n.uid and c.type = %s and c.status in ('queued', 'sent') "
        "  and c.priority <= %s "
        "returning c.id, c.tenant_id, c.attempts, n.id",
        (now, Jsonb(detail), [uid for uid, _ in news], [cid for _, cid in news], command_type,
         priority),
    ).fetchall()
    history.record(conn, (
        history.Event(cid, tenant_id, now, "cancelled", "cancelled", attempts,
                      {**detail, "by": str(by)})
        for cid, tenant_id, attempts, by in rows
    ))


# --- dispatching --------------------------------------------------------------------------
@dataclass(slots=True)
class DispatchResult:
    """What one dispatch did."""

    sent: int = 0             # first sends
    resent: int = 0           # sends again, for want of an ack
    delivery_errors: int = 0  # the broker did not take them: tried again soon
    undeliverable: int = 0    # no route any more: failed
    expired: int = 0
    failed: int = 0           # never acknowledged, attempts exhausted
    network_acks: int = 0     # LoRaWAN acks applied first (commands/worker.py)

    @property
    def changes(self) -> int:
        return (self.sent + self.resent + self.delivery_errors + self.undeliverable
                + self.expired + self.failed + self.network_acks)


def dispatch_due(conn: psycopg.Connection, client: delivery.Publisher, now: datetime, *,
                 policy: Policy | None = None, batch: int = BATCH) -> DispatchResult:
    """Does what is due at `now`: expires, fails the unanswered, sends and sends again.

    Commits its own transactions, one per batch, each holding its commands' rows locked while
    they are published, so that an ack ingest applies meanwhile waits and is never overwritten.
    Several dispatchers may run: each takes the rows the others have not locked.
    """
    policy = policy or Policy()
    result = DispatchResult()
    result.expired = expiry.expire_due(conn, now)
    result.failed = expiry.fail_unanswered(conn, now, max_attempts=policy.max_attempts)
    while _send_batch(conn, client, now, policy, result, batch) == batch:
        pass
    return result


_DUE = """
select c.id, c.type, c.params, c.created_at, c.expires_at, c.attempts, c.priority,
       c.tenant_id, d.uid, t.slug as tenant, d.id as device_id, d.kind, d.model, d.dev_eui,
       d.lorawan_id, d.metadata, d.online, d.last_seen
from commands c
join devices d on d.uid = c.device_uid
join tenants t on t.id = d.tenant_id
where c.status in ('queued', 'sent') and c.next_attempt_at <= %(now)s
  and c.attempts < %(max_attempts)s and (c.expires_at is null or c.expires_at > %(now)s)
order by c.priority desc, c.created_at, c.id
limit %(batch)s
for update of c skip locked
"""


def _send_batch(conn: psycopg.Connection, client: delivery.Publisher, now: datetime,
                policy: Policy, result: DispatchResult, batch: int) -> int:
    events: list[history.Event] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_DUE, {"now": now, "max_attempts": policy.max_attempts,
                                  "batch": batch}).fetchall()
        for row in rows:
            target = Target(uid=row["uid"], tenant_id=row["tenant_id"], tenant=row["tenant"],
                            id=row["device_id"], kind=row["kind"], model=row["model"],
                            dev_eui=row["dev_eui"], lorawan_id=row["lorawan_id"],
                            metadata=row["metadata"], online=row["online"],
                            last_seen=row["last_seen"])
            command = Command(id=str(row["id"]), type=row["type"], params=row["params"],
                              ts=row["created_at"], expires=row["expires_at"])
            events.append(_send_one(cur, client, target, command, row["attempts"],
                                    row["priority"], now, policy, result))
        history.record(conn, events)
    conn.commit()
    return len(rows)


def _send_one(cur: psycopg.Cursor[Any], client: delivery.Publisher, target: Target,
              command: Command, attempts: int, priority: int, now: datetime, policy: Policy,
              result: DispatchResult) -> history.Event:
    command_id = uuid.UUID(command.id)
    try:
        message = delivery.outgoing(target, command, urgent=priority >= PRIORITY_EMERGENCY)
        client.publish(message.topic, message.payload)
    except InvalidCommand as exc:  # its device changed since it was queued
        detail = texts.undeliverable(exc.message)
        cur.execute("update commands set status = 'failed', detail = %s, next_attempt_at = null, "
                    "updated_at = %s where id = %s", (Jsonb(detail), now, command_id))
        result.undeliverable += 1
        return history.Event(command_id, target.tenant_id, now, "failed", "failed", attempts,
                             detail)
    except DeliveryError as exc:
        cur.execute("update commands set last_error = %s, next_attempt_at = %s, updated_at = %s "
                    "where id = %s", (str(exc), now + policy.ack_timeout, now, command_id))
        result.delivery_errors += 1
        log.warning("command %s to %s/%s not sent: %s", command_id, target.tenant, target.id, exc)
        status = "sent" if attempts else "queued"
        return history.Event(command_id, target.tenant_id, now, "delivery_error", status,
                             attempts, {"error": str(exc)})
    attempt = attempts + 1
    cur.execute(
        "update commands set status = 'sent', attempts = %s, sent_at = %s, next_attempt_at = %s, "
        "last_error = null, updated_at = %s where id = %s",
        (attempt, now, now + policy.wait_after(message.route, attempt), now, command_id),
    )
    if attempt == 1:
        result.sent += 1
    else:
        result.resent += 1
    return history.Event(command_id, target.tenant_id, now, "sent" if attempt == 1 else "resent",
                         "sent", attempt, {"route": message.route.value, "topic": message.topic})


def _message(command_id: uuid.UUID, order: Order, now: datetime) -> Command:
    return Command(id=str(command_id), type=order.type, params=order.params, ts=now,
                   expires=order.expires_at)
