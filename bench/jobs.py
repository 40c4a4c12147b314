"""Analytics benchmark: one simulated day of a large territory through every scheduled job.

The issue asks that one day of data from 10,000 devices goes through every job in under 60 s.
The day is simulated (`large:N`, faults injected), decoded by ingest's own decoder and stored
by ingest's own writer (COPY, hours marked for the rollups, alerts outbox) without a broker —
loading is not what is measured. Then `phare worker --once`'s runner runs every due job and
the figures of each run are printed.

    .venv/bin/python bench/jobs.py [--devices 10000] [--days 1] [--keep]

It works in a schema of its own (`bench_jobs`) of the database of PHARE_DATABASE_URL, dropped
at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.registry import JOBS  # noqa: E402
from analytics.runner import Runner  # noqa: E402
from devices.simulators.labels import store  # noqa: E402
from devices.simulators.runner import native  # noqa: E402
from devices.simulators.simulate import period, prepare, register_in_database  # noqa: E402
from ingest.decode import decode_message  # noqa: E402
from ingest.writer import Writer  # noqa: E402
from phare import db  # noqa: E402
from phare.settings import Settings  # noqa: E402

STEP = timedelta(minutes=15)
BATCH = 5000
REQUIRED_S = 60.0
SCHEMA = "bench_jobs"


def load(settings: Settings, scenario: str, days: float, now: datetime) -> tuple[int, int, float]:
    """Simulates and stores the period; returns (messages, values, seconds)."""
    start, end = period(days, None, STEP, now)
    began = time.perf_counter()
    sim = prepare(scenario, start, end)
    print(f"  territory: {len(sim.devices):,} devices "
          f"({', '.join(f'{n} {k}' for k, n in sorted(sim.territory.kinds().items()))}), "
          f"built in {time.perf_counter() - began:.1f} s")
    created, existing = register_in_database(settings, sim)
    print(f"  registered {created:,} devices ({existing:,} already there) "
          f"in {time.perf_counter() - began:.1f} s")
    messages = values = 0
    rejected: Counter[str] = Counter()
    batch = []
    shown = time.perf_counter()
    with db.connect(settings) as conn:
        writer = Writer(conn)

        def flush() -> None:
            nonlocal values
            result = writer.write(batch)
            values += result.values_stored
            rejected.update(result.rejected)
            batch.clear()

        t = start
        while t <= end:
            for device in sim.devices:
                for channel, item in device.step(t):
                    topic, payload = native(device, channel, item)
                    batch.extend(decode_message(topic, payload, max_payload_bytes=256 * 1024,
                                                max_future=timedelta(minutes=10), now=now))
                    messages += 1
                    if len(batch) >= BATCH:
                        flush()
            if time.perf_counter() - shown > 5:
                shown = time.perf_counter()
                print(f"  simulated to {t:%Y-%m-%d %H:%M}: {messages:,} messages, "
                      f"{values:,} values stored", flush=True)
            t += STEP
        if batch:
            flush()
        labels = sim.labels()
        store(conn, labels, sim.run)
        conn.commit()
    if rejected:
        print(f"  rejected while loading: {dict(rejected)}")
    return messages, values, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--keep", action="store_true", help="keep the bench_jobs schema")
    args = parser.parse_args()
    os.environ.setdefault("PHARE_DATABASE_SCHEMA", SCHEMA)
    settings = Settings()
    url = settings.database_url.get_secret_value()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("drop schema if exists {} cascade").format(
            psycopg.sql.Identifier(settings.database_schema)))
    db.migrate(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    scenario = f"large:{args.devices}"
    print(f"{scenario}, {args.days:g} simulated day(s) ending {now:%Y-%m-%d %H:%M} UTC, "
          f"schema {settings.database_schema}; load {os.getloadavg()[0]:.2f}")
    try:
        messages, values, seconds = load(settings, scenario, args.days, now)
        print(f"loaded {messages:,} messages, {values:,} values in {seconds:.0f} s "
              "(not measured: the bench times the jobs)")
        with db.connect(settings) as conn:  # what the jobs start from, as ingest leaves it
            conn.execute("analyze")
            conn.commit()
        began = time.perf_counter()
        records = Runner(settings).run_due()
        total = time.perf_counter() - began
        print(f"\n{'job':<16}{'status':<8}{'rows':>10}{'seconds':>10}")
        for r in records:
            print(f"{r.job:<16}{r.status:<8}{r.rows:>10,}"
                  f"{(r.finished_at - r.started_at).total_seconds():>10.1f}")
            if r.error:
                print(f"    error: {r.error}")
        missing = sorted(set(JOBS) - {r.job for r in records})
        if missing:
            print(f"not run (not due): {', '.join(missing)}")
        ok = total < REQUIRED_S and all(r.status == "ok" for r in records) and not missing
        print(f"\nevery job over one day of {args.devices:,} devices: {total:.1f} s "
              f"(required < {REQUIRED_S:g} s): {'PASS' if ok else 'FAIL'}; "
              f"load {os.getloadavg()[0]:.2f}")
    finally:
        if not args.keep:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(psycopg.sql.SQL("drop schema if exists {} cascade").format(
                    psycopg.sql.Identifier(settings.database_schema)))


if __name__ == "__main__":
    main()
