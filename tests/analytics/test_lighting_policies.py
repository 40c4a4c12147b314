"""The lighting job with stored policies and dark zones (migration 0009): a cabinet in a dark
zone gets the lowered schedule and one outside does not, policies are inherited down the
tenant tree, a neighbour's zone changes nothing here; and the energy a simulated cabinet's
index measured over an applied night matches the prediction."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from analytics.evaluate import evaluate_lighting, lighting_table
from analytics.job import JobContext
from analytics.jobs import lighting as job
from analytics.lighting import PARIS, Step, level_of
from analytics.lighting_store import policies_in_force, steps_of
from devices.simulators import labels as truth
from devices.simulators.base import Fault
from devices.simulators.lighting import Circuit, LightingCabinet
from phare import db
from phare.settings import Settings
from phare.tenancy import add_tenant
from tests.analytics.cabinets import cabinet_at, live_night, store_readings

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
NIGHT = date(2026, 1, 15)
CIRCUITS = (Circuit("C1", 1, 8, 52.0), Circuit("C2", 2, 7, 52.0), Circuit("C3", 3, 9, 52.0))
# The gorges of the Ander below Saint-Flour, as a polygon [lon, lat].
GORGES = {"type": "Polygon", "coordinates": [[[3.08, 45.02], [3.10, 45.02], [3.10, 45.04],
                                              [3.08, 45.04], [3.08, 45.02]]]}


def run_job(settings: Settings, now: datetime = NOW) -> int:
    with db.connect(settings) as conn:
        return job.run(JobContext(conn=conn, settings=settings, now=now,
                                  log=logging.getLogger("analytics.jobs.lighting")))


def sim(seed: int = 1) -> LightingCabinet:
    return LightingCabinet("t", "a", "A", lat=45.03, lon=3.09, seed=seed, circuits=CIRCUITS)


def schedule_of(conn: psycopg.Connection, uid: int) -> tuple[list[Step], dict]:
    row = conn.execute("select params, detail from commands where device_uid = %s and "
                       "type = 'set_schedule' order by created_at desc limit 1", (uid,)).fetchone()
    assert row is not None, f"no schedule for cabinet {uid}"
    return steps_of(row[0]), row[1]


def local_level(steps: list[Step], hh: int, mm: int = 0) -> int:
    day = NIGHT if hh >= 12 else NIGHT + timedelta(days=1)
    return level_of(steps, datetime(day.year, day.month, day.day, hh, mm, tzinfo=PARIS))


def add_zone(conn: psycopg.Connection, tenant: str, name: str, geometry: dict, level: int = 0,
             starts: str | None = None, ends: str | None = None) -> None:
    conn.execute(
        "insert into dark_zones (tenant_id, name, area, level_pct, starts, ends, updated_by) "
        "select id, %s, st_multi(st_setsrid(st_geomfromgeojson(%s::text), 4326)), %s, %s, %s, "
        "'test' from tenants where slug = %s",
        (name, __import__("json").dumps(geometry), level, starts, ends, tenant))


def set_policy(conn: psycopg.Connection, tenant: str, **values: object) -> None:
    columns = ", ".join(values)
    conn.execute(
        f"insert into lighting_policies (tenant_id, {columns}, updated_by) "  # noqa: S608 - test literals
        f"select id, {', '.join(['%s'] * len(values))}, 'test' from tenants where slug = %s",
        (*values.values(), tenant))


# --- dark zones ---------------------------------------------------------------------------
def test_a_cabinet_in_a_dark_zone_is_off_and_one_outside_keeps_the_policy(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    add_zone(job_conn, tenant_slug, "Trame noire des gorges de l'Ander", GORGES)
    inside = cabinet_at(job_conn, tenant_slug, "armoire-gorges", sim(), 45.03, 3.09, safety=True)
    outside = cabinet_at(job_conn, tenant_slug, "armoire-bourg", sim(), 45.06, 3.12)
    assert run_job(job_settings) == 2
    dark, dark_detail = schedule_of(job_conn, inside)
    lit, lit_detail = schedule_of(job_conn, outside)
    assert {s.level_pct for s in dark} == {0}  # even a safety cabinet: the zone wins
    assert dark_detail["dark_zones"] == ["Trame noire des gorges de l'Ander"]
    assert dark_detail["prediction"]["saving_pct"] > 99
    assert [s.level_pct for s in lit] == [100, 50, 0, 100, 0]
    assert lit_detail["dark_zones"] == []
    assert lit_detail["check"] == {"ok": True, "reasons": [], "adjusted": [],
                                   "policy_reasons": []}


def test_a_zone_for_the_heart_of_the_night_caps_that_window_only(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    add_zone(job_conn, tenant_slug, "Corridor des chiroptères", GORGES, level=20,
             starts="21:30", ends="06:00")
    uid = cabinet_at(job_conn, tenant_slug, "armoire-gorges", sim(), 45.03, 3.09)
    run_job(job_settings)
    steps, _ = schedule_of(job_conn, uid)
    assert [local_level(steps, *hm) for hm in ((18, 0), (21, 45), (22, 30), (3, 0), (5, 30))] == [
        100, 20, 20, 0, 20]


def test_a_neighbours_zone_changes_nothing_here_and_an_epcis_covers_its_communes(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    a, b = f"{tenant_slug}-a", f"{tenant_slug}-b"
    add_tenant(job_conn, a, "Commune A", parent=tenant_slug)
    add_tenant(job_conn, b, "Commune B", parent=tenant_slug)
    uid_a = cabinet_at(job_conn, a, "armoire-1", sim(), 45.03, 3.09)
    add_zone(job_conn, b, "Zone de B", GORGES)  # drawn over A's cabinet, but B's own
    run_job(job_settings)
    assert schedule_of(job_conn, uid_a)[1]["dark_zones"] == []
    add_zone(job_conn, tenant_slug, "Zone de l'EPCI", GORGES, level=10)
    run_job(job_settings, NOW + timedelta(minutes=10))
    steps, detail = schedule_of(job_conn, uid_a)
    assert detail["dark_zones"] == ["Zone de l'EPCI"]
    assert max(s.level_pct for s in steps) == 10


# --- policies -----------------------------------------------------------------------------
def test_a_commune_without_a_policy_follows_the_nearest_tenant_above_it(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    syndicate, epci = tenant_slug, f"{tenant_slug}-cc"
    a, b, elsewhere = f"{tenant_slug}-a", f"{tenant_slug}-b", f"{tenant_slug}-x"
    add_tenant(job_conn, epci, "Communauté de communes", parent=syndicate)
    add_tenant(job_conn, a, "Commune A", parent=epci)
    add_tenant(job_conn, b, "Commune B", parent=epci)
    add_tenant(job_conn, elsewhere, "Syndicat voisin")
    set_policy(job_conn, syndicate, dim_at="21:00", dim_level=40, off_from=None)
    set_policy(job_conn, epci, dim_at="22:30", dim_level=60, off_from="00:00", off_until="06:00",
               morning_level=80)
    set_policy(job_conn, b, evening_level=80, dim_at=None, off_from="01:00", off_until="05:00")
    uids = {t: cabinet_at(job_conn, t, "armoire-1", sim(), 45.03, 3.09)
            for t in (syndicate, epci, a, b, elsewhere)}
    run_job(job_settings)

    def levels(tenant: str) -> list[int]:
        return [s.level_pct for s in schedule_of(job_conn, uids[tenant])[0]]

    assert levels(syndicate) == [100, 40, 0]          # dimmed at 21:00, never off
    assert levels(epci) == levels(a) == [100, 60, 0, 80, 0]
    assert levels(b) == [80, 0, 100, 0]
    assert levels(elsewhere) == [100, 50, 0, 100, 0]  # the default
    sources = {t: schedule_of(job_conn, uids[t])[1]["policy"]["from"] for t in uids}
    assert sources == {syndicate: syndicate, epci: epci, a: epci, b: b, elsewhere: None}
    ids = dict(job_conn.execute("select slug, id from tenants where slug = any(%s)",
                                (list(uids),)).fetchall())
    in_force = policies_in_force(job_conn)
    assert in_force[ids[a]].source == epci and ids[elsewhere] not in in_force


def test_a_dusk_offset_keeps_the_cabinet_dark_after_sunset(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    set_policy(job_conn, tenant_slug, dusk_offset_min=20)
    uid = cabinet_at(job_conn, tenant_slug, "armoire-1", sim(), 45.03, 3.09)
    run_job(job_settings)
    steps, _ = schedule_of(job_conn, uid)
    assert steps[0].level_pct == 0 and steps[1].level_pct == 100
    assert steps[1].at - steps[0].at == pytest.approx(timedelta(minutes=20), abs=timedelta(seconds=2))


# --- measured energy ------------------------------------------------------------------------
@pytest.mark.parametrize("zone", [False, True], ids=["policy", "dark-zone-dimmed"])
def test_an_applied_nights_measured_energy_matches_the_prediction(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str,
        zone: bool) -> None:
    """The simulated cabinet lives the night under the schedule the job sent (in process), its
    readings are stored as ingest would; the job then measures the night from the index."""
    if zone:
        add_zone(job_conn, tenant_slug, "Trame noire", GORGES, level=30)
    cabinet = sim(seed=5)
    uid = cabinet_at(job_conn, tenant_slug, "armoire-1", cabinet, 45.03, 3.09)
    run_job(job_settings)
    steps, detail = schedule_of(job_conn, uid)
    params = job_conn.execute("select params from commands where device_uid = %s",
                              (uid,)).fetchone()[0]
    store_readings(job_conn, uid, live_night(cabinet, params, start=steps[0].at,
                                             end=steps[-1].at))
    # Not applied yet: nothing to measure; then the cabinet's ack.
    assert job.measure(job_conn, NOW + timedelta(days=1)) == 0
    job_conn.execute("update commands set status = 'applied' where device_uid = %s", (uid,))
    assert job.measure(job_conn, steps[-1].at + timedelta(minutes=10)) == 0  # night not over
    assert job.measure(job_conn, NOW + timedelta(days=1)) == 1
    measured = schedule_of(job_conn, uid)[1]["measured"]
    predicted = detail["prediction"]
    assert measured["energy_kwh"] == pytest.approx(predicted["energy_kwh"], rel=0.05)
    assert abs(measured["saving_error_pct"]) < 5 and abs(measured["energy_error_pct"]) < 5
    assert measured["saving_pct"] == pytest.approx(predicted["saving_pct"], abs=3)
    assert job.measure(job_conn, NOW + timedelta(days=1)) == 0  # measured once


def test_a_night_without_index_readings_is_given_up_after_a_few_days(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    uid = cabinet_at(job_conn, tenant_slug, "armoire-1", sim(), 45.03, 3.09)
    run_job(job_settings)
    job_conn.execute("update commands set status = 'applied' where device_uid = %s", (uid,))
    assert job.measure(job_conn, NOW + timedelta(days=1)) == 0
    assert job.measure(job_conn, NOW + timedelta(days=job.MEASURE_DAYS + 1)) == 1
    assert "absents" in schedule_of(job_conn, uid)[1]["measured"]["unavailable"]


# --- the lighting evaluation ------------------------------------------------------------------
def test_the_lighting_evaluation_checks_the_coming_nights_and_measures_the_past_ones(
        job_settings: Settings, job_conn: psycopg.Connection, tenant_slug: str) -> None:
    """Four simulated cabinets (road, heritage, in a dark zone, with a dark lamp) live the
    night of the job's schedules; the dark lamp's night is excluded from the energy score."""
    add_zone(job_conn, tenant_slug, "Trame noire", GORGES, level=30)
    sims = {name: sim(seed=i) for i, name in enumerate(("voirie", "cathedrale", "gorges",
                                                        "lampe"), start=1)}
    broken_at = NOW + timedelta(hours=2)
    sims["lampe"].add_fault(Fault("lamp_failure", broken_at, None, {"circuit": "C3"}))
    places = {"voirie": (45.06, 3.12), "cathedrale": (45.06, 3.12), "gorges": (45.03, 3.09),
              "lampe": (45.06, 3.12)}
    uids = {name: cabinet_at(job_conn, tenant_slug, f"armoire-{name}", s, *places[name],
                             **({"lighting_category": "b", "safety": True}
                                if name == "cathedrale" else {}))
            for name, s in sims.items()}
    truth.store(job_conn, [truth.Label("lamp_failure", tenant_slug, "armoire-lampe", broken_at,
                                       None, {"circuit": "C3"})], truth.Run("lighting", 1))
    run_job(job_settings)
    for name, uid in uids.items():
        steps, _ = schedule_of(job_conn, uid)
        params = job_conn.execute("select params from commands where device_uid = %s",
                                  (uid,)).fetchone()[0]
        store_readings(job_conn, uid, live_night(sims[name], params, start=steps[0].at,
                                                 end=steps[-1].at))
    job_conn.execute("update commands set status = 'applied'")

    result = evaluate_lighting(job_conn, now=NOW + timedelta(days=1), nights=7)
    assert (result.cabinets, result.schedules, result.passing) == (4, 28, 28)
    assert result.policy_passing == 21  # the heritage cabinet's policy fails every night
    assert (result.applied, result.measured, result.excluded, result.within) == (4, 4, 1, 3)
    assert max(abs(e) for e in result.saving_errors) < 1.0
    text = lighting_table(result)
    assert "28 (100.0 %)" in text and "3 (100.0 %)" in text
