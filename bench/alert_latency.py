"""Alert latency: from a hazard event published over MQTT to the alert on the live stream.

On the local stack's PostgreSQL (PHARE_* settings), in a schema of its own
(`bench_alerts_<time>`, dropped at the end unless --keep), with a Mosquitto of its own (Phare's
configuration, a free port: no other traffic shares it), it starts the three processes of
production — `phare ingest`, `phare alerts run`, `phare api` — registers D smoke detectors,
opens `GET /api/v1/stream?types=alerts` with an API key, then N times: publishes (QoS 1) a
smoke alarm of one detector and waits for its alert on the stream (`opened`, or
`reopened` when the detector alarmed within the reopen window) (the alarm is then
cleared, and the `resolved` alert awaited, so that the next alarm on that detector opens a new
alert). Pauses between alarms are random (0-`--gap` s), so alarms fall anywhere in ingest's
batching window. It prints p50 / p95 / max of publish -> alert on the stream.

    .venv/bin/python bench/alert_latency.py [--alarms N] [--detectors D] [--gap S] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg

from phare import db
from phare.settings import Settings
from phare.tenancy import add_tenant, create_api_key

ROOT = Path(__file__).resolve().parent.parent
PHARE = str(Path(sys.executable).with_name("phare"))


class BenchError(RuntimeError):
    """The benchmark could not complete; the message says why."""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(name: str, args: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([PHARE, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=ROOT)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
    return process.returncode


def start_broker(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A Mosquitto with Phare's configuration on a free port, for this run alone."""
    import shutil
    import socket

    port = free_port()
    os.chmod(directory, 0o777)  # mosquitto drops root privileges to write its files
    conf = (ROOT / "deploy/mosquitto/phare.conf").read_text()
    conf = conf.replace("@PORT@", str(port)).replace("@STATE_DIR@", str(directory))
    (directory / "mosquitto.conf").write_text(conf)
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([exe, "-c", str(directory / "mosquitto.conf")])

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_until("mosquitto", up, 10)
    return process, port


def wait_until(what: str, predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not ready within {timeout:.0f} s")
        time.sleep(0.1)


class Stream(threading.Thread):
    """Reads the SSE stream; puts (monotonic arrival, event, data) on `events`."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.url, self.key = url, key
        self.events: queue.Queue[tuple[float, str, dict[str, Any]]] = queue.Queue()
        self.ready = threading.Event()
        self.response: httpx.Response | None = None
        self.closing = False

    def run(self) -> None:
        try:
            self._read()
        except httpx.HTTPError:
            if not self.closing:
                raise

    def close(self) -> None:
        """Shuts the socket down under the reader: the API sees the client go."""
        self.closing = True
        stream = self.response.extensions.get("network_stream") if self.response else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            sock.shutdown(2)
        self.join(5)

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(timeout=httpx.Timeout(10, read=None)) as client, \
                client.stream("GET", self.url, headers=headers) as response:
            self.response = response
            if response.status_code != 200:
                self.ready.set()
                return
            event, data = "", ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif not line and event:
                    if event == "ready":
                        self.ready.set()
                    else:
                        self.events.put((time.monotonic(), event, json.loads(data)))
                    event, data = "", ""


def await_alert(stream: Stream, device_id: str, kinds: tuple[str, ...],
                timeout: float = 10.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        try:
            at, event, data = stream.events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise BenchError(f"no {'/'.join(kinds)} alert of {device_id} within {timeout:.0f} s"
                             ) from None
        if event == "alert" and data["alert"]["device_id"] == device_id and data["event"] in kinds:
            return at


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alarms", type=int, default=200)
    parser.add_argument("--detectors", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.3, help="at most this pause between alarms")
    parser.add_argument("--keep", action="store_true", help="keep the bench schema")
    args = parser.parse_args()

    base = Settings()
    schema = f"bench_alerts_{int(time.time())}"
    settings = base.model_copy(update={"database_schema": schema})
    db.migrate(settings)
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    with db.connect(settings, autocommit=True) as conn:
        add_tenant(conn, tenant, "Commune de Banc-d'Essai")
        for i in range(args.detectors):
            conn.execute(
                "insert into devices (tenant_id, id, kind, name, location) select id, %s, "
                "'hazard_detector', %s, 'SRID=4326;POINT(3.09 45.03)' from tenants where slug = %s",
                (f"dfumee-{i:03d}", f"Détecteur {i}", tenant))
        key = create_api_key(conn, tenant, "viewer")

    port = free_port()
    logs = Path(tempfile.mkdtemp(prefix="phare-bench-alerts-"))
    broker, mqtt_port = start_broker(logs)
    settings = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{mqtt_port}"})
    env = {**os.environ, "PHARE_DATABASE_SCHEMA": schema, "PHARE_MQTT_URL": settings.mqtt_url,
           "PHARE_INGEST_CLIENT_ID": f"bench-alerts-{uuid.uuid4().hex[:8]}",
           "PHARE_INGEST_METRICS_PORT": "0", "PHARE_INGEST_SPOOL_DIR": str(logs / "spool"),
           "PHARE_INGEST_SESSION_EXPIRY_S": "0",
           # The checkout first, whatever the editable install maps.
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    processes = {
        "ingest": start("ingest", ["ingest"], env, logs),
        "alerts": start("alerts", ["alerts", "run", "--no-timers"], env, logs),
        "api": start("api", ["api", "--port", str(port)], env, logs),
    }
    latencies: list[float] = []
    clears: list[float] = []
    try:
        api = f"http://127.0.0.1:{port}"
        wait_until(f"the API (logs in {logs})", lambda: _ok(f"{api}/api/v1/health"))
        time.sleep(2.0)  # ingest subscribes, the engine LISTENs
        for name, process in processes.items():
            if process.poll() is not None:
                raise BenchError(f"phare {name} exited ({process.returncode}); see {logs}")
        stream = Stream(f"{api}/api/v1/stream?types=alerts", key)
        stream.start()
        if not stream.ready.wait(10):
            raise BenchError("the stream did not start")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"bench-pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        client.connect(settings.mqtt_host, settings.mqtt_port)
        client.loop_start()
        rng = random.Random(42)
        for n in range(args.alarms):
            device = f"dfumee-{n % args.detectors:03d}"
            topic = f"phare/v1/{tenant}/{device}/event"
            now = datetime.now(UTC).isoformat()
            sent = time.monotonic()
            client.publish(topic, json.dumps({"ts": now, "type": "smoke", "active": True}), qos=1)
            # Within the reopen window a detector's next alarm reopens its alert.
            latencies.append(await_alert(stream, device, ("opened", "reopened")) - sent)
            time.sleep(rng.uniform(0, args.gap))
            sent = time.monotonic()
            client.publish(topic, json.dumps({"ts": datetime.now(UTC).isoformat(),
                                              "type": "smoke", "active": False}), qos=1)
            clears.append(await_alert(stream, device, ("resolved",)) - sent)
            time.sleep(rng.uniform(0, args.gap))
            if (n + 1) % 50 == 0:
                print(f"  {n + 1}/{args.alarms} alarms", flush=True)
        client.loop_stop()
        client.disconnect()
        stream.close()
    finally:
        codes = {name: stop(p) for name, p in processes.items()}
        stop(broker)
        if not args.keep:
            with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True) as c:
                c.execute(psycopg.sql.SQL("drop schema {} cascade").format(
                    psycopg.sql.Identifier(schema)))
    ms = [x * 1000 for x in latencies]
    clear_ms = [x * 1000 for x in clears]
    print(f"alarms: {len(ms)} on {args.detectors} detectors; ingest batch window "
          f"{settings.ingest_batch_max_seconds * 1000:.0f} ms; exit codes {codes}")
    print(f"publish -> alarm's alert on the stream:   p50 {statistics.median(ms):6.1f} ms   "
          f"p95 {percentile(ms, 95):6.1f} ms   max {max(ms):6.1f} ms")
    print(f"publish -> 'resolved' alert on the stream: p50 {statistics.median(clear_ms):6.1f} ms"
          f"   p95 {percentile(clear_ms, 95):6.1f} ms   max {max(clear_ms):6.1f} ms")
    verdict = "met" if percentile(ms, 95) < 1000 else "MISSED"
    print(f"target p95 < 1000 ms: {verdict}")
    if args.keep:
        print(f"schema kept: {schema}; logs in {logs}")


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
