"""Scoring detectors against ground truth (analytics/evaluate.py): the matching rule on
hand-built cases, and a scored run of the leak job on a simulated network in a real database.

The scored run builds a small water network from the simulator's classes in-process (no
broker: readings go straight into `readings` with COPY, labels into `ground_truth` through
the simulator's own `labels.store`): one district, three mains of the default scenario's
materials and spacings (cast iron, PVC, PE), 14 loggers, 50 nights, five leaks. Smaller than
the default scenario (45 loggers, 6 districts) to stay within a few seconds.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pandas as pd
import psycopg
from typer.testing import CliRunner

from analytics.evaluate import (
    DETECTORS,
    Detection,
    Label,
    evaluate,
    score,
    table,
)
from analytics.jobs import leaks as job
from analytics.leaks import FLOW, NOISE_MIN, NOISE_SPREAD, flow_nights, night_minimums
from devices.simulators import labels as truth
from devices.simulators.faults import Plan
from devices.simulators.leaks import Leak, Pipe
from devices.simulators.water import AcousticLeakSensor, WaterFlowMeter, WaterNetwork
from phare.cli import app
from phare.settings import Settings
from tests.analytics.test_leaks import copy_readings, register, run_devices, run_job
from tests.conftest import env_for

T0 = datetime(2026, 2, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def label(device: str, start: datetime, end: datetime | None, **params: Any) -> Label:
    return Label(1, device, "water_leak", start, end,
                 {"seen_as": "noise", "pipe": "P1", "leak_id": "L1", **params})


def detection(device: str, at: datetime, pipe: str = "P1",
              kind: str = "acoustic_leak_sensor") -> Detection:
    return Detection(1, device, kind, {"pipe": pipe}, "water_leak", at, None)


def test_a_detection_on_another_logger_of_the_pipe_matches_within_grace() -> None:
    d = DETECTORS["leaks.acoustic"]
    labels = [label("s1", T0, T0 + 5 * DAY), label("s2", T0, T0 + 5 * DAY)]
    s = score(d, labels, [detection("s3", T0 + 1.5 * DAY)])
    assert (s.incidents, s.detected, s.true_alerts, s.median_delay) == (1, 1, 1, 2)
    late = score(d, labels, [detection("s3", T0 + 8 * DAY)])  # past end + 2 days of grace
    assert (late.detected, late.true_alerts, late.precision) == (0, 0, 0.0)
    other_pipe = score(d, labels, [detection("x", T0 + DAY, pipe="P2")])
    assert other_pipe.recall == 0.0 and other_pipe.precision == 0.0
    assert "leaks.acoustic" in table([s])


def test_meter_alerts_are_scored_by_the_night_flow_detector_only() -> None:
    meter = Label(1, "meter", "water_leak", T0, None, {"seen_as": "night_flow", "leak_id": "L1"})
    alerts = [detection("meter", T0 + DAY, pipe="", kind="water_flow_meter")]
    assert score(DETECTORS["leaks.night_flow"], [meter], alerts).f1 == 1.0
    assert score(DETECTORS["leaks.acoustic"], [meter], alerts).alerts == 0


def build_network(tenant: str) -> tuple[list[Any], list[Leak], WaterNetwork]:
    pipes = [Pipe("FG-1", tenant, "debitmetre", "fonte grise", 150, 1200, (45.0, 3.0),
                  (45.01, 3.01)),
             Pipe("PVC-1", tenant, "debitmetre", "PVC", 110, 500, (45.0, 3.0), (45.0, 3.01)),
             Pipe("PE-1", tenant, "debitmetre", "PEHD", 90, 400, (45.0, 3.0), (45.01, 3.0))]
    network = WaterNetwork(pipes)
    positions = {"FG-1": [(50, 4.0), (350, 4.9), (700, 1.4), (1050, 0.0)],
                 "PVC-1": [(50, 1.9), (150, 2.8), (250, 4.2), (350, 2.0), (450, 3.3)],
                 "PE-1": [(40, 1.1), (120, 3.3), (200, 0.6), (290, 0.8), (380, 3.1)]}
    devices: list[Any] = [WaterFlowMeter(tenant, "debitmetre", "Débitmètre", lat=45, lon=3,
                                         seed=11, population=1500, network=network,
                                         pressure_bar=5.0)]
    n = 0
    for pipe in pipes:
        for at, traffic in positions[pipe.id]:
            n += 1
            devices.append(AcousticLeakSensor(tenant, f"acoustique-{n:02d}", f"Logger {n}",
                                              lat=45, lon=3, seed=11, pipe=pipe,
                                              position_m=at, network=network,
                                              traffic_db=traffic))
    by_id = {p.id: p for p in pipes}

    def leak(i: int, pipe: str, at: float, day: float, end: float | None, flow: float,
             grow_days: float = 0.0) -> Leak:
        start = T0 + timedelta(days=day)
        return Leak(f"fuite-{i}", by_id[pipe], at, start,
                    None if end is None else T0 + timedelta(days=end),
                    "incipient" if grow_days else "abrupt", start + timedelta(days=grow_days),
                    flow)

    leaks = [leak(1, "FG-1", 560, 17.6, 27.3, 2.0), leak(2, "PVC-1", 230, 23.2, 33.5, 1.0),
             leak(3, "PE-1", 250, 29.9, None, 1.5, grow_days=2),
             leak(4, "FG-1", 900, 37.4, 44.6, 3.0), leak(5, "PVC-1", 420, 42.1, None, 0.6)]
    for x in leaks:
        network.add_leak(x)
    return devices, leaks, network


def test_scored_run_on_a_simulated_network(job_settings: Settings, job_conn: psycopg.Connection,
                                           tenant_slug: str,
                                           caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    devices, leaks, _ = build_network(tenant_slug)
    end = T0 + 50 * DAY
    row = job_conn.execute("select id from tenants where slug = %s", (tenant_slug,)).fetchone()
    assert row is not None
    uid = {d.device_id: register(job_conn, tenant_slug, d.device_id, d.kind, d.metadata)
           for d in devices}
    wanted = {NOISE_MIN, NOISE_SPREAD, FLOW}
    rows = [(r["ts"], row[0], uid[d.device_id], metric, float(r[metric]))
            for d, r in run_devices(devices, T0, end, timedelta(hours=1))
            for metric in wanted if metric in r]
    copy_readings(job_conn, rows)
    plan = Plan(T0, end, leaks=leaks)
    territory = SimpleNamespace(devices=devices)
    labels = truth.ground_truth(territory, plan)  # type: ignore[arg-type]
    run = truth.Run("leaks-test", 11)
    truth.store(job_conn, labels, run)

    run_job(job_settings, end + timedelta(hours=6))
    scores = {s.detector: s for s in evaluate(job_conn, run_id=run.id)}
    print("\n" + table(list(scores.values())))  # noqa: T201 (the figures, with -s)
    acoustic = scores["leaks.acoustic"]
    assert acoustic.incidents == 5
    assert acoustic.recall >= 0.9
    assert acoustic.precision >= 0.9
    assert acoustic.median_delay <= 2
    flow = scores["leaks.night_flow"]
    assert flow.precision >= 0.9

    # The night-flow estimate while fuite-1 (2 m³/h) is alone in its district (nights 19-22),
    # from the meter's own 02:00-04:00 samples, as the job reads them.
    meter = pd.DataFrame([(r[0], r[4]) for r in rows if r[2] == uid["debitmetre"]],
                         columns=["ts", "value"])
    hour = pd.to_datetime(meter["ts"], utc=True).dt.tz_convert(job.ZONE).dt.hour
    meter = meter[(hour >= 2) & (hour < 4)]
    minimums = night_minimums(meter.set_index(job.night_of(meter["ts"]))["value"])
    verdicts = {v.night: v for v in flow_nights(minimums)}
    alone = [verdicts[pd.Timestamp((T0 + timedelta(days=d)).date())] for d in range(19, 23)]
    assert all(v.alarm for v in alone)
    estimate = sum(v.leak_m3h or 0.0 for v in alone) / len(alone)
    assert abs(estimate - 2.0) / 2.0 < 0.15, estimate

    # The same scores through the command.
    result = CliRunner().invoke(app, ["evaluate", "--run", run.id], env=env_for(job_settings))
    assert result.exit_code == 0, result.output
    assert "leaks.acoustic" in result.output and "precision" in result.output
