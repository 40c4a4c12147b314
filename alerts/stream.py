"""The live stream's fan-out: one LISTEN connection per API process, many SSE clients.

The broadcaster LISTENs on `phare_alerts` (every alert transition, from alerts/lifecycle.py)
and `phare_readings` (hazard and battery readings relayed by the rules engine), and hands
each notification to the subscribers whose key's scope holds its tenant and who asked for its
type. A subscriber's queue is bounded (QUEUE_SIZE): a client too slow to keep up is sent an
`overflow` event and disconnected (it reconnects and reads `/alerts` again), so one slow
client never makes the API hold memory without limit.

The connection is opened with the first subscriber, reopened after a failure, and closed
with the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg import sql

from alerts.engine import READINGS_CHANNEL
from alerts.lifecycle import ALERTS_CHANNEL
from phare import db
from phare.errors import DatabaseUnavailable
from phare.settings import Settings

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
STREAM_TYPES = {"alerts": "alert", "readings": "reading"}  # query value -> SSE event name


@dataclass(eq=False)
class Subscription:
    """One client: the tenants it may see, what it asked for, what waits to be sent."""

    scope: frozenset[int]
    types: frozenset[str]
    queue: asyncio.Queue[tuple[str, str, str | None]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False


def sse(event: str, data: str, event_id: str | None = None) -> bytes:
    """One Server-Sent Event."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"{head}event: {event}\n{lines}\n".encode()


class Broadcaster:
    """Fans the database's alert and reading notifications out to the subscribers."""

    def __init__(self, settings: Settings, conninfo: str, *, connect_timeout: float = 5.0) -> None:
        self.settings = settings
        self.conninfo = conninfo
        self.connect_timeout = connect_timeout
        self.subscribers: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def subscribe(self, scope: frozenset[int], types: Iterable[str]) -> Subscription:
        """A new subscription, once the broadcaster listens (DatabaseUnavailable otherwise)."""
        if self._task is None or self._task.done():
            self._listening.clear()
            self._task = asyncio.create_task(self._listen(), name="phare-stream-listener")
        try:
            await asyncio.wait_for(self._listening.wait(), self.connect_timeout)
        except TimeoutError:
            raise DatabaseUnavailable("the live stream cannot listen to the database") from None
        sub = Subscription(scope=scope, types=frozenset(types))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=5,
                    options=db.search_path_option(self.settings), application_name="phare-stream")
                async with conn:
                    channels = {}
                    for base, event in ((ALERTS_CHANNEL, "alert"), (READINGS_CHANNEL, "reading")):
                        cur = await conn.execute("select alert_channel(%s)", (base,))
                        row = await cur.fetchone()
                        assert row is not None
                        channels[str(row[0])] = event
                        await conn.execute(sql.SQL("listen {}").format(sql.Identifier(str(row[0]))))
                    self._listening.set()
                    backoff = 0.5
                    async for notify in conn.notifies():
                        self.publish(channels.get(notify.channel, ""), notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the stream must outlive a database restart
                self._listening.clear()
                log.warning("live stream: lost the database (%s); retrying in %.1f s",
                            str(exc).strip().splitlines()[0] if str(exc).strip() else exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def publish(self, event: str, payload: str) -> int:
        """Hands a notification to the subscribers that may see it; returns how many."""
        try:
            doc: dict[str, Any] = orjson.loads(payload)
            tenant_id = int(doc.pop("tenant_id"))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("live stream: unreadable %s notification %r", event, payload[:200])
            return 0
        event_id = str(doc["transition_id"]) if event == "alert" else None
        data = orjson.dumps(doc).decode()
        delivered = 0
        for sub in self.subscribers:
            if event not in sub.types or tenant_id not in sub.scope or sub.overflowed:
                continue
            try:
                sub.queue.put_nowait((event, data, event_id))
                delivered += 1
            except asyncio.QueueFull:
                sub.overflowed = True
        return delivered
