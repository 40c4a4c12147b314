"""Running the dispatcher: as the `commands` job of `phare worker` (every minute, after the other
jobs), or in a loop of its own (`phare commands dispatch`), which the API wakes as soon as it
queues a command (NOTIFY `phare_commands`) — what an emergency force-on needs.

Both keep one MQTT connection for the life of the process: it publishes the commands and
receives the LoRaWAN network servers' acks, which each run applies first. Several dispatchers
may run side by side: each locks the commands it sends, and skips those another has locked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from analytics.job import Job, JobContext
from commands import network_acks
from commands.delivery import MqttPublisher
from commands.service import CHANNEL, DispatchResult, Policy, dispatch_due
from phare import db
from phare.errors import DatabaseUnavailable
from phare.settings import Settings

log = logging.getLogger(__name__)

INTERVAL = timedelta(minutes=1)  # the job's; the dedicated loop's is a setting
RETRY_S = 10.0


@dataclass(frozen=True, slots=True)
class Link:
    publisher: MqttPublisher
    inbox: network_acks.Inbox


_links: dict[tuple[str, str], Link] = {}
_lock = threading.Lock()


def link(settings: Settings) -> Link:
    """The process's connection to the broker, opened on first use (DeliveryError if it
    cannot be); paho reconnects it by itself afterwards."""
    key = (settings.mqtt_url, settings.commands_client_id)
    with _lock:
        found = _links.get(key)
        if found is None:
            inbox = network_acks.Inbox()
            publisher = MqttPublisher(settings, subscriptions=network_acks.SUBSCRIPTIONS,
                                      on_message=inbox.put).connect()
            found = _links[key] = Link(publisher, inbox)
    return found


def dispatch(conn: psycopg.Connection, settings: Settings, now: datetime) -> DispatchResult:
    """Applies the network servers' acks received so far, then does what is due at `now`."""
    current = link(settings)
    acks = network_acks.apply(conn, current.inbox.drain(), now)
    result = dispatch_due(conn, current.publisher, now, policy=Policy.from_settings(settings))
    result.network_acks = acks
    return result


def run(ctx: JobContext) -> int:
    """The `commands` job; returns the commands it changed."""
    result = dispatch(ctx.conn, ctx.settings, ctx.now)
    if result.changes:
        ctx.log.info("commands: %s", describe(result))
    return result.changes


JOB = Job("commands", INTERVAL, run,
          "sends queued commands to devices, sends again unanswered ones, expires them")


def run_forever(settings: Settings, stop: threading.Event,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    """Dispatches when a command is queued, and every `PHARE_COMMANDS_DISPATCH_INTERVAL_S`
    (acks, resends, expiries), until `stop` is set."""
    link(settings)  # a broker that cannot be reached stops the command here, with the reason
    while not stop.is_set():
        try:
            with db.connect(settings, autocommit=True) as conn:
                conn.execute(sql.SQL("listen {}").format(sql.Identifier(CHANNEL)))
                while not stop.is_set():
                    result = dispatch(conn, settings, clock())
                    if result.changes:
                        log.info("commands: %s", describe(result))
                    _wait(conn, stop, settings.commands_dispatch_interval_s)
        except (DatabaseUnavailable, psycopg.OperationalError) as exc:
            log.error("commands: the database went away (%s); retrying in %g s", exc, RETRY_S)
            stop.wait(RETRY_S)


def _wait(conn: psycopg.Connection, stop: threading.Event, seconds: float) -> None:
    """Until a command is queued (a NOTIFY), `seconds` pass, or `stop` is set (within 1 s)."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        if any(True for _ in conn.notifies(timeout=min(left, 1.0), stop_after=1)):
            return


def describe(result: DispatchResult) -> str:
    return (f"{result.sent} sent, {result.resent} sent again, {result.delivery_errors} not taken "
            f"by the broker, {result.undeliverable} undeliverable, {result.expired} expired, "
            f"{result.failed} failed without an ack, {result.network_acks} network server acks")
