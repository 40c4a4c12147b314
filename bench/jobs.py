"""Analytics benchmark: one simulated day of a large territory through every scheduled job.

The issue asks that one day of data from 10,000 devices goes through every job in under 60 s.
The day is simulated by the vectorised engine (`large:N`, faults injected), decoded by
ingest's own decoder and stored by ingest's own writer (COPY, hours marked for the rollups,
alerts outbox) without a broker — loading is not what is measured. Then `phare worker
--once`'s runner runs every due job and the figures of each run are printed.

    .venv/bin/python bench/jobs.py [--devices 10000] [--days 1] [--keep] [--reuse]
                                   [--jobs rollups,energy] [--history 365]

It works in a schema of its own (`bench_jobs`, or PHARE_DATABASE_SCHEMA) of the database of
PHARE_DATABASE_URL, dropped at the end unless --keep or --reuse. Loading takes minutes: with
--reuse, a schema kept by an earlier load (of the same --devices and --days) is put back as the
load left it (what the jobs wrote is emptied, the dirty log restored) and the jobs run again on
the same clock, so each run redoes the same work as the first; --jobs runs only some of them.
--history N gives each public building N days of daily rollups before the simulated period
(its simulated consumption give or take 10 %, used on weekdays), so that the energy job fits
and judges real baselines instead of finding too little history.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.registry import JOBS  # noqa: E402
from analytics.runner import Runner  # noqa: E402
from devices.simulators.labels import store  # noqa: E402
from devices.simulators.simulate import period, prepare, register_in_database  # noqa: E402
from devices.simulators.vector.engine import batches  # noqa: E402
from ingest.decode import decode_message  # noqa: E402
from ingest.writer import Writer  # noqa: E402
from phare import db  # noqa: E402
from phare.settings import Settings  # noqa: E402

STEP = timedelta(minutes=15)
BATCH = 5000
REQUIRED_S = 60.0
SCHEMA = "bench_jobs"
# What the jobs write, emptied before a rerun on a kept schema (readings, devices and the other
# tables ingest writes stay as loaded).
JOB_TABLES = ("readings_hourly", "readings_daily", "rollup_dirty", "job_state", "job_runs",
              "alerts", "alert_transitions", "notification_log", "cap_messages", "commands",
              "command_groups", "command_events")


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

        # The vectorised engine (devices/simulators/vector): the day in seconds, not minutes.
        for step in batches(sim, start, end, STEP):
            for topic, payload in zip(step.topics, step.payloads, strict=True):
                batch.extend(decode_message(topic, payload, max_payload_bytes=256 * 1024,
                                            max_future=timedelta(minutes=10), now=now))
                messages += 1
                if len(batch) >= BATCH:
                    flush()
            if time.perf_counter() - shown > 5:
                shown = time.perf_counter()
                print(f"  simulated to {step.at:%Y-%m-%d %H:%M}: {messages:,} messages, "
                      f"{values:,} values stored", flush=True)
        if batch:
            flush()
        labels = sim.labels()
        store(conn, labels, sim.run)
        conn.commit()
    if rejected:
        print(f"  rejected while loading: {dict(rejected)}")
    return messages, values, time.perf_counter() - began


def save_loaded(conn: psycopg.Connection, now: datetime, devices: int, days: float) -> None:
    """Records what was loaded, and the dirty log as ingest left it, for a later --reuse."""
    conn.execute("create table bench_meta (now timestamptz not null, devices integer not null, "
                 "days double precision not null)")
    conn.execute("insert into bench_meta values (%s, %s, %s)", (now, devices, days))
    conn.execute("create table bench_dirty as select * from rollup_dirty")


def loaded(conn: psycopg.Connection) -> tuple[datetime, int, float] | None:
    """The clock, devices and days of a kept load; None if the schema holds none."""
    if conn.execute("select to_regclass('bench_meta')").fetchone() == (None,):
        return None
    row = conn.execute("select now, devices, days from bench_meta").fetchone()
    return None if row is None else (row[0], row[1], row[2])


def reset(conn: psycopg.Connection) -> None:
    """Puts a kept schema back as the load left it: what the jobs wrote is emptied."""
    conn.execute(psycopg.sql.SQL("truncate {} restart identity cascade").format(
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, JOB_TABLES))))
    conn.execute("insert into rollup_dirty (hour, uid_min, uid_max) "
                 "select hour, uid_min, uid_max from bench_dirty order by id")


# Daily rollups of the buildings before the simulated period, scaled on each building's
# simulated day (mean power, index steps), 10 % noise, occupied on weekdays.
_HISTORY = """
with simulated as (
    select d.uid, d.tenant_id,
           avg(r.value) filter (where r.metric = 'power_w') as power,
           max(r.value) filter (where r.metric = 'gas_kwh')
             - min(r.value) filter (where r.metric = 'gas_kwh') as gas,
           max(r.value) filter (where r.metric = 'occupancy') as occupancy
    from devices d join readings r on r.device_uid = d.uid
    where d.kind = 'building_meter' and r.metric in ('power_w', 'gas_kwh', 'occupancy')
    group by d.uid, d.tenant_id
),
days as (
    select s.*, day, extract(isodow from day) < 6 as weekday, 0.9 + 0.2 * random() as noise,
           (day::timestamp at time zone 'Europe/Paris') as bucket
    from simulated s
    cross join generate_series(%(first)s::date - %(days)s, %(first)s::date - 1, '1 day') day
)
insert into readings_daily
    (tenant_id, device_uid, metric, bucket, avg, min, max, count, last, delta, computed_at)
select tenant_id, uid, m.metric, bucket, m.value, m.value, m.value, 96, 0, m.delta, now()
from days cross join lateral (values
    ('electricity_kwh', 0.0,
     coalesce(power, 0) * 24 / 1000 * noise * (case when weekday then 1 else 0.6 end)),
    ('power_w', coalesce(power, 0) * noise, null),
    ('occupancy', case when weekday then coalesce(occupancy, 1) else 0 end, null))
    m(metric, value, delta)
union all
select tenant_id, uid, 'gas_kwh', bucket, 0, 0, 0, 96, 0, gas * noise, now()
from days where gas is not null
"""


def add_history(conn: psycopg.Connection, now: datetime, days: float, history: int) -> int:
    """Writes `history` days of daily building rollups before the simulated period."""
    start, _ = period(days, None, STEP, now)
    first = start.astimezone(ZoneInfo("Europe/Paris")).date()
    conn.execute("select setseed(0.42)")
    return conn.execute(_HISTORY, {"first": first, "days": history}).rowcount


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--keep", action="store_true", help="keep the bench_jobs schema")
    parser.add_argument("--reuse", action="store_true",
                        help="rerun the jobs on a kept load of the same size (kept again)")
    parser.add_argument("--jobs", help="comma-separated jobs to run (default: every job)")
    parser.add_argument("--history", type=int, default=0,
                        help="days of daily building rollups before the simulated period")
    args = parser.parse_args()
    jobs = JOBS if not args.jobs else {n: j for n, j in JOBS.items() if n in args.jobs.split(",")}
    if args.jobs and set(args.jobs.split(",")) - set(jobs):
        parser.error(f"unknown job(s); known: {', '.join(JOBS)}")
    os.environ.setdefault("PHARE_DATABASE_SCHEMA", SCHEMA)
    settings = Settings()
    url = settings.database_url.get_secret_value()
    scenario = f"large:{args.devices}"
    kept = None
    if args.reuse:
        db.migrate(settings)  # a schema kept by an older checkout gets the newer migrations
        with db.connect(settings) as conn:
            kept = loaded(conn)
            if kept is not None and kept[1:] != (args.devices, args.days):
                print(f"the kept schema holds {kept[1]:,} devices over {kept[2]:g} day(s): "
                      "loading again")
                kept = None
            if kept is not None:
                reset(conn)
                conn.execute("analyze")
                conn.commit()
    if kept is None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("drop schema if exists {} cascade").format(
                psycopg.sql.Identifier(settings.database_schema)))
        db.migrate(settings)
    now = datetime.now(UTC).replace(microsecond=0) if kept is None else kept[0]
    print(f"{scenario}, {args.days:g} simulated day(s) ending {now:%Y-%m-%d %H:%M} UTC, "
          f"schema {settings.database_schema}{' (reused)' if kept else ''}; "
          f"load {os.getloadavg()[0]:.2f}")
    try:
        if kept is None:
            messages, values, seconds = load(settings, scenario, args.days, now)
            print(f"loaded {messages:,} messages, {values:,} values in {seconds:.0f} s "
                  "(not measured: the bench times the jobs)")
            with db.connect(settings) as conn:  # what the jobs start from, as ingest leaves it
                save_loaded(conn, now, args.devices, args.days)
                conn.execute("analyze")
                conn.commit()
        if args.history:
            with db.connect(settings) as conn:
                rows = add_history(conn, now, args.days, args.history)
                conn.commit()
            print(f"  {rows:,} daily rollups of buildings over the {args.history} days before")
        # The jobs' clock starts at the load's end, so a rerun judges the same days.
        began = time.perf_counter()
        clock = lambda: now + timedelta(seconds=time.perf_counter() - began)  # noqa: E731
        records = Runner(settings, jobs=jobs, clock=clock).run_due()
        total = time.perf_counter() - began
        print(f"\n{'job':<16}{'status':<8}{'rows':>10}{'seconds':>10}")
        for r in records:
            print(f"{r.job:<16}{r.status:<8}{r.rows:>10,}"
                  f"{(r.finished_at - r.started_at).total_seconds():>10.1f}")
            if r.error:
                print(f"    error: {r.error}")
        missing = sorted(set(jobs) - {r.job for r in records})
        if missing:
            print(f"not run (not due): {', '.join(missing)}")
        ok = total < REQUIRED_S and all(r.status == "ok" for r in records) and not missing
        which = "every job" if jobs is JOBS else ", ".join(jobs)
        print(f"\n{which} over {args.days:g} day(s) of {args.devices:,} devices: {total:.1f} s "
              f"(required < {REQUIRED_S:g} s): {'PASS' if ok else 'FAIL'}; "
              f"load {os.getloadavg()[0]:.2f}")
    finally:
        if not (args.keep or args.reuse):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(psycopg.sql.SQL("drop schema if exists {} cascade").format(
                    psycopg.sql.Identifier(settings.database_schema)))


if __name__ == "__main__":
    main()
