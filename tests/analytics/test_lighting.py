"""Public lighting: schedules, regulatory check and energy (analytics/lighting.py) on the real
astronomical clock of Saint-Flour, checked against the simulated cabinet; the job
(analytics/jobs/lighting.py) on a real database queueing commands and raising alerts."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from analytics.job import JobContext
from analytics.jobs import lighting as job
from analytics.lighting import (
    PARIS,
    Cabinet,
    DarkZone,
    Policy,
    Step,
    Verdict,
    check,
    comply,
    level_of,
    measured_energy,
    point_in_polygon,
    predict,
    schedule,
    sun_times,
)
from analytics.registry import JOBS
from devices.messages import Command
from devices.simulators.base import Fault
from devices.simulators.lighting import Circuit, LightingCabinet
from phare import db
from phare.settings import Settings
from tests.analytics.conftest import insert
from tests.conftest import register_device

LAT, LON = 45.03, 3.09  # Saint-Flour
WINTER, SUMMER = date(2026, 12, 21), date(2026, 6, 21)
CIRCUITS = (Circuit("C1", 1, 8, 39.0), Circuit("C2", 2, 5, 39.0), Circuit("C3", 3, 14, 39.0))


def cabinet(**kw: object) -> Cabinet:
    return Cabinet(lat=LAT, lon=LON, luminaires=27, luminaire_w=39.0, **kw)  # type: ignore[arg-type]


def local(night: date, hh: int, mm: int = 0) -> datetime:
    day = night if hh >= 12 else night + timedelta(days=1)
    return datetime.combine(day, time(hh, mm), PARIS).astimezone(UTC)


def levels(steps: list[Step]) -> list[int]:
    return [s.level_pct for s in steps]


# --- schedule ----------------------------------------------------------------------------
@pytest.mark.parametrize(("night", "dusk", "dawn"), [
    (WINTER, (time(16, 45), time(17, 15)), (time(8, 0), time(8, 30))),
    (SUMMER, (time(21, 20), time(21, 50)), (time(5, 45), time(6, 15))),
], ids=["winter", "summer"])
def test_the_night_runs_from_sunset_to_sunrise(night: date, dusk: tuple[time, time],
                                               dawn: tuple[time, time]) -> None:
    steps = schedule(cabinet(), night)
    sunset, sunrise = sun_times(LAT, LON, night)
    second = timedelta(seconds=1)  # steps are in whole seconds
    assert timedelta(0) <= steps[0].at - sunset < second
    assert timedelta(0) <= sunrise - steps[-1].at < second and steps[-1].level_pct == 0
    on, off = steps[0].at.astimezone(PARIS).time(), steps[-1].at.astimezone(PARIS).time()
    assert dusk[0] <= on <= dusk[1]
    assert dawn[0] <= off <= dawn[1]


@pytest.mark.parametrize("night", [WINTER, SUMMER], ids=["winter", "summer"])
def test_default_policy_dims_at_22_and_switches_off_from_23_to_5(night: date) -> None:
    steps = schedule(cabinet(), night)
    assert [(s.at, s.level_pct) for s in steps[1:-1]] == [
        (local(night, 22), 50), (local(night, 23), 0), (local(night, 5), 100)]
    assert levels(steps) == [100, 50, 0, 100, 0]


def test_a_safety_cabinet_never_goes_below_30_percent() -> None:
    steps = schedule(cabinet(safety=True), WINTER)
    assert levels(steps) == [100, 50, 30, 100, 0]
    assert min(levels(steps[:-1])) == 30


def test_a_cabinet_in_a_dark_zone_is_off() -> None:
    zone = DarkZone("Gorges de l'Ander", ((3.08, 45.02), (3.10, 45.02), (3.10, 45.04),
                                           (3.08, 45.04)))
    elsewhere = DarkZone("ailleurs", ((3.2, 45.2), (3.3, 45.2), (3.3, 45.3)))
    steps = schedule(cabinet(safety=True), WINTER, dark_zones=[zone, elsewhere])
    assert set(levels(steps)) == {0}
    assert predict(cabinet(standby_w=0.0), steps).energy_kwh == 0
    # A zone for the heart of the night only caps that window.
    late = DarkZone("corridor", zone.polygon, level_pct=0, start=time(22, 0), end=time(5, 0))
    assert levels(schedule(cabinet(safety=True), WINTER, dark_zones=[late])) == [100, 0, 100, 0]
    assert not point_in_polygon(3.5, 45.03, zone.polygon)


# --- regulatory check --------------------------------------------------------------------
@pytest.mark.parametrize("night", [WINTER, SUMMER], ids=["winter", "summer"])
def test_the_default_policy_passes_the_check_for_road_lighting(night: date) -> None:
    cab = cabinet(category="a")
    assert check(cab, night, schedule(cab, night)) == Verdict(True)


@pytest.mark.parametrize(("category", "expected"), [
    ("b", "allumé à 5 h 00"), ("d", "rallumage à 7 h au plus tôt")])
def test_the_morning_relight_fails_for_heritage_and_facades(category: str, expected: str) -> None:
    cab = cabinet(category=category)
    verdict = check(cab, WINTER, schedule(cab, WINTER))
    assert not verdict.ok and expected in verdict.reasons_fr[0]


def test_a_heritage_site_lit_after_1_am_fails_with_a_french_reason() -> None:
    cab = cabinet(category="b", safety=True)  # 30 % all night long
    verdict = check(cab, WINTER, schedule(cab, WINTER))
    assert not verdict.ok
    [reason] = verdict.reasons_fr
    assert "patrimoine" in reason and "au plus tard à 1 h" in reason
    assert "arrêté du 27 décembre 2018, art. 2" in reason
    # A park closing at 21:00 must be dark from 22:00, not dimmed to 50 %.
    park = cabinet(category="b", closing=time(21, 0))
    [reason] = check(park, WINTER, schedule(park, WINTER)).reasons_fr
    assert "allumé à 22 h 00" in reason and "une heure après la fermeture (21:00)" in reason


def test_lighting_before_sunset_fails() -> None:
    sunset, sunrise = sun_times(LAT, LON, WINTER)
    steps = [Step(sunset - timedelta(minutes=30), 100), Step(sunrise, 0)]
    verdict = check(cabinet(), WINTER, steps)
    assert not verdict.ok and "avant le coucher du soleil" in verdict.reasons_fr[0]


# --- energy ------------------------------------------------------------------------------
def test_predicted_energy_and_saving_on_a_hand_example() -> None:
    cab = Cabinet(lat=LAT, lon=LON, luminaires=10, luminaire_w=50.0, losses=0.05, standby_w=0.0)
    n = WINTER
    steps = [Step(local(n, 18), 100), Step(local(n, 22), 50), Step(local(n, 23), 0),
             Step(local(n, 5), 100), Step(local(n, 7), 0)]
    p = predict(cab, steps)
    # 500 W × 1.05 = 0.525 kW: 4 h at 100 %, 1 h at 50 %, 6 h off, 2 h at 100 %; 13 h at full.
    assert p.energy_kwh == pytest.approx(0.525 * 6.5)
    assert p.full_kwh == pytest.approx(0.525 * 13)
    assert p.saving_kwh == pytest.approx(0.525 * 6.5)
    assert p.saving_pct == pytest.approx(50.0)


@pytest.mark.parametrize("night", [WINTER, SUMMER], ids=["winter", "summer"])
def test_measured_energy_of_the_simulated_cabinet_matches_the_prediction(night: date) -> None:
    """The simulator applies the schedule as a device would (in process, no broker)."""
    sim = LightingCabinet("t", "armoire-01", "Armoire", lat=LAT, lon=LON, seed=7,
                          circuits=CIRCUITS)
    spec = Cabinet.from_metadata(LAT, LON, sim.metadata)
    steps = schedule(spec, night)
    sent = steps[0].at - timedelta(hours=3)
    sim.clock = sent
    ack = sim.handle_command(Command("c1", "set_schedule",
                                     {"steps": [s.to_json() for s in steps]}, ts=sent))
    assert ack.status == "applied"
    t, end, kwh = steps[0].at, steps[-1].at, 0.0
    while t < end:  # reported power, integrated minute by minute
        dt = min(timedelta(minutes=1), end - t)
        kwh += float(sim.measure(t)["power_w"]) / 1000 * dt.total_seconds() / 3600
        t += dt
    predicted = predict(spec, steps)
    assert kwh == pytest.approx(predicted.energy_kwh, rel=0.05)
    assert predicted.saving_pct > 30


# --- the job -----------------------------------------------------------------------------
def run_job(settings: Settings, now: datetime) -> int:
    with db.connect(settings) as conn:
        return job.run(JobContext(conn=conn, settings=settings, now=now,
                                  log=logging.getLogger("analytics.jobs.lighting")))


def cabinet_device(conn: psycopg.Connection, tenant: str, device_id: str,
                   sim: LightingCabinet, **extra: object) -> int:
    uid = register_device(conn, tenant, device_id)
    conn.execute("update devices set metadata = %s where uid = %s",
                 (Jsonb({**sim.metadata, **extra}), uid))
    return uid


def test_the_job_is_registered() -> None:
    assert JOBS["lighting"] is job.JOB


def test_the_job_queues_one_schedule_per_cabinet_once(job_settings: Settings,
                                                      job_conn: psycopg.Connection,
                                                      tenant_slug: str) -> None:
    sim = LightingCabinet("t", "a", "A", lat=LAT, lon=LON, seed=1, circuits=CIRCUITS)
    uids = [cabinet_device(job_conn, tenant_slug, "armoire-1", sim),
            cabinet_device(job_conn, tenant_slug, "armoire-2", sim, safety=True)]
    now = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
    assert run_job(job_settings, now) == 2
    rows = job_conn.execute("select device_uid, params, detail, expires_at from commands "
                            "where type = 'set_schedule' order by device_uid").fetchall()
    assert [r[0] for r in rows] == uids
    safe_levels = [s["level_pct"] for s in rows[1][1]["steps"]]
    assert safe_levels == [100, 50, 30, 100, 0]
    prediction = rows[0][2]["prediction"]
    assert rows[0][2]["night"] == "2026-01-15" and prediction["saving_pct"] > 30
    assert rows[0][3] == datetime.fromisoformat(rows[0][1]["steps"][0]["at"])
    assert rows[1][2]["safety"] is True and rows[0][2]["safety"] is False
    audited = job_conn.execute(
        "select target from audit_log where action = 'command.create' and actor = 'job:lighting' "
        "and target like %s order by target", (f"{tenant_slug}/%",)).fetchall()
    assert [a[0] for a in audited] == [f"{tenant_slug}/armoire-1", f"{tenant_slug}/armoire-2"]
    # An hour later nothing changed: nothing queued.
    assert run_job(job_settings, now + timedelta(hours=1)) == 0
    count = job_conn.execute("select count(*) from commands").fetchone()
    assert count is not None and count[0] == 2


def test_a_heritage_cabinets_schedule_is_made_compliant_before_it_is_sent(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    """The default policy relights at 05:00 (and `safety` keeps 30 % all night): a category b
    cabinet must stay dark from 01:00 until dawn; the job sends that, and says why."""
    sim = LightingCabinet("t", "a", "A", lat=LAT, lon=LON, seed=1, circuits=CIRCUITS)
    uid = cabinet_device(job_conn, tenant_slug, "cathedrale", sim, safety=True,
                         lighting_category="b")
    assert run_job(job_settings, datetime(2026, 1, 15, 10, 0, tzinfo=UTC)) == 1
    params, detail = job_conn.execute("select params, detail from commands where device_uid = %s",
                                      (uid,)).fetchone()
    steps = [Step(datetime.fromisoformat(x["at"]), x["level_pct"]) for x in params["steps"]]
    night = date(2026, 1, 15)
    assert check(Cabinet.from_metadata(LAT, LON, {**sim.metadata, "lighting_category": "b"}),
                 night, steps).ok
    assert levels(steps) == [100, 50, 30, 0, 0]  # dark from 01:00; the last step ends the night
    assert steps[-2].at == local(night, 1)
    assert detail["check"]["ok"] is True
    assert detail["check"]["policy_reasons"] and "patrimoine" in detail["check"]["policy_reasons"][0]
    assert "éteint de 1 h 00" in detail["check"]["adjusted"][0]


def night_readings(sim: LightingCabinet, night: date) -> dict[str, list[tuple[datetime, float]]]:
    sunset, sunrise = sun_times(LAT, LON, night)
    out: dict[str, list[tuple[datetime, float]]] = {"power_w": [], "dimming_pct": [],
                                                    "output_on": []}
    t = sunset + timedelta(minutes=5)
    while t < sunrise:
        m = sim.measure(t)
        for metric in out:
            out[metric].append((t, float(m[metric])))  # type: ignore[arg-type]
        t += timedelta(minutes=10)
    return out


def test_lamp_failures_raise_a_cabinet_fault(job_settings: Settings,
                                             job_conn: psycopg.Connection,
                                             tenant_slug: str) -> None:
    night = date(2026, 1, 14)
    healthy = LightingCabinet("t", "a", "A", lat=LAT, lon=LON, seed=3, circuits=CIRCUITS)
    broken = LightingCabinet("t", "b", "B", lat=LAT, lon=LON, seed=3, circuits=CIRCUITS)
    start = datetime(2026, 1, 14, 12, tzinfo=UTC)
    for _ in range(2):  # two dark luminaires on C3
        broken.add_fault(Fault("lamp_failure", start, None, {"circuit": "C3"}))
    ok_uid = cabinet_device(job_conn, tenant_slug, "armoire-ok", healthy)
    ko_uid = cabinet_device(job_conn, tenant_slug, "armoire-ko", broken)
    for uid, sim in ((ok_uid, healthy), (ko_uid, broken)):
        for metric, points in night_readings(sim, night).items():
            insert(job_conn, uid, metric, points, mark=False)
    run_job(job_settings, datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
    alerts = job_conn.execute("select device_uid, conditions, source, message from alerts "
                              "where type = 'cabinet_fault' and status <> 'resolved'").fetchall()
    assert [(a[0], a[1], a[2]) for a in alerts] == [(ko_uid, ["lamp_failure_power"],
                                                     "analytics:lighting")]
    assert "lampe" in alerts[0][3]


def test_burning_in_daylight_raises_a_cabinet_fault() -> None:
    spec = cabinet()
    noon = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)
    lit = {noon + timedelta(minutes=10 * i): {"power_w": 1100.0, "output_on": 1.0}
           for i in range(3)}
    dark = {t: {"power_w": 4.0, "output_on": 0.0} for t in lit}
    assert job.judge(spec, lit)[job.DAYLIGHT] is True
    assert job.judge(spec, dark)[job.DAYLIGHT] is False


# --- policies, zones from GeoJSON, compliance, measurement ---------------------------------
def test_a_policy_without_dimming_or_switch_off() -> None:
    assert levels(schedule(cabinet(), WINTER, Policy(dim_at=None))) == [100, 0, 100, 0]
    assert levels(schedule(cabinet(), WINTER, Policy(off_from=None))) == [100, 50, 0]
    assert levels(schedule(cabinet(), WINTER, Policy(dim_at=None, off_from=None))) == [100, 0]


@pytest.mark.parametrize(("policy", "field", "words"), [
    (Policy(dusk_offset=timedelta(minutes=-10)), "dusk_offset_min", "at sunset at the earliest"),
    (Policy(dim_at=time(23, 30), off_from=time(23, 0)), "dim_at", "after the switch-off"),
    (Policy(off_from=time(1, 0), off_until=time(23, 30)), "off_until", "after it begins"),
    (Policy(dim_level=120), "dim_level", "between 0 and 100"),
], ids=["before-sunset", "dim-after-off", "off-ends-before-it-begins", "level"])
def test_an_unusable_policy_says_why(policy: Policy, field: str, words: str) -> None:
    [(name, reason)] = policy.problems()
    assert name == field and words in reason
    assert Policy().problems() == []
    assert Policy(dim_at=time(1, 0), off_from=time(2, 0)).problems() == []  # dimmed after midnight


def test_a_multipolygon_zone_with_a_hole() -> None:
    ring = [[3.0, 45.0], [3.2, 45.0], [3.2, 45.1], [3.0, 45.1], [3.0, 45.0]]
    hole = [[3.05, 45.02], [3.15, 45.02], [3.15, 45.08], [3.05, 45.08], [3.05, 45.02]]
    far = [[4.0, 46.0], [4.1, 46.0], [4.1, 46.1], [4.0, 46.0]]
    zone = DarkZone.from_geojson("z", {"type": "MultiPolygon",
                                       "coordinates": [[ring, hole], [far]]})
    assert zone.contains(45.01, 3.01) and zone.contains(46.02, 4.05)
    assert not zone.contains(45.05, 3.10)  # in the hole: a village inside the corridor
    assert not zone.contains(45.5, 3.5)


@pytest.mark.parametrize(("category", "closing", "dark_from", "dark_until"), [
    ("b", None, (1, 0), None), ("b", time(21, 0), (22, 0), None),
    ("d", None, (1, 0), (7, 0)), ("e", time(20, 0), (22, 0), None),
], ids=["heritage", "park", "facade", "car-park"])
def test_comply_keeps_the_curfew_of_each_category(category: str, closing: time | None,
                                                  dark_from: tuple[int, int],
                                                  dark_until: tuple[int, int] | None) -> None:
    cab = cabinet(category=category, closing=closing, safety=True)
    raw = schedule(cab, WINTER)
    steps, notes = comply(cab, WINTER, raw)
    assert not check(cab, WINTER, raw).ok and check(cab, WINTER, steps).ok
    assert "arrêté du 27 décembre 2018" in notes[0]
    start = local(WINTER, *dark_from)
    assert level_of(steps, start - timedelta(minutes=1)) > 0 and level_of(steps, start) == 0
    if dark_until is not None:  # a façade may be lit again from 07:00 until dawn
        assert level_of(steps, local(WINTER, *dark_until)) > 0
    else:
        assert {s.level_pct for s in steps if s.at >= start} == {0}
    assert steps[-1] == raw[-1]
    road = cabinet(category="a")
    assert comply(road, WINTER, schedule(road, WINTER)) == (schedule(road, WINTER), [])


def test_the_measured_energy_is_read_on_the_index_at_the_first_and_last_steps() -> None:
    n = WINTER
    steps = [Step(local(n, 17, 5), 100), Step(local(n, 23), 0), Step(local(n, 8), 0)]
    index = [(local(n, 17), 1000.0), (local(n, 17, 10), 1000.2),   # lit at 17:05
             (local(n, 8), 1010.0), (local(n, 8, 10), 1010.01)]
    assert measured_energy(index, steps) == pytest.approx(1010.0 - 1000.1)
    assert measured_energy(index[1:], steps) is None               # nothing before dusk
    near = [(local(n, 16, 50), 1000.0), *index[1:]]
    assert measured_energy(near, steps) == pytest.approx(1010.0 - 1000.0 - 0.2 * 15 / 20)
    assert measured_energy([(local(n, 16), 1000.0), *index[1:]][::2], steps) is None  # 65 min
    assert measured_energy([index[0], (local(n, 17, 10), 999.0), *index[2:]], steps) is None
