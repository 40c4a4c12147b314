"""Ingest benchmark: telemetry messages a second that Phare stores, against the broker's limit.

On the local stack (PHARE_* settings), one run measures:
1. raw broker limit: P publisher processes send N QoS 1 messages to a bench-only topic as
   fast as Mosquitto takes them; a bare paho subscriber (MQTT 5, QoS 1, auto-ack, its own
   process) counts them. Rate: N / (first publish -> N-th message received).
2. end-to-end: `phare ingest` (a subprocess, its own client id) stores N contract telemetry
   messages of 6 values for D lighting cabinets of a fresh tenant `bench-<time>`. Rate:
   N / (first publish -> all N x 6 values counted in the database); the consumer's CPU
   time and peak RSS (VmHWM). It is then stopped with SIGTERM (it must exit 0), its broker
   session discarded and the tenant's rows deleted (unless --keep).

    .venv/bin/python bench/ingest.py [--messages N] [--devices D] [--publishers P] [--keep]
    (--workers W > 1, several consumers, waits for shared subscriptions in `phare ingest`)
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
    """Counts the messages of `topic` (auto-acknowledged); reports when the N-th arrived."""
    done, count = threading.Event(), 0

    def on_message(*_: object) -> None:
        nonlocal count
        count += 1
        if count % 1000 == 0 or count == n:
            received.value = count
        if count == n:
            results.put(time.monotonic())
            done.set()

    client = connect(Settings())
    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.put("subscribed")
    client.subscribe(topic, qos=1)
    done.wait()
    close(client)


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
        conn.execute("delete from rejected_messages where tenant_id = %s", (tenant_id,))
        conn.execute("delete from commands where tenant_id = %s", (tenant_id,))
        conn.execute("delete from devices where tenant_id = %s", (tenant_id,))
        conn.execute("delete from tenants where id = %s", (tenant_id,))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:", 1)[1].split()[0]) / 1024


def end_to_end(ctx: Any, settings: Settings, args: argparse.Namespace, tenant: str,
               oldest: datetime) -> dict[str, float]:
    """Rates, consumer CPU and peak memory of `phare ingest` storing N messages."""
    conn = db.connect(settings, autocommit=True)
    tenant_id, uids = create_tenant(conn, tenant, args.devices)
    print(f"  tenant {tenant} with {len(uids):,} lighting cabinets", flush=True)
    client_id, workdir = f"{tenant}-ingest", Path(tempfile.mkdtemp(prefix=f"phare-{tenant}-"))
    log = workdir / "ingest.log"
    env = {**os.environ, "PHARE_INGEST_CLIENT_ID": client_id, "PHARE_INGEST_METRICS_PORT": "0",
           "PHARE_INGEST_SPOOL_DIR": str(workdir)}
    with log.open("wb") as out:
        consumer = subprocess.Popen([str(Path(sys.executable).parent / "phare"), "ingest"],
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
    procs: list[Any] = []
    succeeded = False

    # Polls count the values of one metric, i.e. messages (a message's values are committed
    # together): 3x cheaper than counting them all, which every 0.25 s would take a fifth
    # of a core from the system measured. All the values are counted once at the end.
    def stored(one_metric: bool = True) -> int:
        if consumer.poll() is not None:
            raise BenchError(f"phare ingest exited with code {consumer.returncode} (log: {log})")
        query = "select count(*) from readings where device_uid = any(%s) and ts >= %s"
        if one_metric:
            query += " and metric = 'power_w'"
        row = conn.execute(query, (uids, oldest)).fetchone()
        return int(row[0]) if row else 0

    try:
        # Warm-up, resent until stored: a message sent before the subscription is not kept.
        warm = connect(settings)
        warm_message = next(messages(TOPIC_ROOT, tenant, 1, 1, 0, 1, datetime.now(UTC)))
        deadline = time.monotonic() + 60
        while (baseline := stored()) == 0:
            if time.monotonic() > deadline:
                raise BenchError(f"the warm-up message was not stored within 60 s (log: {log})")
            warm.publish(*warm_message, qos=1)
            time.sleep(0.5)
        close(warm)
        print(f"  phare ingest (pid {consumer.pid}) is subscribed; log: {log}", flush=True)

        go, published = start_publishers(ctx, TOPIC_ROOT, tenant, args, oldest, procs)
        cpu_before = cpu_seconds(consumer.pid)
        go.set()
        committed = wait_for_count("messages stored", args.messages,
                                   lambda: stored() - baseline, poll=0.25)
        cpu = cpu_seconds(consumer.pid) - cpu_before
        if (values := stored(one_metric=False) - 6 * baseline) != 6 * args.messages:
            raise BenchError(f"{values:,} values stored instead of {6 * args.messages:,}")
        first, acked = publish_times(published, procs, args.publishers)
        peak_mb = peak_rss_mb(consumer.pid)
        consumer.send_signal(signal.SIGTERM)
        if (code := consumer.wait(30)) != 0:
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
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
        if args.keep:
            print(f"  kept tenant {tenant} and its readings (--keep)")
        else:
            drop_tenant(conn, tenant_id, uids)
        conn.close()
        # Its persistent session would queue every phare/v1 message for 7 days: a clean
        # start with the same client id discards it.
        close(connect(settings, client_id))
        if succeeded and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


# --- main ---------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages per phase (N)")
    parser.add_argument("--devices", type=int, default=1_000, help="devices sending them (D)")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes (P)")
    parser.add_argument("--workers", type=int, default=1, help="ingest consumers (W)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the bench tenant's rows and the consumer's log")
    args = parser.parse_args()
    if args.workers != 1:
        parser.error("--workers must be 1 for now: several consumers need MQTT shared "
                     "subscriptions ($share/...), which `phare ingest` does not support yet")
    if min(args.messages, args.devices, args.publishers) < 1:
        parser.error("--messages, --devices and --publishers must be at least 1")
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
    try:
        print("1. raw broker limit", flush=True)
        raw, raw_publish = raw_broker_limit(ctx, args, f"{start:%Y%m%d-%H%M%S}", oldest)
        print("2. end-to-end ingest", flush=True)
        e2e = end_to_end(ctx, settings, args, f"bench-{start:%Y%m%d-%H%M%S}", oldest)
    except (BenchError, PhareError, psycopg.Error, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"\n{title}")
    print(f"{'raw broker limit (bare subscriber)':<38} {raw:>7,.0f} msg/s")
    print(f"{'  (publish → acked by the broker)':<38} {raw_publish:>7,.0f} msg/s")
    print(f"{'end-to-end (publish → committed)':<38} {e2e['rate']:>7,.0f} msg/s "
          f"{e2e['rate'] * 6:>9,.0f} values/s {100 * e2e['rate'] / raw:>5.0f} % of raw")
    print(f"{'  (publish → acked by the broker)':<38} {e2e['publish_rate']:>7,.0f} msg/s")
    print(f"{'consumer CPU (one core = 100 %)':<38} {e2e['cpu_pct']:>7.0f} %")
    print(f"{'consumer peak memory':<38} {e2e['peak_mb']:>7.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
