"""The dispatcher: sends the queued notifications (`notification_log`), with retries.

Transitions queue their deliveries in their own transaction (alerts/notify/routing.py); the
dispatcher wakes on `NOTIFY phare_alerts` (and polls every second), takes one due delivery
at a time (row-locked, skipped by other dispatchers), sends it and records the outcome:

    sent      attempts + 1, sent_at
    retry     attempts + 1, the error, next attempt after PHARE_NOTIFY_RETRY_BASE_S × 2^(n-1)
    failed    after PHARE_NOTIFY_MAX_ATTEMPTS attempts, or at once for a permanent error (a
              4xx answer, refused recipients, an invalid URL)

Deliveries are at least once: a crash between sending and recording resends. Webhook
receivers can drop duplicates by the `X-Phare-Delivery` header.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from alerts.errors import DeliveryError
from alerts.lifecycle import ALERTS_CHANNEL
from alerts.notify import email, webhook
from alerts.notify.mqtt import Publisher
from alerts.store import listen
from phare import db
from phare.errors import DatabaseUnavailable
from phare.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
POLL_S = 1.0
_ERROR_CHARS = 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Sends due deliveries through their channel."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now,
                 publisher: Publisher | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.publisher = publisher or Publisher(settings)
        self._http = httpx.Client(timeout=settings.notify_timeout_s)
        self.sent = 0
        self.failed = 0

    def close(self) -> None:
        self._http.close()
        self.publisher.close()

    def send_due(self, conn: psycopg.Connection, limit: int = 100) -> int:
        """Sends up to `limit` due deliveries, one transaction each; returns how many were tried."""
        tried = 0
        while tried < limit and self._send_one(conn):
            tried += 1
        return tried

    def _send_one(self, conn: psycopg.Connection) -> bool:
        with conn.transaction():
            row = conn.execute(
                "select l.id, l.channel, l.target, l.subject, l.body, l.event, l.attempts, "
                "r.secret from notification_log l "
                "left join notification_routes r on r.id = l.route_id "
                "where l.status = 'pending' and l.next_attempt_at <= %s "
                "order by l.next_attempt_at, l.id limit 1 for update of l skip locked",
                (self.clock(),)).fetchone()
            if row is None:
                return False
            delivery_id, channel, target, subject, body, event, attempts, secret = row
            error: DeliveryError | None = None
            try:
                self._deliver(channel, target, subject, body, event, delivery_id, secret)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # a bug in a channel must not stop the others
                log.exception("delivery %d failed unexpectedly", delivery_id)
                error = DeliveryError(f"{type(exc).__name__}: {exc}")
            self._record(conn, delivery_id, attempts + 1, error)
        return True

    def _deliver(self, channel: str, target: str, subject: str, body: str, event: str,
                 delivery_id: int, secret: str | None) -> None:
        timeout = self.settings.notify_timeout_s
        if channel == "webhook":
            webhook.send(target, body.encode(), secret=secret, event=event,
                         delivery_id=delivery_id, timeout=timeout, client=self._http)
        elif channel == "email":
            email.send(self.settings, target, subject, body, delivery_id=delivery_id,
                       timeout=timeout)
        elif channel == "mqtt":
            self.publisher.publish(target, body.encode(), timeout=timeout)
        else:
            raise DeliveryError(f"unknown channel {channel!r}", permanent=True)

    def _record(self, conn: psycopg.Connection, delivery_id: int, attempts: int,
                error: DeliveryError | None) -> None:
        now = self.clock()
        if error is None:
            conn.execute("update notification_log set status = 'sent', attempts = %s, "
                         "sent_at = %s, error = null where id = %s", (attempts, now, delivery_id))
            self.sent += 1
            return
        final = error.permanent or attempts >= self.settings.notify_max_attempts
        delay = timedelta(seconds=self.settings.notify_retry_base_s * 2 ** (attempts - 1))
        conn.execute(
            "update notification_log set status = %s, attempts = %s, error = %s, "
            "next_attempt_at = %s where id = %s",
            ("failed" if final else "pending", attempts, str(error)[:_ERROR_CHARS],
             now if final else now + delay, delivery_id))
        if final:
            self.failed += 1
            log.error("notification %d failed for good after %d attempt(s): %s",
                      delivery_id, attempts, error)
        else:
            log.warning("notification %d: attempt %d failed (%s); next in %.0f s",
                        delivery_id, attempts, error, delay.total_seconds())

    def run_forever(self, stop: threading.Event, *, ready: threading.Event | None = None) -> None:
        """Sends deliveries as they come until `stop` is set."""
        backoff = 0.5
        while not stop.is_set():
            try:
                with db.connect(self.settings, autocommit=True) as conn:
                    listen(conn, ALERTS_CHANNEL)
                    backoff = 0.5
                    if ready is not None:
                        ready.set()
                    while not stop.is_set():
                        self.send_due(conn)
                        for _ in conn.notifies(timeout=POLL_S, stop_after=1):
                            pass
            except (DatabaseUnavailable, psycopg.OperationalError) as exc:
                log.warning("dispatcher: database unavailable (%s); retrying in %.1f s",
                            exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
