"""Fixtures of the alert tests: devices, a local webhook receiver and SMTP server (started by
the tests), the API served by uvicorn, an SSE reader, the alert service in threads."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from psycopg.types.json import Jsonb

from alerts.model import Device
from alerts.service import AlertService
from alerts.store import load_device
from api.main import create_app
from phare.settings import Settings
from tests.conftest import Broker, free_port, register_device

THRESHOLDS = {"yellow": 100, "orange": 140, "red": 200}


def utc_now() -> datetime:
    return datetime.now(UTC)


def add_device(conn: psycopg.Connection, tenant: str, device_id: str,
               kind: str = "hazard_detector", *, name: str | None = None,
               metadata: dict[str, Any] | None = None) -> Device:
    """Registers a device (with a name and metadata) and returns it as the rules see it."""
    uid = register_device(conn, tenant, device_id, kind)
    conn.execute("update devices set name = %s, metadata = %s where uid = %s",
                 (name or f"Capteur {device_id}", Jsonb(metadata or {}), uid))
    return load_device(conn, uid)


@pytest.fixture
def gauge(conn: psycopg.Connection, tenant: str) -> Device:
    """A flood gauge with yellow/orange/red thresholds at 100/140/200 cm."""
    return add_device(conn, tenant, "crue-1", name="Pont de la Halle",
                      metadata={"sensor": "flood", "thresholds_cm": THRESHOLDS})


@pytest.fixture
def detector(conn: psycopg.Connection, tenant: str) -> Device:
    """A smoke detector in a school."""
    return add_device(conn, tenant, "dfumee-1", name="École Jules Ferry")


def add_route(conn: psycopg.Connection, tenant: str, channel: str, target: str = "", *,
              secret: str | None = None, level: int = 0, min_severity: str = "info",
              types: list[str] | None = None, lang: str = "fr") -> int:
    row = conn.execute(
        "insert into notification_routes (tenant_id, types, min_severity, channel, target, "
        "secret, escalation_level, lang) select id, %s, %s, %s, %s, %s, %s, %s from tenants "
        "where slug = %s returning id",
        (types, min_severity, channel, target, secret, level, lang, tenant)).fetchone()
    assert row is not None
    return int(row[0])


# --- a webhook receiver -------------------------------------------------------------------
@dataclass
class Hook:
    """What the receiver got, and what it answers next (a status per call, then 200)."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[Hook]:
    """A local HTTP server that records every POST."""
    port = free_port()
    hook = Hook(url=f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.requests.append({"headers": dict(self.headers), "body": body,
                                  "at": time.monotonic()})
            code = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


# --- an SMTP server -------------------------------------------------------------------------
class Mailbox:
    """aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@dataclass
class Smtp:
    port: int
    mailbox: Mailbox


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    """A local SMTP server (aiosmtpd) on a free port."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield Smtp(port, mailbox)
    controller.stop()


# --- settings, service, API ---------------------------------------------------------------
@pytest.fixture
def alert_settings(settings: Settings, smtp: Smtp) -> Settings:
    """The session's settings with the local SMTP server and quick retries."""
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                       "notify_retry_base_s": 0.05, "notify_timeout_s": 2.0})


@pytest.fixture
def service(alert_settings: Settings) -> Iterator[AlertService]:
    """The rules engine and the dispatcher, in threads (the timers are run by the tests)."""
    svc = AlertService(alert_settings, timers=False)
    svc.start()
    assert svc.wait_ready(10), "the alert service did not start"
    yield svc
    svc.stop()
    assert svc.failure is None, svc.failure


@dataclass
class ApiServer:
    url: str
    server: uvicorn.Server
    clock: list[datetime | None]  # [instant] to pin the API's clock, [None]: the wall clock


@pytest.fixture
def api_server(alert_settings: Settings) -> Iterator[ApiServer]:
    """The API served by uvicorn on a free port (a real server: SSE needs one)."""
    app = create_app(alert_settings)
    pinned: list[datetime | None] = [None]
    app.state.clock = lambda: pinned[0] or utc_now()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    yield ApiServer(f"http://127.0.0.1:{port}", server, pinned)
    server.should_exit = True
    thread.join(10)


class SseReader:
    """Reads a Server-Sent Events stream in a thread; events land in `events` as dicts."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.key = key
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.ready = threading.Event()
        self.status: int | None = None
        self._response: httpx.Response | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SseReader:
        self._thread.start()
        assert self.ready.wait(10), f"the stream did not start (status {self.status})"
        return self

    def _run(self) -> None:
        try:
            self._read()
        except httpx.HTTPError:
            if not self._stop.is_set():
                raise
        finally:
            self.ready.set()

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "text/event-stream"}
        with httpx.Client(timeout=httpx.Timeout(5, read=None)) as client, \
                client.stream("GET", self.url, headers=headers) as response:
            self._response = response
            self.status = response.status_code
            if response.status_code != 200:
                return
            event: dict[str, Any] = {}
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if not line:
                    if event.get("event") == "ready":
                        self.ready.set()
                    elif event:
                        event["received_at"] = time.monotonic()
                        self.events.put(event)
                    event = {}
                elif line.startswith("event: "):
                    event["event"] = line[7:]
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif line.startswith("id: "):
                    event["id"] = line[4:]

    def next(self, timeout: float = 5.0) -> dict[str, Any]:
        return self.events.get(timeout=timeout)

    def drain(self, wait: float = 0.5) -> list[dict[str, Any]]:
        """Every event that arrives within `wait` seconds."""
        out = []
        deadline = time.monotonic() + wait
        while True:
            try:
                out.append(self.events.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                return out

    def close(self) -> None:
        """Disconnects (the server sees the client go) and waits for the reader."""
        self._stop.set()
        if self._response is not None:
            # Shut the socket down under the blocked reader: the server sees the client go.
            stream = self._response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)


def publisher(broker: Broker) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish(client: mqtt.Client, topic: str, doc: Any) -> float:
    """Publishes at QoS 1 and waits for the broker; returns the monotonic time of publishing."""
    started = time.monotonic()
    client.publish(topic, json.dumps(doc), qos=1).wait_for_publish(10)
    return started
