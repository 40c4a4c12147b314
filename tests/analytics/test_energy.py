"""Energy baselines, anomalies and the décret tertiaire (analytics/energy.py), the energy job.

The scored run simulates `BuildingMeter`s in process (no broker, no database): their hourly
samples are turned into daily deltas as the rollups compute them (a step counted in the day
of its later sample). The database path is covered by the smaller job test at the end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg
import pytest

from analytics import energy
from analytics.energy import EnergySettings
from analytics.job import JobContext
from analytics.jobs import energy as energy_job
from analytics.registry import JOBS
from devices.simulators.base import Fault
from devices.simulators.building import BuildingMeter
from devices.simulators.calendar_fr import SchoolCalendar
from devices.simulators.weather import Weather
from phare import db
from phare.settings import Settings
from tests.conftest import register_device

PARIS = ZoneInfo("Europe/Paris")
CAL = SchoolCalendar("A")


def synthetic(days: pd.DatetimeIndex, *, base: float = 200.0, slope: float = 30.0,
              noise: float = 10.0, seed: int = 1) -> pd.DataFrame:
    """A building used every weekday: 200 kWh a day plus 30 kWh per degree day, ±10 kWh."""
    rng = np.random.default_rng(seed)
    outdoor = pd.Series(8 + 6 * np.sin(np.arange(len(days)) / 5.0), index=days)
    hdd = energy.degree_days(outdoor)
    occupied = pd.Series(days.day_of_week < 5, index=days)
    e = base + slope * hdd + rng.normal(0, noise, len(days))
    return pd.DataFrame({"electricity_kwh": 0.3 * e, "gas_kwh": 0.7 * e, "outdoor_c": outdoor,
                         "occupied": occupied})


WINTER = pd.date_range("2025-10-01", "2026-03-31", freq="D")


def test_regression_recovers_the_coefficients() -> None:
    frame = synthetic(WINTER)
    hdd = energy.degree_days(frame["outdoor_c"])
    x = energy.design(hdd, energy.day_types(WINTER, frame["occupied"], closes_for_school=False))
    fit = energy.fit_baseline(frame["electricity_kwh"] + frame["gas_kwh"], x)
    c = fit.coefficients
    assert c["intercept"] == pytest.approx(200, abs=6)
    assert c["hdd"] == pytest.approx(30, abs=0.8)
    assert abs(c["unoccupied"]) < 8 and abs(c["hdd_unoccupied"]) < 1.0
    assert fit.sigma == pytest.approx(10, rel=0.2)
    assert fit.calibrated


def test_cv_rmse_and_nmbe_on_a_hand_example() -> None:
    y, y_hat = np.array([10.0, 12.0, 14.0, 16.0]), np.array([11.0, 11.0, 15.0, 15.0])
    # residuals -1, 1, -1, 1; n - p = 2; mean 13: CV = sqrt(4/2)/13, NMBE = 0
    assert energy.cv_rmse(y, y_hat, 2) == pytest.approx(np.sqrt(2) / 13)
    assert energy.nmbe(y, y_hat, 2) == 0
    assert energy.nmbe(y, y_hat - 1, 2) == pytest.approx(4 / (2 * 13))


def _judge(frame: pd.DataFrame, split: str) -> list[energy.Day]:
    _, verdicts = energy.judge(frame, train_until=pd.Timestamp(split),
                               settings=EnergySettings(), closes_for_school=True)
    return verdicts


def test_heating_left_on_during_holidays_is_flagged_those_days_only() -> None:
    frame = synthetic(WINTER)
    holiday = (WINTER >= "2026-02-07") & (WINTER < "2026-02-23")
    frame.loc[holiday, "occupied"] = False
    hdd = energy.degree_days(frame["outdoor_c"])
    # The normal closure heats at frost protection (a third); fault: 3 days left in comfort.
    normal = 200 + 30 * hdd * np.where(holiday, 0.3, 1.0)
    fault = (WINTER >= "2026-02-14") & (WINTER < "2026-02-17")
    normal[fault] = 200 + 30 * hdd[fault]
    noise = np.random.default_rng(3).normal(0, 10, len(WINTER))
    frame["gas_kwh"], frame["electricity_kwh"] = 0.7 * (normal + noise), 0.3 * (normal + noise)
    # Train over last winter's holidays too, so the closed-day terms are known.
    frame.loc[(WINTER >= "2025-12-20") & (WINTER < "2026-01-05"), "occupied"] = False
    xmas = (WINTER >= "2025-12-20") & (WINTER < "2026-01-05")
    frame.loc[xmas, "gas_kwh"] = 0.7 * (200 + 30 * hdd[xmas] * 0.3 + noise[xmas])
    frame.loc[xmas, "electricity_kwh"] = 0.3 * (200 + 30 * hdd[xmas] * 0.3 + noise[xmas])
    verdicts = _judge(frame, "2026-02-01")
    flagged = {v.day for v in verdicts if energy.OVER in v.kinds}
    assert flagged and flagged <= set(WINTER[fault])
    assert len(flagged) >= 2


def test_a_baseload_step_is_found_by_cusum_within_days() -> None:
    frame = synthetic(WINTER, noise=15.0)
    step = WINTER >= "2026-02-10"
    frame.loc[step, "electricity_kwh"] += 24.0  # 1 kW left on: 1.6 σ a day
    verdicts = _judge(frame, "2026-01-15")
    drift = [v.day for v in verdicts if energy.DRIFT in v.kinds]
    assert drift and pd.Timestamp("2026-02-10") <= drift[0] <= pd.Timestamp("2026-02-17")
    assert not any(v.kinds for v in verdicts if v.day < pd.Timestamp("2026-02-10"))


def test_a_frozen_meter_is_found() -> None:
    frame = synthetic(WINTER)
    frozen = (WINTER >= "2026-02-10") & (WINTER < "2026-02-13")
    catch_up = frame.loc[frozen, ["electricity_kwh", "gas_kwh"]].sum()
    frame.loc[frozen, ["electricity_kwh", "gas_kwh"]] = 0.0
    frame.loc["2026-02-13", ["electricity_kwh", "gas_kwh"]] += catch_up.to_numpy()
    verdicts = _judge(frame, "2026-02-01")
    assert {v.day for v in verdicts if energy.FREEZE in v.kinds} == set(WINTER[frozen])
    # the catch-up day is not judged against the baseline
    assert not any(v.kinds for v in verdicts if v.day == pd.Timestamp("2026-02-13"))


def test_decret_tertiaire_on_a_hand_example() -> None:
    years = pd.DataFrame({"kwh": [90_000.0, 100_000.0, 95_000.0, 80_000.0],
                          "heating_kwh": [50_000.0, 60_000.0, 55_000.0, 45_000.0],
                          "hdd": [2000.0, 2000.0, 2200.0, 1800.0],
                          "days": [200, 365, 365, 365]}, index=[2023, 2024, 2025, 2026])
    status = energy.decret_status(years, hdd_normal=2000.0)
    assert status is not None
    assert status.reference_year == 2024  # 2023 is incomplete
    assert status.reference_kwh == pytest.approx(100_000)
    # 2026 normalised: 35,000 + 45,000 × 2000/1800 = 85,000
    assert status.current_kwh == pytest.approx(85_000)
    assert status.reduction == pytest.approx(0.15)
    assert status.targets_kwh == pytest.approx({2030: 60_000, 2040: 50_000, 2050: 40_000})
    assert status.expected_reduction == pytest.approx(0.40 * 2 / 6)  # straight line to 2030
    assert status.on_track
    configured = energy.decret_status(years, hdd_normal=2000.0, configured_reference=2025)
    assert configured is not None and configured.reference_year == 2025
    assert configured.reference_kwh == pytest.approx(40_000 + 55_000 * 2000 / 2200)


def test_yearly_totals_feed_the_decret_status() -> None:
    days = pd.date_range("2024-01-01", "2025-12-31", freq="D")
    frame = synthetic(days, noise=0.0)
    hdd = energy.degree_days(frame["outdoor_c"])
    kwh = frame["electricity_kwh"] + frame["gas_kwh"]
    kwh[days.year == 2025] *= 0.9  # 10 % saved in 2025, same weather pattern
    years = energy.yearly(kwh, 30.0 * hdd, hdd)
    assert list(years.index) == [2024, 2025] and list(years["days"]) == [366, 365]
    status = energy.decret_status(years)
    assert status is not None and status.reference_year == 2024
    assert status.reduction == pytest.approx(0.10, abs=0.01)


def test_isolation_forest_flags_a_changed_profile() -> None:
    days = pd.date_range("2025-10-01", "2026-03-31", freq="D")
    frame = synthetic(days)
    rng = np.random.default_rng(5)
    frame["power_avg_w"] = 8000 + rng.normal(0, 200, len(days))
    frame["power_min_w"] = 2000 + rng.normal(0, 50, len(days))
    changed = (days >= "2026-03-01") & (days < "2026-03-04")
    frame.loc[changed, "power_min_w"] = 6000.0  # nights as high as days
    _, verdicts = energy.judge(frame, train_until=pd.Timestamp("2026-02-01"),
                               settings=EnergySettings(isolation_contamination=0.01),
                               closes_for_school=False, use_isolation=True)
    flagged = {v.day for v in verdicts if energy.PROFILE in v.kinds}
    assert set(days[changed]) <= flagged
    assert len(flagged) <= len(days[changed]) + 3


# --- the scored run --------------------------------------------------------------------------
@dataclass(frozen=True)
class Label:
    device: str
    type: str
    first: date
    last: date


def local_date(t: datetime) -> date:
    return t.astimezone(PARIS).date()


def simulate(building: BuildingMeter, weather: Weather, start: date, end: date) -> pd.DataFrame:
    """Hourly samples of a building turned into the daily rows the job reads."""
    t = datetime.combine(start, time(), PARIS).astimezone(UTC)
    stop = datetime.combine(end, time(), PARIS).astimezone(UTC)
    building.substep = timedelta(hours=1)
    rows = []
    previous = t
    while t < stop:
        t += timedelta(hours=1)
        building.advance(previous, t)
        previous = t
        m = building.measure(t)
        rows.append((t - timedelta(minutes=1), m["electricity_kwh"], m.get("gas_kwh", 0.0),
                     m["power_w"], m["occupancy"], weather.temperature(t)))
    hourly = pd.DataFrame(rows, columns=["ts", "el", "gas", "power", "occ", "out"])
    hourly["day"] = pd.to_datetime([local_date(ts) for ts in hourly["ts"]])
    daily = hourly.groupby("day").agg(el=("el", "last"), gas=("gas", "last"),
                                      power_min_w=("power", "min"),
                                      power_avg_w=("power", "mean"), occ=("occ", "max"),
                                      outdoor_c=("out", "mean"))
    return pd.DataFrame({"electricity_kwh": daily["el"].diff(), "gas_kwh": daily["gas"].diff(),
                         "outdoor_c": daily["outdoor_c"], "occupied": daily["occ"] > 0,
                         "power_min_w": daily["power_min_w"],
                         "power_avg_w": daily["power_avg_w"]}).iloc[1:]


def at(day: str, hour: float = 0.0) -> datetime:
    return (datetime.combine(date.fromisoformat(day), time(), PARIS)
            + timedelta(hours=hour)).astimezone(UTC)


def scored_run() -> tuple[dict[str, pd.DataFrame], dict[str, str], list[Label]]:
    weather = Weather("energy-test", lat=45.03, lon=3.09, altitude_m=880)
    specs = [("ecole-1", "ecole"), ("ecole-2", "ecole"), ("ecole-3", "ecole"),
             ("mairie-1", "mairie"), ("gymnase-1", "gymnase"),
             ("salle-1", "salle_polyvalente")]
    buildings = {i: BuildingMeter("t", i, i, lat=45.03, lon=3.09, seed=n, weather=weather,
                                  usage=u, calendar=CAL) for n, (i, u) in enumerate(specs)}
    faults: list[tuple[str, Fault]] = [
        ("ecole-1", Fault("heating_on_holiday", at("2026-02-07"), at("2026-02-23"))),
        ("ecole-2", Fault("heating_on_holiday", at("2026-02-14"), at("2026-02-18"))),
        ("mairie-1", Fault("heating_on_holiday", at("2026-03-06", 19), at("2026-03-09", 7))),
        ("gymnase-1", Fault("baseload_step", at("2026-02-12", 10), at("2026-02-28", 9),
                            {"extra_w": 3.0 * buildings["gymnase-1"].area_m2})),
        ("ecole-3", Fault("baseload_step", at("2026-03-02", 14), at("2026-03-20", 11),
                          {"extra_w": 2.5 * buildings["ecole-3"].area_m2})),
        ("salle-1", Fault("meter_freeze", at("2026-02-18", 11), at("2026-02-23", 15))),
        ("mairie-1", Fault("meter_freeze", at("2026-03-18", 9), at("2026-03-20", 16))),
    ]
    labels = []
    for device, fault in faults:
        buildings[device].add_fault(fault)
        assert fault.end is not None
        labels.append(Label(device, fault.type, local_date(fault.start), local_date(fault.end)))
    frames = {i: simulate(b, weather, date(2025, 10, 1), date(2026, 3, 31))
              for i, b in buildings.items()}
    return frames, dict(specs), labels


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    detections: list[tuple[str, str, date, date]]
    false: list[tuple[str, str, date, date]]
    missed: list[Label]

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(frames: dict[str, pd.DataFrame], usages: dict[str, str], labels: list[Label],
          *, grace_days: int = 2, use_isolation: bool = False) -> Score:
    """Precision on detection episodes (a building's consecutive days flagged with one kind)
    that overlap a label of the building within [first, last + grace]; recall on labels."""
    detections: list[tuple[str, str, date, date]] = []
    for device, frame in frames.items():
        _, verdicts = energy.judge(frame, train_until=pd.Timestamp("2026-02-01"),
                                   settings=EnergySettings(),
                                   closes_for_school=energy.closes_for_school(usages[device]),
                                   calendar=CAL, use_isolation=use_isolation)
        for kind in energy.KINDS:
            for first, last in energy.episodes(verdicts, kind):
                detections.append((device, kind, first.date(), last.date()))

    def matches(d: tuple[str, str, date, date], label: Label) -> bool:
        return (d[0] == label.device and d[2] <= label.last + timedelta(days=grace_days)
                and d[3] >= label.first)

    true = [d for d in detections if any(matches(d, lb) for lb in labels)]
    found = [lb for lb in labels if any(matches(d, lb) for d in detections)]
    return Score(len(true) / len(detections) if detections else 0.0, len(found) / len(labels),
                 detections, [d for d in detections if d not in true],
                 [lb for lb in labels if lb not in found])


@pytest.fixture(scope="module")
def run() -> tuple[dict[str, pd.DataFrame], dict[str, str], list[Label]]:
    return scored_run()


def test_scored_simulated_run_f1(run: tuple[dict[str, pd.DataFrame], dict[str, str],
                                            list[Label]]) -> None:
    result = score(*run)
    print(f"scored run: P {result.precision:.2f} R {result.recall:.2f} F1 {result.f1:.2f}",
          f"({len(result.detections)} episodes, false {result.false}, missed {result.missed})")
    assert result.f1 >= 0.8, result
    assert {lb.type for lb in run[2]} == {"heating_on_holiday", "baseload_step", "meter_freeze"}
    # The IsolationForest adds profile alerts on weekends and bridges: fewer true ones.
    with_forest = score(*run, use_isolation=True)
    print(f"with IsolationForest: P {with_forest.precision:.2f} R {with_forest.recall:.2f} "
          f"F1 {with_forest.f1:.2f}")
    assert with_forest.recall == 1.0 and with_forest.f1 >= 0.8


def test_baselines_of_simulated_buildings_are_calibrated(
        run: tuple[dict[str, pd.DataFrame], dict[str, str], list[Label]]) -> None:
    frames, usages, _ = run
    for device, frame in frames.items():
        baseline, _ = energy.judge(frame, train_until=pd.Timestamp("2026-02-01"),
                                   settings=EnergySettings(),
                                   closes_for_school=energy.closes_for_school(usages[device]),
                                   calendar=CAL)
        assert baseline is not None
        print(device, f"CV(RMSE) {baseline.cv_rmse:.3f} NMBE {baseline.nmbe:.4f}")
        assert baseline.calibrated, (device, baseline)


# --- the job, on the real database -------------------------------------------------------------
def test_job_raises_then_clears_a_frozen_meter(job_settings: Settings,
                                               job_conn: psycopg.Connection,
                                               tenant_slug: str) -> None:
    """The job on rollups written by hand in a schema of this test alone."""
    settings, conn = job_settings, job_conn
    assert JOBS[energy_job.NAME] is energy_job.JOB
    uid = register_device(conn, tenant_slug, "ecole-jules-ferry", kind="building_meter")
    conn.execute("update devices set metadata = '{\"usage\": \"mairie\"}' where uid = %s", (uid,))
    tenant_id = conn.execute("select tenant_id from devices where uid = %s", (uid,)).fetchone()
    assert tenant_id is not None
    days = pd.date_range("2026-01-01", "2026-03-10", freq="D")
    frame = synthetic(days)
    frame.loc["2026-03-10", ["electricity_kwh", "gas_kwh"]] = 0.0  # frozen, a weekday
    rows: list[tuple[object, ...]] = []
    for day, r in frame.iterrows():
        bucket = energy_job.day_start(day.date())
        for metric, delta in (("electricity_kwh", r["electricity_kwh"]),
                              ("gas_kwh", r["gas_kwh"])):
            rows.append((tenant_id[0], uid, metric, bucket, 0, 0, 0, 96, 0, delta))
        occ = 10.0 if r["occupied"] else 0.0
        rows.append((tenant_id[0], uid, "occupancy", bucket, occ, 0, occ, 96, 0, None))
    with conn.cursor() as cur:
        cur.executemany("insert into readings_daily (tenant_id, device_uid, metric, bucket, avg, "
                        "min, max, count, last, delta, computed_at) "
                        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())", rows)

    def run_at(now: datetime) -> int:
        with db.connect(settings) as c:
            return energy_job.run(JobContext(conn=c, settings=settings, now=now,
                                             log=logging.getLogger("test")))

    run_at(at("2026-03-11", 6))
    alert = conn.execute("select status, conditions, params from alerts where device_uid = %s "
                         "and type = 'energy_anomaly'", (uid,)).fetchone()
    assert alert is not None and alert[0] != "resolved"
    assert alert[1] == ["energy_anomaly:index_fige"]
    assert alert[2]["kind"] == "index_fige" and "index figés" in alert[2]["detail_fr"]
    assert alert[2]["temperature_source"] == "normale saisonnière"
    # The next day the meter moves again: the alert resolves.
    bucket = energy_job.day_start(date(2026, 3, 11))
    with conn.cursor() as cur:
        for metric, value in (("electricity_kwh", 130.0), ("gas_kwh", 300.0)):
            cur.execute("insert into readings_daily (tenant_id, device_uid, metric, bucket, avg, "
                        "min, max, count, last, delta, computed_at) values "
                        "(%s, %s, %s, %s, 0, 0, 0, 96, 0, %s, now())",
                        (tenant_id[0], uid, metric, bucket, value))
        cur.execute("insert into readings_daily (tenant_id, device_uid, metric, bucket, avg, min, "
                    "max, count, last, delta, computed_at) values "
                    "(%s, %s, 'occupancy', %s, 10, 0, 10, 96, 0, null, now())",
                    (tenant_id[0], uid, bucket))
    run_at(at("2026-03-12", 6))
    status = conn.execute("select status from alerts where device_uid = %s and "
                          "type = 'energy_anomaly'", (uid,)).fetchone()
    assert status is not None and status[0] == "resolved"


def test_judge_many_judges_each_building_as_judge_does(
        run: tuple[dict[str, pd.DataFrame], dict[str, str], list[Label]]) -> None:
    """The job judges every building in one batch: each row gets the verdicts `judge` gives
    that building alone, with its own settings, carriers and gaps."""
    frames, usages, _ = run
    cases = []
    for n, (device, frame) in enumerate(sorted(frames.items())):
        frame = frame.copy()
        if n % 2:
            frame.loc[frame.index[40:43], "electricity_kwh"] = np.nan  # a gap
        if n == 1:
            frame = frame.drop(columns="gas_kwh")  # a building without gas
        settings = EnergySettings(n_days=1 + n % 3, cusum_h=4.0 + n, freeze_days=1 + n % 2)
        cases.append((frame, settings, energy.closes_for_school(usages[device])))
    days = cases[0][0].index
    assert all(frame.index.equals(days) for frame, _, _ in cases)

    def rows(column: str) -> np.ndarray:
        return np.stack([f[column].to_numpy(dtype=float) if column in f
                         else np.full(len(days), np.nan) for f, _, _ in cases])

    batch = energy.Buildings(
        electricity_kwh=rows("electricity_kwh"), gas_kwh=rows("gas_kwh"),
        has_gas=np.array(["gas_kwh" in f for f, _, _ in cases]), outdoor_c=rows("outdoor_c"),
        occupied=np.stack([f["occupied"].to_numpy(dtype=bool) for f, _, _ in cases]),
        closes_for_school=np.array([c for _, _, c in cases]))
    together = energy.judge_many(pd.DatetimeIndex(days), batch,
                                 train_until=pd.Timestamp("2026-02-01"),
                                 settings=[s for _, s, _ in cases], calendar=CAL)
    kinds_seen = set()
    for (frame, settings, closes), (baseline, verdicts) in zip(cases, together, strict=True):
        alone, alone_verdicts = energy.judge(frame, train_until=pd.Timestamp("2026-02-01"),
                                             settings=settings, closes_for_school=closes,
                                             calendar=CAL)
        assert baseline == alone and verdicts == alone_verdicts
        kinds_seen |= {k for v in verdicts for k in v.kinds}
    assert {energy.OVER, energy.DRIFT, energy.FREEZE} <= kinds_seen  # the cases mean something


def _daily_rows(tenant_id: int, uid: int, frame: pd.DataFrame) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for day, r in frame.iterrows():
        bucket = energy_job.day_start(day.date())
        for metric in ("electricity_kwh", "gas_kwh"):
            if metric in frame:
                rows.append((tenant_id, uid, metric, bucket, 0, 0, 0, 96, 0, r[metric]))
        occ = 10.0 if r["occupied"] else 0.0
        rows.append((tenant_id, uid, "occupancy", bucket, occ, 0, occ, 96, 0, None))
    return rows


def test_job_judges_every_building_with_its_tenants_temperature(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    """Three buildings in one run: one whose tenant has an outdoor sensor, one without (the
    seasonal normal), one with too little history (not judged); both meters freeze."""
    from phare.tenancy import add_tenant

    conn = job_conn
    other = f"{tenant_slug}b"
    add_tenant(conn, other, "Autre commune")
    first = register_device(conn, tenant_slug, "mairie", kind="building_meter")
    second = register_device(conn, other, "gymnase", kind="building_meter")
    young = register_device(conn, other, "salle", kind="building_meter")
    sensor = register_device(conn, tenant_slug, "station", kind="hazard_detector")
    conn.execute("update devices set metadata = '{\"outdoor\": true}' where uid = %s", (sensor,))
    tenants = dict(conn.execute("select uid, tenant_id from devices").fetchall())
    days = pd.date_range("2026-01-01", "2026-03-10", freq="D")
    rows: list[tuple[object, ...]] = []
    for uid, seed in ((first, 1), (second, 2)):
        frame = synthetic(days, seed=seed)
        if uid == second:
            frame = frame.drop(columns="gas_kwh")
        frame.loc["2026-03-10", [c for c in ("electricity_kwh", "gas_kwh") if c in frame]] = 0.0
        rows += _daily_rows(tenants[uid], uid, frame)
    rows += _daily_rows(tenants[young], young, synthetic(days[-10:]))
    rows += [(tenants[sensor], sensor, "temperature_c", energy_job.day_start(d.date()),
              5.0, 0, 0, 24, 0, None) for d in days]
    with conn.cursor() as cur:
        cur.executemany("insert into readings_daily (tenant_id, device_uid, metric, bucket, avg, "
                        "min, max, count, last, delta, computed_at) "
                        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())", rows)
    with db.connect(job_settings) as c:
        changes = energy_job.run(JobContext(conn=c, settings=job_settings,
                                            now=at("2026-03-11", 6),
                                            log=logging.getLogger("test")))
    alerts = dict(conn.execute("select device_uid, params from alerts "
                               "where type = 'energy_anomaly'").fetchall())
    assert changes == 2 and set(alerts) == {first, second}
    assert alerts[first]["temperature_source"] == "capteur extérieur"
    assert alerts[second]["temperature_source"] == "normale saisonnière"
    assert {a["kind"] for a in alerts.values()} == {"index_fige"}
