"""Ingest benchmark: telemetry messages a second that Phare stores, against the broker's limit.

On the local stack (PHARE_* settings), one run measures:
1. raw broker limit: P publisher processes send N QoS 1 messages to a bench-only topic as
   fast as Mosquitto takes them; a bare subscriber (its own process, raw MQTT on a socket,
   QoS 1, acknowledging each read's messages in one write) counts them. Rate: N / (first
   publish -> N-th message received).
2. end-to-end, once per worker count W (default 1, then 2): W `phare ingest` processes (their
   own client ids; for W > 1 one shared subscription group, as several workers are deployed)
   store N contract telemetry messages of 6 values for D lighting cabinets of a fresh tenant
   `bench-<time>-w<W>`. Rate: N / (first publish -> all N x 6 values counted in the
   database); the consumers' CPU time and peak RSS (VmHWM), summed over the W processes. They
   are then stopped with SIGTERM (each must exit 0), their broker sessions discarded and the
   tenant's rows deleted (unless --keep).

    .venv/bin/python bench/ingest.py [--messages N] [--devices D] [--publishers P]
                                     [--workers 1,2] [--keep]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from psycopg import sql

from devices.catalogue import TOPIC_ROOT
from devices.messages import Reading, to_payload
from phare import db
from phare.errors import PhareError
from phare.settings import Settings
from phare.tenancy import add_tenant

INTERVAL = timedelta(minutes=5)  # a device's readings are 5 minutes apart, the last ones now
# Unacknowledged messages per publisher: enough to saturate the broker, well below the
# 65,535 message ids of a connection.
WINDOW = 10_000
STALL_S = 60.0
PROGRESS_S = 3.0
SUBSCRIBED = "subscribed to"  # what `phare ingest` logs once its subscriptions are confirmed


class BenchError(RuntimeError):
    """The benchmark could not complete; the message says why."""


# --- messages and MQTT clients ----------------------------------------------------------
def messages(root: str, tenant: str, n: int, devices: int, part: int, parts: int,
             oldest: datetime) -> Iterator[tuple[str, bytes]]:
    """Messages part, part + parts, ... of N: message i is reading i // D of device i % D."""
    for i in range(part, n, parts):
        k = i // devices
        reading = Reading(ts=oldest + k * INTERVAL, seq=k, metrics={
            "power_w": 1500.0 + i % 400, "energy_kwh": 12_000 + k * 0.25,
            "voltage_l1_v": 229.0 + i % 7 / 10, "current_l1_a": 6.5 + i % 13 / 10,
            "dimming_pct": float(50 + i % 50), "output_on": True,
        })
        yield f"{root}/{tenant}/lc-{i % devices:05d}/telemetry", to_payload(reading)


def connect(settings: Settings, client_id: str = "") -> mqtt.Client:
    """A paho MQTT 5 client, connected with a clean session that ends when it disconnects."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    if settings.mqtt_username:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.username_pw_set(settings.mqtt_username, password)
    if settings.mqtt_tls:
        client.tls_set()
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(settings.mqtt_host, settings.mqtt_port, clean_start=True)
    client.loop_start()
    if not connected.wait(10):
        raise BenchError(f"cannot connect to the broker at {settings.mqtt_url}")
    return client


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def packet(first_byte: int, body: bytes) -> bytes:
    """An MQTT packet: type and flags, remaining length (variable byte integer), body."""
    header, size = bytearray([first_byte]), len(body)
    while True:
        size, digit = size >> 7, size & 0x7F
        header.append(digit | (0x80 if size else 0))
        if not size:
            return bytes(header) + body


def utf8(text: str) -> bytes:
    return struct.pack("!H", len(text.encode())) + text.encode()


def raw_connect(settings: Settings) -> socket.socket:
    """A plain MQTT 3.1.1 publishing connection: clean session, broker-assigned client id."""
    sock = socket.create_connection((settings.mqtt_host, settings.mqtt_port), timeout=120)
    if settings.mqtt_tls:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=settings.mqtt_host)
    flags, auth = 0x02, b""
    if settings.mqtt_username:
        flags, auth = 0x82, utf8(settings.mqtt_username)
        if settings.mqtt_password:
            flags, auth = 0xC2, auth + utf8(settings.mqtt_password.get_secret_value())
    keepalive = struct.pack("!H", 120)  # Mosquitto refuses 0 (none) to 3.1.1 clients
    sock.sendall(packet(0x10, utf8("MQTT") + bytes([4, flags]) + keepalive + utf8("") + auth))
    if sock.recv(4) != b"\x20\x02\x00\x00":
        raise BenchError(f"the broker at {settings.mqtt_url} refused the publisher")
    return sock


# --- child processes (spawned: they build their Settings from the environment) -----------
def publisher(root: str, tenant: str, n: int, devices: int, part: int, parts: int,
              oldest: datetime, ready: Any, go: Any, results: Any) -> None:
    """Publishes its share of the messages once `go` is set; reports (first publish, all acked).

    Pre-encoded QoS 1 PUBLISH packets, WINDOW unacknowledged at most, written to a socket:
    it saturates the broker with almost no CPU. A paho publisher (pre-serialised payloads,
    loop_start()) took 60-80 µs of CPU a message for ~15,000 msg/s, most of a core taken from
    the consumer on this 2-core machine; `mosquitto_pub -l` is fast but sends every line to
    one topic, so it cannot spread messages over D devices.
    """
    settings = Settings()
    packets = [packet(0x32, utf8(topic) + struct.pack("!H", i % 65535 + 1) + payload)
               for i, (topic, payload) in enumerate(
                   messages(root, tenant, n, devices, part, parts, oldest))]
    sock = raw_connect(settings)
    ready.put(part)
    go.wait()
    first, sent, acked, received = time.monotonic(), 0, 0, 0
    while acked < len(packets):
        if sent < len(packets) and sent - acked < WINDOW // 2:
            end = min(len(packets), acked + WINDOW)
            sock.sendall(b"".join(packets[sent:end]))
            sent = end
        data = sock.recv(65536)  # nothing but PUBACKs comes: 4 bytes each
        if not data:
            raise BenchError(f"publisher {part}: the broker closed the connection")
        received += len(data)
        acked = received // 4
    results.put((first, time.monotonic()))
    sock.sendall(packet(0xE0, b""))  # DISCONNECT
    sock.close()


def subscriber(topic: str, n: int, ready: Any, received: Any, results: Any) -> None:
    """Counts the messages of `topic`; reports when the N-th arrived.

    Raw MQTT 3.1.1 on a socket, like the publishers: it parses nothing but packet boundaries
    and packet ids, and acknowledges all the messages of a read in one write, so that the
    rate measured is the broker's. (A paho subscriber measured paho: ~19,000 msg/s.)
    """
    sock = raw_connect(Settings())
    sock.sendall(packet(0x82, struct.pack("!H", 1) + utf8(topic) + b"\x01"))
    if sock.recv(5) != b"\x90\x03\x00\x01\x01":
        raise BenchError("the broker refused the subscription")
    ready.put("subscribed")
    count, data = 0, b""
    while count < n:
        chunk = sock.recv(256 * 1024)
        if not chunk:
            raise BenchError("subscriber: the broker closed the connection")
        data += chunk
        acks, pos = [], 0
        while len(data) - pos >= 2:  # whole packets: type, remaining length, body
            length, shift, i = 0, 0, pos + 1
            while i < len(data) and data[i] & 0x80:
                length, shift, i = length | (data[i] & 0x7F) << shift, shift + 7, i + 1
            if i >= len(data) or i + 1 + (length := length | data[i] << shift) > len(data):
                break
            if data[pos] >> 4 == 3:  # PUBLISH
                count += 1
                if data[pos] & 0x06:  # QoS 1: acknowledge its packet id
                    at = i + 3 + (data[i + 1] << 8 | data[i + 2])
                    acks.append(b"\x40\x02" + data[at:at + 2])
            pos = i + 1 + length
        data = data[pos:]
        sock.sendall(b"".join(acks))
        if count // 1000 != (count - len(acks)) // 1000 or count >= n:
            received.value = count
    results.put(time.monotonic())
    sock.sendall(packet(0xE0, b""))  # DISCONNECT
    sock.close()


def gather(q: Any, count: int, procs: list[Any], what: str, timeout: float = 120) -> list[Any]:
    """`count` items from `q`; fails early if one of `procs` died."""
    items: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(items) < count:
        try:
            items.append(q.get(timeout=0.5))
        except queue.Empty:
            for p in procs:
                if p.exitcode not in (None, 0):
                    raise BenchError(f"{what}: {p.name} exited with code {p.exitcode}") from None
            if time.monotonic() > deadline:
                raise BenchError(f"{what}: no answer within {timeout:.0f} s") from None
    return items


def start_publishers(ctx: Any, root: str, tenant: str, args: argparse.Namespace,
                     oldest: datetime, procs: list[Any]) -> tuple[Any, Any]:
    """P publisher processes (appended to `procs`), connected and ready: (go event, results)."""
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    mine = [ctx.Process(target=publisher, name=f"publisher-{p}", daemon=True,
                        args=(root, tenant, args.messages, args.devices, p, args.publishers,
                              oldest, ready, go, results))
            for p in range(args.publishers)]
    procs += mine
    for p in mine:
        p.start()
    gather(ready, len(mine), mine, "publishers starting")
    return go, results


def publish_times(results: Any, procs: list[Any], parts: int) -> tuple[float, float]:
    """(first publish, last acknowledgement by the broker) over all publishers."""
    times = gather(results, parts, procs, "publishers", timeout=600)
    return min(t[0] for t in times), max(t[1] for t in times)


def stop_processes(procs: list[Any]) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
        p.join(5)


def wait_for_count(label: str, target: int, read: Any, poll: float) -> float:
    """Polls `read()` until it reaches `target`; returns when that reading started."""
    last_value, last_change = -1, time.monotonic()
    next_progress = last_change + PROGRESS_S
    while True:
        started = time.monotonic()
        value = read()
        if value >= target:
            return started
        if value != last_value:
            last_value, last_change = value, started
        elif started - last_change > STALL_S:
            raise BenchError(f"{label}: stalled for {STALL_S:.0f} s at {value:,} of {target:,}")
        if started >= next_progress:
            print(f"    {label}: {value:,} / {target:,}", flush=True)
            next_progress = started + PROGRESS_S
        time.sleep(poll)


# --- 1. raw broker limit ------------------------------------------------------------------
def raw_broker_limit(ctx: Any, args: argparse.Namespace, stamp: str,
                     oldest: datetime) -> tuple[float, float]:
    """(msg/s first publish -> N-th message at a bare subscriber, msg/s acked by the broker)."""
    root = f"bench/raw-{stamp}"  # outside phare/v1: no ingest session gets these messages
    ready, results, received = ctx.Queue(), ctx.Queue(), ctx.Value("q", 0, lock=False)
    sub = ctx.Process(target=subscriber, name="subscriber", daemon=True,
                      args=(f"{root}/#", args.messages, ready, received, results))
    procs = [sub]
    try:
        sub.start()
        gather(ready, 1, procs, "subscriber starting")
        go, published = start_publishers(ctx, root, "raw", args, oldest, procs)
        go.set()

        def read() -> int:
            if sub.exitcode not in (None, 0):
                raise BenchError(f"the subscriber exited with code {sub.exitcode}")
            return int(received.value)

        wait_for_count("messages received", args.messages, read, poll=0.1)
        last = gather(results, 1, procs, "subscriber")[0]
        first, acked = publish_times(published, procs, args.publishers)
        return args.messages / (last - first), args.messages / (acked - first)
    finally:
        stop_processes(procs)


# --- 2. end-to-end ingest -----------------------------------------------------------------
def create_tenant(conn: psycopg.Connection, slug: str, devices: int) -> tuple[int, list[int]]:
    with conn.transaction():
        tenant_id = add_tenant(conn, slug, f"Benchmark {slug}")
        uids = [r[0] for r in conn.execute(
            "insert into devices (tenant_id, id, kind, name) "
            "select %s, 'lc-' || lpad(g::text, 5, '0'), 'lighting_cabinet', 'Bench cabinet ' || g "
            "from generate_series(0, %s - 1) g returning uid", (tenant_id, devices))]
    return tenant_id, uids


def drop_tenant(conn: psycopg.Connection, tenant_id: int, uids: list[int]) -> None:
    with conn.transaction():
        # readings and events are indexed by device, not by tenant
        conn.execute("delete from readings where device_uid = any(%s)", (uids,))
        conn.execute("delete from events where device_uid = any(%s)", (uids,))
        # Then the rows of every table that names the tenant (rejected messages, the audit
        # log of its creation...): read from the foreign keys, as the schema grows.
        referencing = conn.execute(
            "select distinct n.nspname, r.relname, a.attname from pg_constraint c "
            "join pg_class r on r.oid = c.conrelid join pg_namespace n on n.oid = r.relnamespace "
            "join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1] "
            "where c.contype = 'f' and c.confrelid = 'tenants'::regclass "
            "and r.relname not in ('tenants', 'devices')").fetchall()
        for schema, table, column in referencing:
            conn.execute(sql.SQL("delete from {} where {} = %s").format(
                sql.Identifier(schema, table), sql.Identifier(column)), (tenant_id,))
        conn.execute("delete from devices where tenant_id = %s", (tenant_id,))
        conn.execute("delete from tenants where id = %s", (tenant_id,))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:", 1)[1].split()[0]) / 1024


def end_to_end(ctx: Any, settings: Settings, args: argparse.Namespace, workers: int,
               tenant: str, oldest: datetime) -> dict[str, float]:
    """Rates, CPU and peak memory of `workers` `phare ingest` processes storing N messages."""
    conn = db.connect(settings, autocommit=True)
    tenant_id, uids = create_tenant(conn, tenant, args.devices)
    print(f"  tenant {tenant} with {len(uids):,} lighting cabinets, "
          f"{workers} worker{'s' * (workers > 1)}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"phare-{tenant}-"))
    client_ids = [f"{tenant}-ingest-{w}" for w in range(workers)]
    logs = [workdir / f"ingest-{w}.log" for w in range(workers)]
    consumers: list[subprocess.Popen[bytes]] = []
    procs: list[Any] = []
    succeeded = False

    def check_alive() -> None:
        for w, c in enumerate(consumers):
            if c.poll() is not None:
                raise BenchError(f"phare ingest exited with code {c.returncode} (log: {logs[w]})")

    # Polls count the values of one metric, i.e. messages (a message's values are committed
    # together): 3x cheaper than counting them all, which every 0.25 s would take a fifth
    # of a core from the system measured. All the values are counted once at the end.
    def stored(one_metric: bool = True) -> int:
        check_alive()
        query = "select count(*) from readings where device_uid = any(%s) and ts >= %s"
        if one_metric:
            query += " and metric = 'power_w'"
        row = conn.execute(query, (uids, oldest)).fetchone()
        return int(row[0]) if row else 0

    try:
        for client_id, log in zip(client_ids, logs, strict=True):
            env = {**os.environ, "PHARE_INGEST_CLIENT_ID": client_id,
                   "PHARE_INGEST_METRICS_PORT": "0", "PHARE_INGEST_SPOOL_DIR": str(workdir),
                   "PHARE_INGEST_SHARED_GROUP": tenant if workers > 1 else ""}
            with log.open("wb") as out:
                consumers.append(subprocess.Popen(
                    [str(Path(sys.executable).parent / "phare"), "ingest"],
                    env=env, stdout=out, stderr=subprocess.STDOUT))
        # Every worker subscribed (a shared subscription hands a message to one of them)...
        deadline = time.monotonic() + 60
        while not all(SUBSCRIBED in log.read_text(errors="replace") for log in logs):
            check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"the workers did not subscribe within 60 s (logs: {workdir})")
            time.sleep(0.1)
        # ... and storing: a warm-up message, resent until stored.
        warm = connect(settings)
        warm_message = next(messages(TOPIC_ROOT, tenant, 1, 1, 0, 1, datetime.now(UTC)))
        while (baseline := stored()) == 0:
            if time.monotonic() > deadline:
                raise BenchError(f"the warm-up message was not stored within 60 s ({workdir})")
            warm.publish(*warm_message, qos=1)
            time.sleep(0.5)
        close(warm)
        print(f"  phare ingest (pid {', '.join(str(c.pid) for c in consumers)}) subscribed; "
              f"logs: {workdir}", flush=True)

        go, published = start_publishers(ctx, TOPIC_ROOT, tenant, args, oldest, procs)
        cpu_before = sum(cpu_seconds(c.pid) for c in consumers)
        go.set()
        committed = wait_for_count("messages stored", args.messages,
                                   lambda: stored() - baseline, poll=0.25)
        cpu = sum(cpu_seconds(c.pid) for c in consumers) - cpu_before
        if (values := stored(one_metric=False) - 6 * baseline) != 6 * args.messages:
            raise BenchError(f"{values:,} values stored instead of {6 * args.messages:,}")
        first, acked = publish_times(published, procs, args.publishers)
        peak_mb = sum(peak_rss_mb(c.pid) for c in consumers)
        for c in consumers:
            c.send_signal(signal.SIGTERM)
        for c, log in zip(consumers, logs, strict=True):
            if (code := c.wait(30)) != 0:
                raise BenchError(f"phare ingest exited with code {code} on SIGTERM (log: {log})")
            for line in log.read_text().splitlines()[-3:]:
                if "stopped" in line:
                    print(f"  {line.split(': ', 1)[-1]}")
        succeeded = True
        return {"rate": args.messages / (committed - first),
                "publish_rate": args.messages / (acked - first),
                "cpu_pct": 100 * cpu / (committed - first), "peak_mb": peak_mb}
    finally:
        stop_processes(procs)
        for c in consumers:
            if c.poll() is None:
                c.kill()
                c.wait()
        try:
            if args.keep:
                print(f"  kept tenant {tenant} and its readings (--keep)")
            else:
                drop_tenant(conn, tenant_id, uids)
            conn.close()
        finally:
            # Their persistent sessions would queue every phare/v1 message for 7 days: a clean
            # start with the same client id discards each.
            for client_id in client_ids:
                close(connect(settings, client_id))
        if succeeded and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


# --- main ---------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages per phase (N)")
    parser.add_argument("--devices", type=int, default=1_000, help="devices sending them (D)")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes (P)")
    parser.add_argument("--workers", default="1,2",
                        help="ingest worker counts to measure, one end-to-end run each (W,...)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the bench tenants' rows and the consumers' logs")
    args = parser.parse_args()
    try:
        args.workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error("--workers must be worker counts separated by commas, e.g. 1,2")
    if min(args.messages, args.devices, args.publishers, *args.workers) < 1:
        parser.error("--messages, --devices, --publishers and --workers must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    settings = Settings()
    # SIGTERM unwinds like Ctrl-C, so that `finally` blocks stop the children.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ctx = mp.get_context("spawn")
    start = datetime.now(UTC).replace(microsecond=0)
    oldest = start - -(-args.messages // args.devices) * INTERVAL  # newest reading: 5 min ago
    n, d, p = args.messages, args.devices, args.publishers
    title = (f"Phare ingest benchmark — {n:,} messages × 6 values, {d:,} devices, "
             f"{p} publisher{'s' * (p > 1)} (QoS 1)")
    print(title, flush=True)
    results: list[tuple[int, dict[str, float]]] = []
    try:
        print("1. raw broker limit", flush=True)
        raw, raw_publish = raw_broker_limit(ctx, args, f"{start:%Y%m%d-%H%M%S}", oldest)
        for step, workers in enumerate(args.workers, start=2):
            print(f"{step}. end-to-end ingest, {workers} worker{'s' * (workers > 1)}", flush=True)
            results.append((workers, end_to_end(
                ctx, settings, args, workers, f"bench-{start:%Y%m%d-%H%M%S}-w{workers}", oldest)))
    except (BenchError, PhareError, psycopg.Error, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"\n{title}")
    print(f"{'raw broker limit (bare subscriber)':<38} {raw:>7,.0f} msg/s")
    print(f"{'  (publish → acked by the broker)':<38} {raw_publish:>7,.0f} msg/s")
    for workers, e2e in results:
        print(f"end-to-end, {workers} worker{'s' * (workers > 1)}")
        print(f"{'  publish → committed':<38} {e2e['rate']:>7,.0f} msg/s "
              f"{e2e['rate'] * 6:>9,.0f} values/s {100 * e2e['rate'] / raw:>5.0f} % of raw")
        print(f"{'  publish → acked by the broker':<38} {e2e['publish_rate']:>7,.0f} msg/s")
        print(f"{'  consumer CPU (one core = 100 %)':<38} {e2e['cpu_pct']:>7.0f} %")
        print(f"{'  consumer peak memory':<38} {e2e['peak_mb']:>7.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
