"""`phare alerts run`: the rules engine, the notification dispatcher and the alert timers,
each in a thread of one process, until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from alerts.engine import Engine
from alerts.notify.dispatcher import Dispatcher
from alerts.timers import run_timers
from phare import db
from phare.errors import DatabaseUnavailable
from phare.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class AlertService:
    """Starts and stops the three loops; `failure` is set if one of them died."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now, timers: bool = True) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = Engine(settings, clock=clock)
        self.dispatcher = Dispatcher(settings, clock=clock)
        self.stop_event = threading.Event()
        self.engine_ready = threading.Event()
        self.dispatcher_ready = threading.Event()
        self.failure: BaseException | None = None
        targets: list[tuple[str, Callable[[], None]]] = [
            ("phare-alerts-engine",
             lambda: self.engine.run_forever(self.stop_event, ready=self.engine_ready)),
            ("phare-alerts-dispatcher",
             lambda: self.dispatcher.run_forever(self.stop_event, ready=self.dispatcher_ready)),
        ]
        if timers:
            targets.append(("phare-alerts-timers", self._timers_loop))
        self._threads = [threading.Thread(target=self._guard(fn), name=name, daemon=True)
                         for name, fn in targets]

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                log.exception("alerts: %s died", threading.current_thread().name)
                self.failure = exc
                self.stop_event.set()
        return run

    def _timers_loop(self) -> None:
        interval = self.settings.alerts_timer_interval_s
        while not self.stop_event.wait(interval):
            try:
                with db.connect(self.settings) as conn:
                    result = run_timers(conn, now=self.clock(), settings=self.settings)
                    conn.commit()
                if result.changes:
                    log.info("alert timers: %d escalated, %d offline, %d back online",
                             result.escalated, result.offline, result.back_online)
            except (DatabaseUnavailable, psycopg.OperationalError) as exc:
                log.warning("alert timers: database unavailable (%s)", exc)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once the engine and the dispatcher are listening."""
        return self.engine_ready.wait(timeout) and self.dispatcher_ready.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout)
        self.dispatcher.close()
