"""Leak detection: the detectors on hand-built nights (analytics/leaks.py), and the job on a
real TimescaleDB raising and clearing `water_leak` alerts (analytics/jobs/leaks.py)."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest
from psycopg.types.json import Jsonb

from analytics.errors import AnalyticsError
from analytics.job import JobContext
from analytics.jobs import leaks as job
from analytics.leaks import (
    ATTENUATION_DB_PER_M,
    NOISE_MIN,
    NOISE_SPREAD,
    LeakSettings,
    Sensor,
    acoustic_nights,
    clusters,
    estimate_position,
    flow_nights,
    leak_level_db,
)
from analytics.registry import JOBS
from devices.catalogue import Channel
from devices.simulators.base import SimDevice
from devices.simulators.leaks import Leak, Pipe
from devices.simulators.water import AcousticLeakSensor, WaterNetwork
from phare import db
from phare.settings import Settings

PARIS = ZoneInfo("Europe/Paris")
FIRST_NIGHT = date(2026, 3, 1)


def nights(levels: Sequence[float], spreads: Sequence[float] | float = 1.5,
           first: date = FIRST_NIGHT) -> pd.DataFrame:
    if isinstance(spreads, float | int):
        spreads = [float(spreads)] * len(levels)
    index = pd.date_range(pd.Timestamp(first), periods=len(levels), freq="D")
    return pd.DataFrame({NOISE_MIN: levels, NOISE_SPREAD: spreads}, index=index)


def quiet(count: int, level: float = 30.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.gauss(0, 1.0) for _ in range(count)]


# --- acoustic detector -----------------------------------------------------------------
def test_a_leak_raises_within_two_nights_and_clears_after_its_repair() -> None:
    levels = quiet(20) + [42.0] * 8 + quiet(10, seed=2)
    spreads = [7.0] * 20 + [1.5] * 8 + [7.0] * 10
    verdicts = acoustic_nights(nights(levels, spreads))
    alarm = [v.alarm for v in verdicts]
    assert not any(alarm[:20])
    assert alarm[21], "second loud night: alarm (2 of 3)"
    assert all(alarm[21:28])
    assert not any(alarm[30:]), "cleared within two nights of the repair"
    assert verdicts[25].baseline_db == pytest.approx(30, abs=1.0), "leak nights stay out"


def test_traffic_noise_with_a_wide_spread_raises_nothing() -> None:
    levels = quiet(20) + [39.0] * 10
    spreads = [7.0] * 20 + [9.0] * 10  # loud, but busy: traffic comes and goes
    assert not any(v.alarm for v in acoustic_nights(nights(levels, spreads)))


def test_one_loud_night_is_not_a_leak() -> None:
    levels = quiet(20) + [45.0] + quiet(10, seed=3)
    assert not any(v.alarm for v in acoustic_nights(nights(levels, 1.5)))


def test_no_verdict_before_enough_baseline_nights() -> None:
    verdicts = acoustic_nights(nights([30, 31, 45, 45, 45], 1.5))
    assert all(v.baseline_db is None and not v.alarm for v in verdicts)


def test_settings_from_metadata_override_defaults_and_refuse_unknown_keys() -> None:
    s = LeakSettings.from_mapping({"delta_db": 9, "k": 3})
    assert (s.delta_db, s.k, s.n) == (9.0, 3, 3)
    levels = quiet(20) + [38.0] * 6  # +8 dB: a leak by default, not with delta 9
    assert any(v.alarm for v in acoustic_nights(nights(levels)))
    assert not any(v.alarm for v in acoustic_nights(nights(levels), s))
    with pytest.raises(AnalyticsError, match="delta"):
        LeakSettings.from_mapping({"delta": 3})
    with pytest.raises(AnalyticsError, match="k <= n"):
        LeakSettings.from_mapping({"k": 4})


# --- position ----------------------------------------------------------------------------
@pytest.mark.parametrize("material", ["fonte grise", "PVC"])
def test_position_of_a_synthetic_leak_between_two_loggers(material: str) -> None:
    alpha = ATTENUATION_DB_PER_M[material]
    a, b, leak, source = 100.0, 400.0, 170.0, 55.0
    la, lb = source - alpha * (leak - a), source - alpha * (b - leak)
    assert estimate_position(a, la, b, lb, alpha) == pytest.approx(leak, abs=1.0)
    # From night levels over a 30 dB background, as the detector sees them.
    ta, tb = (10 * math.log10(10 ** (level / 10) + 10 ** 3.0) for level in (la, lb))
    estimate = estimate_position(a, leak_level_db(ta, 30.0), b, leak_level_db(tb, 30.0), alpha)
    assert abs(estimate - leak) < 5.0
    assert estimate_position(a, la + 50, b, lb, alpha) == a, "beyond a logger: stops at it"


def simulate_sensors(sensors: list[AcousticLeakSensor], start: datetime,
                     days: int) -> pd.DataFrame:
    """Nightly readings of simulated loggers, indexed by (device id, night)."""
    rows = []
    for device, reading in run_devices(sensors, start, start + timedelta(days=days),
                                       timedelta(hours=6)):
        rows.append((device.device_id, reading["ts"], reading[NOISE_MIN], reading[NOISE_SPREAD]))
    frame = pd.DataFrame(rows, columns=["device", "ts", NOISE_MIN, NOISE_SPREAD])
    frame["night"] = job.night_of(frame["ts"])
    return frame.set_index(["device", "night"])


def test_near_logger_is_louder_and_the_leak_is_placed_between_the_two_loudest() -> None:
    """Simulated loggers (devices/simulators/water.py) on a cast-iron main, a leak at 230 m."""
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    pipe = Pipe("P1", "t", "meter", "fonte grise", 150, 1200, (45.0, 3.0), (45.01, 3.01))
    network = WaterNetwork([pipe])
    at = [50.0, 350.0, 700.0, 1050.0]
    sensors = [AcousticLeakSensor("t", f"s{i}", f"s{i}", lat=45, lon=3, seed=7, pipe=pipe,
                                  position_m=x, network=network, traffic_db=1.0)
               for i, x in enumerate(at)]
    leak_at = start + timedelta(days=20, hours=3)
    network.add_leak(Leak("L1", pipe, 230.0, leak_at, None, "abrupt", leak_at, 1.0))
    frame = simulate_sensors(sensors, start, 30)
    verdicts = {i: {v.night: v for v in acoustic_nights(frame.loc[f"s{i}"])}
                for i in range(len(sensors))}
    night = max(verdicts[0])
    tonight = {i: v[night] for i, v in verdicts.items()}
    assert tonight[0].alarm and tonight[1].alarm
    known = {i: Sensor(i, f"s{i}", "P1", x, "fonte grise") for i, x in enumerate(at)}
    found = clusters(known, tonight, {})
    assert len(found) == 1
    cluster = found[0]
    near, far = cluster.excess_db[1], cluster.excess_db.get(3, tonight[3].excess_db)
    assert near > (far or 0.0), "the logger 120 m away is louder than the one 820 m away"
    assert cluster.position_m is not None and abs(cluster.position_m - 230.0) <= 100.0


# --- night flow ------------------------------------------------------------------------------
def test_night_flow_estimate_is_within_15_percent_of_the_injected_flow() -> None:
    rng = random.Random(5)
    base = [4.0 * (1 + rng.gauss(0, 0.04)) for _ in range(40)]
    injected = 1.8
    minimums = pd.Series([v + (injected if i >= 25 else 0.0) for i, v in enumerate(base)],
                         index=pd.date_range("2026-03-01", periods=40, freq="D"))
    verdicts = flow_nights(minimums)
    assert not any(v.alarm for v in verdicts[:25])
    assert verdicts[26].alarm
    estimates = [v.leak_m3h for v in verdicts if v.alarm and v.leak_m3h is not None]
    mean = sum(estimates) / len(estimates)
    assert abs(mean - injected) / injected < 0.15
    assert verdicts[30].lost_m3_per_day == pytest.approx(verdicts[30].leak_m3h * 24)


# --- the job, on the database -----------------------------------------------------------
def run_devices(devices: Iterable[SimDevice], start: datetime, end: datetime,
                step: timedelta) -> Iterable[tuple[SimDevice, dict[str, Any]]]:
    """Steps simulated devices in-process (no broker) and yields their readings."""
    t = start
    devices = list(devices)
    while t <= end:
        for device in devices:
            for channel, payload in device.step(t):
                if channel is not Channel.TELEMETRY:
                    continue
                for reading in payload if isinstance(payload, list) else [payload]:
                    yield device, {"ts": reading.ts, **reading.metrics}
        t += step


def register(conn: psycopg.Connection, tenant: str, device_id: str, kind: str,
             metadata: dict[str, Any]) -> int:
    row = conn.execute(
        "insert into devices (tenant_id, id, kind, name, metadata) "
        "select id, %s, %s, %s, %s from tenants where slug = %s returning uid",
        (device_id, kind, f"Capteur {device_id}", Jsonb(metadata), tenant)).fetchone()
    assert row is not None
    return int(row[0])


def copy_readings(conn: psycopg.Connection, rows: list[tuple[datetime, int, int, str, float]]
                  ) -> None:
    """Bulk-inserts readings (ts, tenant_id, device_uid, metric, value) with COPY."""
    with conn.transaction(), conn.cursor() as cur, cur.copy(
            "copy readings (ts, tenant_id, device_uid, metric, value) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


def run_job(settings: Settings, now: datetime) -> int:
    with db.connect(settings) as conn:
        return job.run(JobContext(conn=conn, settings=settings, now=now,
                                  log=logging.getLogger("analytics.jobs.leaks")))


def report_time(night: date) -> datetime:
    return datetime.combine(night + timedelta(days=1), time(4, 40), PARIS).astimezone(UTC)


def test_the_job_is_registered() -> None:
    assert JOBS["leaks"] is job.JOB


def test_the_same_leak_on_several_nights_is_one_alert_then_cleared(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    """Night by night runs: one alert whose occurrences grow, resolved after the repair."""
    tid = job_conn.execute("select id from tenants where slug = %s", (tenant_slug,)).fetchone()
    assert tid is not None
    uids = [register(job_conn, tenant_slug, f"acoustique-{i}", "acoustic_leak_sensor",
                     {"pipe": "P1", "position_m": x, "pipe_material": "fonte grise"})
            for i, x in enumerate((100.0, 400.0, 700.0))]
    # Leak near the first logger on nights 20-27; the second hears it fainter.
    levels = {uids[0]: quiet(20, seed=1) + [44.0] * 8 + quiet(6, seed=4),
              uids[1]: quiet(20, seed=2) + [39.5] * 8 + quiet(6, seed=5),
              uids[2]: quiet(20, seed=3) + quiet(8, seed=6) + quiet(6, seed=7)}
    rows = []
    for uid, series in levels.items():
        for i, level in enumerate(series):
            night = FIRST_NIGHT + timedelta(days=i)
            loud = 20 <= i < 28 and uid != uids[2]
            rows.append((report_time(night), tid[0], uid, NOISE_MIN, level))
            rows.append((report_time(night), tid[0], uid, NOISE_SPREAD, 1.5 if loud else 7.0))
    copy_readings(job_conn, rows)

    def morning(i: int) -> datetime:  # after night i
        return report_time(FIRST_NIGHT + timedelta(days=i)) + timedelta(hours=2)

    run_job(job_settings, morning(19))  # catches up on the first 20 nights
    for i in range(20, 34):
        run_job(job_settings, morning(i))
    alerts = job_conn.execute(
        "select device_uid, occurrences, status, opened_at, resolved_at, params, severity "
        "from alerts where type = 'water_leak'").fetchall()
    assert len(alerts) == 1, alerts
    uid, occurrences, status, opened, resolved, params, severity = alerts[0]
    assert uid == uids[0], "raised on the loudest logger"
    assert occurrences >= 6, "nights 21-27 seen: occurrences, not new alerts"
    assert status == "resolved"
    assert opened == report_time(FIRST_NIGHT + timedelta(days=21))
    assert resolved <= report_time(FIRST_NIGHT + timedelta(days=29))
    assert set(params["excess_db"]) == {"acoustique-0", "acoustique-1"}, "both hear it"
    assert severity == "medium", "heard by two loggers"
    assert 100.0 <= params["position_m"] <= 400.0


def test_every_setting_is_documented() -> None:
    from dataclasses import fields
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "analytics.md").read_text()
    missing = [f.name for f in fields(LeakSettings) if f"`{f.name}`" not in text]
    assert not missing, f"settings missing from docs/analytics.md: {missing}"
