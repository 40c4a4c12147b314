"""Readings benchmark: one device's 30 days in hourly buckets, through the HTTP API, with a
syndicate's worth of history stored.

The load (defaults): 10,000 devices (lighting cabinets of 50 communes under one syndicate),
90 days, 2 metrics a device (`power_w`, `energy_kwh`), one reading every 15 minutes: 172.8 M
raw rows in `readings`, 43.2 M in `readings_hourly`, 1.8 M in `readings_daily`, each tier at
the size that history gives it. Raw rows are generated in SQL (`insert … select` over
generate_series, one transaction per day, device by device so the index grows in order); each
day's hourly rollups are then aggregated in SQL from that day's raw rows, with the columns and
meaning analytics/rollups.py gives them (avg, min, max, count, last, and the consumption
`delta` of the cumulative index), and the daily ones from the hourly ones; the rollup job
itself would roughly double the set-up time. `--rollup-job` runs the real job
(`phare worker --once`) instead. The rollup job's watermark is set to the last complete
hour, as the worker leaves it, so the API serves whole hours from the rollups and the rest
from raw readings, as in production.

Then `phare api` (uvicorn, one process) serves the schema on a private port, and N sequential
requests, each for a random device and metric and a random 30-day window inside the 90 days:

    GET /api/v1/devices/{tenant}/{device}/readings?metric=…&from=…&to=…&bucket=1h

with a real API key of the syndicate (row-level security on), over one keep-alive connection.
It prints p50/p95/p99 (client-side wall time, request sent to body read), the points per
answer, the tables' sizes, and the machine's load average (the machine is shared).

    .venv/bin/python bench/readings.py [--devices 10000] [--days 90] [--requests 1000]
                                       [--jobs 2] [--small] [--rollup-job] [--keep]
                                       [--schema NAME] [--reuse]

`--small`: 500 devices, 35 days (a minute). The schema (`bench_readings` by default) is
dropped at the end unless `--keep`; `--reuse` measures a kept schema again without
regenerating it.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from phare import db
from phare.settings import Settings
from phare.tenancy import add_tenant, create_api_key

ROOT = Path(__file__).resolve().parent.parent
PHARE = str(Path(sys.executable).parent / "phare")
INTERVAL = timedelta(minutes=15)
ALL_METRICS: tuple[str, ...] = ("power_w", "energy_kwh")  # one gauge, one cumulative index (with `delta`)
METRICS = ALL_METRICS
COMMUNES = 50
SYNDICATE = "bench-syndicat"
WINDOW = timedelta(days=30)

# One value of a device's metric at an instant: a night-time lighting load and its energy index,
# deterministic so that raw rows and rollups agree.
_POWER = "(800 + mod(uid, 400) + 300 * sin(extract(epoch from ts) / 3600.0 + uid))"
_ENERGY = ("(uid * 10.0 + extract(epoch from ts - %(t0)s) / 3600.0 "
           "* (0.8 + mod(uid, 400) / 1000.0))")

_RAW_DAY = sql.SQL(f"""
insert into readings (ts, tenant_id, device_uid, metric, value)
select ts, d.tenant_id, d.uid, m.metric,
       case m.metric when 'power_w' then {_POWER.replace('uid', 'd.uid')}
                     else {_ENERGY.replace('uid', 'd.uid')} end
from devices d
cross join lateral unnest(%(metrics)s::text[]) m(metric)
cross join lateral generate_series(%(day)s, %(day)s + interval '1 day' - %(step)s, %(step)s) ts
where d.uid between %(lo)s and %(hi)s
""")  # noqa: S608 - constant formulas, parameters bound
# The hourly rollups of one day, as analytics/rollups.py defines them, from the raw rows.
_HOURLY_DAY = sql.SQL("""
insert into readings_hourly
    (tenant_id, device_uid, metric, bucket, avg, min, max, count, last, delta, computed_at)
select r.tenant_id, r.device_uid, r.metric, time_bucket('1 hour', r.ts), avg(r.value),
       min(r.value), max(r.value), count(*), last(r.value, r.ts),
       case when r.metric = 'energy_kwh' then max(r.value) - min(r.value)
            + %(step_h)s * (0.8 + mod(r.device_uid, 400) / 1000.0) end, now()
from readings r
where r.ts >= %(day)s and r.ts < %(day)s + interval '1 day'
  and r.device_uid between %(lo)s and %(hi)s
group by 1, 2, 3, 4
""")
_DAILY = sql.SQL("""
insert into readings_daily
    (tenant_id, device_uid, metric, bucket, avg, min, max, count, last, delta, computed_at)
select tenant_id, device_uid, metric, time_bucket('1 day', bucket, 'Europe/Paris'),
       sum(avg * count) / sum(count), min(min), max(max), sum(count), last(last, bucket),
       sum(delta), now()
from readings_hourly group by 1, 2, 3, 4
""")


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def generate(settings: Settings, args: argparse.Namespace) -> tuple[datetime, datetime]:
    """Tenants, devices, readings and rollups; returns the [start, end) of the history."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=args.days)
    with db.connect(settings, autocommit=True) as conn:
        add_tenant(conn, SYNDICATE, "Syndicat de banc d'essai")
        for c in range(COMMUNES):
            add_tenant(conn, f"bench-commune-{c:02d}", f"Commune {c:02d}", parent=SYNDICATE)
        conn.execute(
            "insert into devices (tenant_id, id, kind, name, location) "
            "select t.id, format('armoire-%%s', lpad(i::text, 5, '0')), 'lighting_cabinet', "
            "format('Armoire %%s', i), st_makepoint(2.5 + (i %% 100) * 0.01, "
            "45.0 + (i / 100) * 0.01)::geography "
            "from generate_series(0, %s - 1) i "
            "join tenants t on t.slug = format('bench-commune-%%s', lpad((i %% %s)::text, 2, '0'))",
            (args.devices, COMMUNES))
        lo, hi = conn.execute("select min(uid), max(uid) from devices").fetchone()  # type: ignore[misc]
        if not args.rollup_job:
            # Where the worker leaves it: every hour before the current one rolled up.
            conn.execute("insert into job_state (job, watermark, updated_at) "
                         "values ('rollups', %s, now())", (end,))
    params = {"metrics": list(METRICS), "step": INTERVAL, "t0": start, "lo": lo, "hi": hi,
              "step_h": INTERVAL.total_seconds() / 3600}
    days = [start + timedelta(days=n) for n in range(args.days)]
    done: list[datetime] = []
    began = time.monotonic()

    def load(share: list[datetime]) -> None:
        with db.connect(settings, autocommit=True) as c:
            c.execute("set synchronous_commit = off")
            for day in share:
                with c.transaction():
                    c.execute(_RAW_DAY, {**params, "day": day})
                    if not args.rollup_job:
                        c.execute(_HOURLY_DAY, {**params, "day": day})
                done.append(day)

    # Days shared among `--jobs` connections, so that the load does not wait on one core.
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(load, days[j::args.jobs]) for j in range(args.jobs)]
        tty = sys.stdout.isatty()
        while not all(f.done() for f in futures):
            time.sleep(2 if tty else 60)
            rows = len(done) * args.devices * len(METRICS) * (timedelta(days=1) // INTERVAL)
            elapsed = time.monotonic() - began
            print(f"\r  {len(done)}/{args.days} days: {rows / 1e6:,.1f} M raw rows, "
                  f"{rows / elapsed / 1e3:,.0f} k rows/s, {elapsed / 60:.0f} min, "
                  f"load {load_average()}   ", end="" if tty else "\n", flush=True)
        for f in futures:
            f.result()
    with db.connect(settings, autocommit=True) as conn:
        print()
        if args.rollup_job:
            print("  rolling up with the real job (phare worker --once)…", flush=True)
            env = {**os.environ, "PHARE_DATABASE_SCHEMA": settings.database_schema}
            subprocess.run([PHARE, "worker", "--once"], env=env, check=True)
        else:
            conn.execute(_DAILY)
        # What autovacuum does to rollup chunks soon after the job writes them: the visibility
        # map that lets the API read buckets from the index alone (migration 0010).
        print("  vacuum analyze of the rollups, analyze…", flush=True)
        conn.execute("vacuum (analyze) readings_hourly")
        conn.execute("vacuum (analyze) readings_daily")
        conn.execute("analyze readings; analyze devices; analyze tenants")
    return start, end


def sizes(settings: Settings) -> list[str]:
    lines = []
    with db.connect(settings, autocommit=True) as conn:
        for table in ("readings", "readings_hourly", "readings_daily"):
            rows, size = conn.execute(
                sql.SQL("select (select count(*) from {}), "
                        "pg_size_pretty(hypertable_size(%s::regclass))").format(
                    sql.Identifier(table)), (table,)).fetchone()  # type: ignore[misc]
            lines.append(f"{table:<16} {rows:>14,} rows  {size:>10} (with indexes)")
    return lines


def baseline(port: int, key: str, devices: list[tuple[str, str]], requests: int) -> list[float]:
    """The same key reading one device (authentication, scope, one query): what any request
    costs on this machine now, for comparison."""
    rng = random.Random(8)
    latencies = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                      headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for n in range(requests + 20):
            tenant, device = rng.choice(devices)
            sent = time.perf_counter()
            response = client.get(f"/api/v1/devices/{tenant}/{device}")
            response.json()
            took = time.perf_counter() - sent
            if response.status_code != 200:
                raise BenchError(f"{response.status_code}: {response.text[:300]}")
            if n >= 20:
                latencies.append(took * 1000)
    return latencies


def measure(port: int, key: str, devices: list[tuple[str, str]], start: datetime,
            end: datetime, requests: int) -> tuple[list[float], list[int]]:
    rng = random.Random(7)
    latencies, points = [], []
    span = int((end - start - WINDOW).total_seconds() // 3600)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                      headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for n in range(requests + 20):
            tenant, device = rng.choice(devices)
            frm = start + timedelta(hours=rng.randint(0, span), minutes=rng.choice((0, 7, 30)))
            params = {"metric": rng.choice(METRICS), "from": frm.isoformat(),
                      "to": (frm + WINDOW).isoformat(), "bucket": "1h"}
            sent = time.perf_counter()
            response = client.get(f"/api/v1/devices/{tenant}/{device}/readings", params=params)
            body = response.json()
            took = time.perf_counter() - sent
            if response.status_code != 200:
                raise BenchError(f"{response.status_code}: {response.text[:300]}")
            if n >= 20:  # the first requests warm the pool and the caches
                latencies.append(took * 1000)
                points.append(body["count"])
    return latencies, points


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=1, help="connections loading the history")
    parser.add_argument("--metrics", type=int, choices=(1, 2), default=2,
                        help="metrics a device: power_w, then energy_kwh")
    parser.add_argument("--small", action="store_true", help="500 devices, 35 days")
    parser.add_argument("--rollup-job", action="store_true",
                        help="roll up with `phare worker --once` instead of SQL")
    parser.add_argument("--schema", default="bench_readings")
    parser.add_argument("--keep", action="store_true", help="keep the schema")
    parser.add_argument("--reuse", action="store_true", help="measure a kept schema again")
    args = parser.parse_args()
    if args.small:
        args.devices, args.days = 500, 35
    global METRICS
    METRICS = ALL_METRICS[:args.metrics]
    if args.days < 31:
        raise SystemExit("--days must be at least 31 (30-day windows inside the history)")
    settings = Settings().model_copy(update={"database_schema": args.schema})
    if args.schema in ("phare", "public"):
        raise SystemExit("use a schema of the bench's own")
    rows = args.devices * args.days * len(METRICS) * (timedelta(days=1) // INTERVAL)
    print(f"load: {args.devices:,} devices x {args.days} days x {len(METRICS)} metrics every "
          f"{INTERVAL.total_seconds() / 60:.0f} min = {rows / 1e6:,.1f} M raw rows "
          f"(schema {args.schema}); load average {load_average()}")
    api: subprocess.Popen[bytes] | None = None
    logs = Path(tempfile.mkdtemp(prefix="phare-bench-readings-"))
    try:
        if args.reuse:
            with db.connect(settings, autocommit=True) as conn:
                first, last = conn.execute("select min(ts), max(ts) from readings").fetchone()  # type: ignore[misc]
            start, end = first, last + INTERVAL
        else:
            with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True) as c:
                c.execute(sql.SQL("drop schema if exists {} cascade").format(
                    sql.Identifier(args.schema)))
            db.migrate(settings)
            began = time.monotonic()
            start, end = generate(settings, args)
            print(f"  generated in {time.monotonic() - began:,.0f} s")
        for line in sizes(settings):
            print("  " + line)
        with db.connect(settings, autocommit=True) as conn:
            key = create_api_key(conn, SYNDICATE, "viewer")
            devices = [(r[0], r[1]) for r in conn.execute(
                "select t.slug, d.id from devices d join tenants t on t.id = d.tenant_id")]
        port = free_port()
        env = {**os.environ, "PHARE_DATABASE_SCHEMA": args.schema,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                          os.environ.get("PYTHONPATH")]))}
        with (logs / "api.log").open("wb") as log:
            api = subprocess.Popen([PHARE, "api", "--port", str(port)], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or api.poll() is not None:
                    raise BenchError(f"the API did not start (see {logs}/api.log)") from None
                time.sleep(0.2)
        print(f"measuring {args.requests} requests (30 days, bucket=1h), load average "
              f"{load_average()}", flush=True)
        latencies, points = measure(port, key, devices, start, end, args.requests)
        print(f"  points per answer   {statistics.median(points):,.0f} (median)")
        print(f"  p50                 {percentile(latencies, 50):7.1f} ms")
        print(f"  p95                 {percentile(latencies, 95):7.1f} ms")
        print(f"  p99                 {percentile(latencies, 99):7.1f} ms")
        print(f"  max                 {max(latencies):7.1f} ms")
        base = baseline(port, key, devices, max(100, args.requests // 5))
        print(f"baseline: GET /api/v1/devices/{{tenant}}/{{device}} (auth, scope, one query), "
              f"{len(base)} requests")
        print(f"  p50 {percentile(base, 50):.1f} ms, p95 {percentile(base, 95):.1f} ms")
        print(f"  load average after  {load_average()}")
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=10)
        if not args.keep:
            with psycopg.connect(settings.database_url.get_secret_value(), autocommit=True) as c:
                c.execute(sql.SQL("drop schema if exists {} cascade").format(
                    sql.Identifier(args.schema)))
            print(f"schema {args.schema} dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
