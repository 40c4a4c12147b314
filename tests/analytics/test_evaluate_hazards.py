"""Scoring fire and flood (analytics/evaluate.py) on hand-built cases, and on a simulated run:
the simulator's hazard detectors, in process (no broker), through ingest's writer and the
outbox to the real rules engine, whose clock follows the simulated time; their ground truth
stored by the simulator's own `labels.store`.

The run: eight days (every detector's weekly self-test falls in it) of three smoke detectors
— a fast fire, a slow fire, a cooking false alarm and a tamper — a river gauge and a low point
under a 95 mm storm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psycopg
import pytest
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from alerts.engine import Engine
from analytics.evaluate import (
    DETECTORS,
    Detection,
    Label,
    evaluate,
    hazard_report,
    hazard_table,
    score,
)
from devices.messages import Event, Reading
from devices.simulators import labels as truth
from devices.simulators.base import Fault
from devices.simulators.faults import Plan, inject
from devices.simulators.hazard import HazardDetector
from devices.simulators.hydrology import Gauge, LowPoint, River, Thresholds
from devices.simulators.weather import Rain, Weather
from ingest.model import Decoded
from ingest.writer import Writer
from phare import db
from phare.cli import app
from phare.settings import Settings
from tests.conftest import env_for, register_device

T0 = datetime(2026, 1, 5, 0, tzinfo=UTC)  # a Monday
MIN = timedelta(minutes=1)


def flood(device: str, start: datetime, end: datetime | None) -> Label:
    return Label(1, device, "flood", start, end, {})


def alert(device: str, at: datetime, kind: str = "flood") -> Detection:
    return Detection(1, device, "hazard_detector", {}, kind, at, None)


def test_an_early_flood_warning_finds_the_flood_a_late_one_does_not() -> None:
    d = DETECTORS["hazards.flood"]
    labels = [flood("g", T0, T0 + timedelta(hours=10))]
    early = score(d, labels, [alert("g", T0 - timedelta(minutes=50))])
    assert (early.detected, early.true_alerts, early.median_delay) == (1, 1, -50)
    too_early = score(d, labels, [alert("g", T0 - timedelta(hours=4))])
    assert (too_early.detected, too_early.precision) == (0, 0.0)
    late = score(d, labels, [alert("g", T0 + timedelta(hours=11, minutes=5))])
    assert late.detected == 0
    fire = DETECTORS["hazards.fire"]
    assert score(fire, [Label(1, "g", "fire", T0, T0 + 30 * MIN, {})],
                 [alert("g", T0 + 7 * MIN, "fire")]).median_delay == 7


# --- a simulated run ---------------------------------------------------------------------------
def territory(tenant: str) -> tuple[SimpleNamespace, Plan]:
    weather = Weather("hazards", lat=45.03, lon=3.09, altitude_m=880)
    river = River("Ander", weather, response_h=6)
    gauge = Gauge(river, base_cm=40, gain_cm=100, thresholds=Thresholds(160, 210, 270))
    low = LowPoint(weather, rain_threshold_mm_h=8, drain_h=2)
    smoke = [HazardDetector(tenant, f"detecteur-{i}", f"Détecteur {i}", lat=45.03, lon=3.09,
                            seed=i, weather=weather) for i in (1, 2, 3)]
    devices = [*smoke,
               HazardDetector(tenant, "sonde-ander", "Sonde de niveau — Ander", lat=45.04,
                              lon=3.08, seed=4, weather=weather, variant="water_level",
                              gauge=gauge),
               HazardDetector(tenant, "passage-gare", "Détecteur d'eau — passage inférieur",
                              lat=45.04, lon=3.08, seed=5, weather=weather, variant="water_spot",
                              low_point=low)]
    end = T0 + timedelta(days=8)
    plan = Plan(T0, end, storms=[Rain(T0 + timedelta(days=5, hours=20),
                                      T0 + timedelta(days=6, hours=6), 9.5, "épisode pluvieux")])

    def fire(at: timedelta, flame_rate: float) -> Fault:
        return Fault("fire", T0 + at, T0 + at + timedelta(hours=1), {
            "room": "archives", "smoulder_min": 10.0, "smoulder_rate": 0.3, "flaming_min": 15.0,
            "flame_rate": flame_rate, "alarm_after_min": 6.0})

    plan.faults += [
        (smoke[0], fire(timedelta(days=2, hours=3, minutes=7), 12.0)),   # a rate-of-rise fire
        (smoke[1], fire(timedelta(days=4, hours=22, minutes=41), 3.5)),  # a slow one
        (smoke[2], Fault("false_alarm", T0 + timedelta(days=1, hours=11, minutes=52),
                         T0 + timedelta(days=1, hours=11, minutes=55), {"cause": "cuisine"})),
        (smoke[2], Fault("tamper", T0 + timedelta(days=3, hours=9), T0 + timedelta(days=3, hours=9,
                                                                                   minutes=12),
                         {"cause": "capot ouvert"})),
    ]
    world = SimpleNamespace(weather=weather, devices=devices, network=None)
    inject(world, plan)  # type: ignore[arg-type]
    return world, plan


def replay(settings: Settings, conn: psycopg.Connection, devices: list[HazardDetector],
           start: datetime, end: datetime) -> None:
    """Steps the devices every 15 minutes; every six simulated hours go through ingest's
    writer, then the engine, its clock at the end of them (so it takes observations up to six
    hours old as live ones, as `phare demo` does with its replayed days)."""
    now = [start]
    engine = Engine(settings.model_copy(update={"alerts_stale_after_s": 86400}),
                    clock=lambda: now[0])
    with db.connect(settings) as wconn, db.connect(settings, autocommit=True) as econn:
        writer = Writer(wconn)
        t = start
        while t < end:
            batch: list[Decoded] = []
            for _ in range(24):
                t += timedelta(minutes=15)
                for d in devices:
                    values, events = [], []
                    for _, payload in d.step(t):
                        for item in payload if isinstance(payload, list) else [payload]:
                            if isinstance(item, Reading):
                                values += [(item.ts, m, float(v)) for m, v in item.metrics.items()]
                            elif isinstance(item, Event):
                                events.append(item)
                    if values or events:
                        batch.append(Decoded(topic="t", payload=b"", tenant=d.tenant,
                                             device_id=d.device_id, values=values,
                                             events=events))
            writer.write(batch)
            now[0] = t + timedelta(seconds=3)
            engine.drain(econn)


@pytest.mark.slow
def test_a_simulated_run_every_fire_and_flood_found_none_from_tests_or_tamper(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    world, plan = territory(tenant_slug)
    for d in world.devices:
        uid = register_device(job_conn, tenant_slug, d.device_id, d.kind)
        job_conn.execute("update devices set metadata = %s where uid = %s",
                         (Jsonb(d.metadata), uid))
    labels = truth.ground_truth(world, plan)  # type: ignore[arg-type]
    run = truth.Run("hazards-test", 1)
    truth.store(job_conn, labels, run)
    replay(job_settings, job_conn, world.devices, plan.start, plan.end)

    kinds = sorted((x.type, x.device_id) for x in labels)
    assert ("flood", "sonde-ander") in kinds and ("flood", "passage-gare") in kinds
    assert kinds.count(("fire", "detecteur-1")) == kinds.count(("fire", "detecteur-2")) == 1
    tests = job_conn.execute("select count(*) from events where type = 'test' and active").fetchone()
    assert tests is not None and tests[0] >= 5  # every detector tested itself at least once

    fire, flood = evaluate(job_conn, run_id=run.id, detectors=["hazards.fire", "hazards.flood"])
    assert (fire.incidents, fire.detected) == (2, 2)
    assert (flood.incidents, flood.detected) == (flood.incidents, flood.incidents)
    assert flood.precision == 1.0
    report = hazard_report(job_conn, run_id=run.id)
    assert report is not None
    assert (report.fires, report.nuisance, report.during_test, report.during_tamper,
            report.unexplained) == (2, 1, 0, 0, 0), hazard_table(report)
    assert fire.precision == pytest.approx(2 / 3)  # the false alarm sounded: an alert, no fire
    # The rate-of-rise fire: its smoke alarm sounded first, at 6 minutes.
    assert max(fire.delays) <= 7
    # Tamper: a device fault, resolved.
    faults = job_conn.execute("select type, status from alerts a join devices d on "
                              "d.uid = a.device_uid where d.id = 'detecteur-3'").fetchall()
    assert sorted(faults) == [("device_fault", "resolved"), ("fire", "resolved")]
    printed = CliRunner().invoke(app, ["evaluate", "--run", run.id], env=env_for(job_settings))
    assert printed.exit_code == 0, printed.output
    assert "hazards.flood" in printed.output
    assert "during a self-test or maintenance   0" in printed.output
