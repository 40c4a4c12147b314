"""Fire, flood and lighting scored on the default scenario (issue #5's figures).

    PHARE_DATABASE_SCHEMA=bench_hazards_lighting .venv/bin/python bench/hazards_lighting.py \
        [--days 60] [--seed 42] [--nights 3] [--part hazards|lighting|both]

Hazards: the scenario's hazard detectors (smoke detectors in public buildings, river gauges,
low points) live `--days` days with their injected faults (fires, false alarms, tampers,
storms) and their weekly self-tests, in process (no broker): every six simulated hours go
through ingest's writer (the outbox) to the real rules engine, its clock at the end of them.
Then `analytics/evaluate.py` scores `hazards.fire` and `hazards.flood` against the run's
ground truth and sorts the fire alerts by cause.

Lighting: the scenario's cabinets, with a stored policy for one commune and a dark zone; for
each of `--nights` past nights, the lighting job queues the night's schedules (its clock at
noon), every simulated cabinet applies its own and lives the night, its readings stored as
ingest stores them; then `evaluate_lighting`: the share of the coming week's schedules that
pass the regulatory check, and the measured energy of the lived nights against the prediction.

The schema (default `bench_hazards_lighting`) is dropped and recreated first: use one of your own.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

# bench/ingest.py would shadow the ingest package: the repository comes first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.engine import Engine  # noqa: E402
from analytics.evaluate import (  # noqa: E402
    evaluate,
    evaluate_lighting,
    hazard_report,
    hazard_table,
    lighting_table,
    table,
)
from analytics.job import JobContext  # noqa: E402
from analytics.jobs import lighting as lighting_job  # noqa: E402
from analytics.lighting import PARIS  # noqa: E402
from analytics.lighting_store import steps_of  # noqa: E402
from devices.messages import Command, Event, Reading  # noqa: E402
from devices.simulators import labels as truth  # noqa: E402
from devices.simulators.hazard import HazardDetector  # noqa: E402
from devices.simulators.lighting import LightingCabinet  # noqa: E402
from devices.simulators.simulate import Simulation, prepare, register_in_database  # noqa: E402
from ingest.model import Decoded  # noqa: E402
from ingest.writer import Writer  # noqa: E402
from phare import db  # noqa: E402
from phare.settings import Settings  # noqa: E402

STEP = timedelta(minutes=15)
BATCH_STEPS = 24  # six hours a write
HAZARD_LABELS = ("fire", "false_alarm", "flood")


def fresh_schema(settings: Settings) -> None:
    base = settings.model_copy(update={"database_schema": "public"})
    with db.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(
            sql.Identifier(settings.database_schema)))
    db.migrate(settings)


def messages(device: Any, t: datetime) -> Decoded | None:
    values: list[tuple[datetime, str, float]] = []
    events: list[Event] = []
    for _, payload in device.step(t):
        for item in payload if isinstance(payload, list) else [payload]:
            if isinstance(item, Reading):
                values += [(item.ts, m, float(v)) for m, v in item.metrics.items()]
            elif isinstance(item, Event):
                events.append(item)
    if not values and not events:
        return None
    return Decoded(topic="bench", payload=b"", tenant=device.tenant, device_id=device.device_id,
                   values=values, events=events)


def hazards(settings: Settings, sim: Simulation, start: datetime, end: datetime) -> None:
    """Replays the hazard detectors through the writer and the rules engine; prints scores."""
    devices = [d for d in sim.devices if isinstance(d, HazardDetector)]
    ids = {(d.tenant, d.device_id) for d in devices}
    labels = [x for x in sim.labels(end) if (x.tenant, x.device_id) in ids
              and x.type in HAZARD_LABELS]
    with db.connect(settings, autocommit=True) as conn:
        truth.store(conn, labels, sim.run)
    print(f"hazards: {len(devices)} detectors, {(end - start).days} days, labels "
          f"{dict(Counter(x.type for x in labels))}")
    now = [start]
    engine = Engine(settings.model_copy(update={"alerts_stale_after_s": 86400}),
                    clock=lambda: now[0])
    began = time.perf_counter()
    items = 0
    with db.connect(settings) as wconn, db.connect(settings, autocommit=True) as econn:
        writer = Writer(wconn)
        t = start
        while t < end:
            batch = []
            for _ in range(BATCH_STEPS):
                t += STEP
                batch += [m for d in devices if (m := messages(d, t)) is not None]
            writer.write(batch)
            now[0] = t + timedelta(seconds=3)
            items += engine.drain(econn)
        seconds = time.perf_counter() - began
        tests = econn.execute("select count(*) from events where type = 'test' and active "
                              "and tenant_id is not null").fetchone()
        tampers = econn.execute("select count(*) from events where type = 'tamper' and active"
                                ).fetchone()
        print(f"  replayed in {seconds:.0f} s: {items} outbox items through the rules engine; "
              f"{tests[0] if tests else 0} self-tests, {tampers[0] if tampers else 0} tampers "
              "in the events")
        print(table(evaluate(econn, run_id=sim.run.id,
                             detectors=["hazards.fire", "hazards.flood"])))
        report = hazard_report(econn, run_id=sim.run.id)
        assert report is not None
        print(hazard_table(report))


def lighting(settings: Settings, sim: Simulation, end: datetime, nights: int) -> None:
    """Lives the last `nights` nights of the cabinets under the job's schedules; prints the
    lighting evaluation."""
    cabinets = {(d.tenant, d.device_id): d for d in sim.devices if isinstance(d, LightingCabinet)}
    labels = [x for x in sim.labels(end) if (x.tenant, x.device_id) in cabinets]
    with db.connect(settings, autocommit=True) as conn:
        truth.store(conn, labels, sim.run)
        row = conn.execute("select t.slug from devices d join tenants t on t.id = d.tenant_id "
                           "where d.kind = 'lighting_cabinet' group by t.slug "
                           "order by count(*) desc limit 1").fetchone()
        assert row is not None, "the scenario has no lighting cabinet"
        commune = row[0]
        # One commune's own policy (dimmed to 40 % at 21:30, off 00:00-05:30), and a dark
        # zone around its first cabinet (30 % all night).
        conn.execute("insert into lighting_policies (tenant_id, dim_at, dim_level, off_from, "
                     "off_until, updated_by) select id, '21:30', 40, '00:00', '05:30', 'bench' "
                     "from tenants where slug = %s", (commune,))
        conn.execute("insert into dark_zones (tenant_id, name, area, level_pct, updated_by) "
                     "select d.tenant_id, 'Trame noire (bench)', st_multi(st_buffer("
                     "d.location::geometry, 0.004)), 30, 'bench' from devices d join tenants t "
                     "on t.id = d.tenant_id where t.slug = %s and d.kind = 'lighting_cabinet' "
                     "order by d.id limit 1", (commune,))
        # The scenario's cabinets all light roads (category a): three get another category, so
        # that their policy's schedule must be made compliant (arrêté du 27/12/2018, art. 2).
        others = conn.execute(
            "select d.uid from devices d join tenants t on t.id = d.tenant_id "
            "where d.kind = 'lighting_cabinet' and t.slug <> %s order by t.slug, d.id limit 3",
            (commune,)).fetchall()
        for (uid,), extra in zip(others, ({"lighting_category": "b"},
                                          {"lighting_category": "d"},
                                          {"lighting_category": "e", "closing": "20:00"}),
                                 strict=False):
            conn.execute("update devices set metadata = metadata || %s where uid = %s",
                         (Jsonb(extra), uid))
        uids = dict(((t, i), u) for t, i, u in conn.execute(
            "select t.slug, d.id, d.uid from devices d join tenants t on t.id = d.tenant_id "
            "where d.kind = 'lighting_cabinet'"))
    print(f"lighting: {len(cabinets)} cabinets, {nights} nights lived; policy of {commune}, "
          "one dark zone, three cabinets of categories b, d and e")
    began = time.perf_counter()
    last_night = (end - timedelta(hours=36)).astimezone(PARIS).date()  # its dawn is before end
    with db.connect(settings) as conn:
        writer = Writer(conn)
        for k in range(nights, 0, -1):
            night = last_night - timedelta(days=k - 1)
            noon = datetime(night.year, night.month, night.day, 11, 0, tzinfo=UTC)
            lighting_job.run(JobContext(conn=conn, settings=settings, now=noon,
                                        log=logging.getLogger("bench")))
            rows = conn.execute("select device_uid, id, params from commands where type = "
                                "'set_schedule' and status = 'queued'").fetchall()
            by_uid = {u: (cid, p) for u, cid, p in rows}
            conn.execute("update commands set status = 'applied', acked_at = %s "
                         "where status = 'queued' and type = 'set_schedule'", (noon,))
            conn.commit()
            lived_until = noon
            for key, cab in cabinets.items():
                if uids[key] not in by_uid:
                    continue
                command_id, params = by_uid[uids[key]]
                cab.handle_command(Command(str(command_id), "set_schedule", params, ts=noon))
                lived_until = max(lived_until, steps_of(params)[-1].at + timedelta(minutes=40))
            # Every cabinet lives from where it is to the night's dawn + 40 min (its clock
            # was at the previous night's end, or at the start of the run).
            batch = []
            for cab in cabinets.values():
                t = cab.clock or (noon - timedelta(hours=2))
                while t < lived_until:
                    t += timedelta(minutes=5)
                    if (m := messages(cab, t)) is not None:
                        batch.append(m)
            writer.write(batch)
        score = evaluate_lighting(conn, now=end, nights=7, run_id=sim.run.id)
    print(f"  lived and stored in {time.perf_counter() - began:.0f} s")
    print(lighting_table(score))


def main() -> None:
    args = parser.parse_args()
    settings = Settings()
    if settings.database_schema == "phare":
        raise SystemExit("set PHARE_DATABASE_SCHEMA to a schema of your own (it is dropped)")
    fresh_schema(settings)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=args.days)
    sim = prepare("default", start, end, seed=args.seed)
    register_in_database(settings, sim)
    load = open("/proc/loadavg").read().split()[:3]
    print(f"default scenario, seed {args.seed}, load average {' '.join(load)}")
    if args.part in ("hazards", "both"):
        hazards(settings, sim, start, end)
    if args.part in ("lighting", "both"):
        lighting(settings, sim, end, args.nights)


parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
parser.add_argument("--days", type=float, default=60.0)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--nights", type=int, default=3)
parser.add_argument("--part", choices=("hazards", "lighting", "both"), default="both")

if __name__ == "__main__":
    try:
        main()
    except psycopg.OperationalError as exc:
        raise SystemExit(f"database unavailable: {exc}") from exc
