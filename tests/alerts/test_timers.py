"""Device health: device_offline opens after the reporting interval, resolves on the next
report (injected clock: nothing sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from alerts.model import Device
from alerts.timers import DEFAULT_REPORT_INTERVAL_S, check_devices, run_timers
from analytics.jobs import alert_timers
from analytics.registry import JOBS
from phare.settings import Settings
from tests.alerts.conftest import add_device

T0 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


def seen(conn: psycopg.Connection, device: Device, at: datetime) -> None:
    conn.execute("update devices set last_seen = %s where uid = %s", (at, device.uid))


def offline(conn: psycopg.Connection, device: Device) -> list[tuple[str, str | None]]:
    return [tuple(r) for r in conn.execute(
        "select status, resolution from alerts where device_uid = %s and type = 'device_offline' "
        "order by id", (device.uid,))]


def test_a_silent_device_goes_offline_after_its_interval_and_back_when_it_reports(
        conn: psycopg.Connection, tenant: str, settings: Settings) -> None:
    device = add_device(conn, tenant, "capteur-1", metadata={"report_interval_s": 60})
    seen(conn, device, T0)
    factor = settings.alerts_offline_missed_reports
    check_devices(conn, now=T0 + timedelta(seconds=60 * factor - 1), settings=settings)
    assert offline(conn, device) == []
    check_devices(conn, now=T0 + timedelta(seconds=60 * factor + 1), settings=settings)
    assert offline(conn, device) == [("open", None)]
    message = conn.execute("select message, severity from alerts where device_uid = %s",
                           (device.uid,)).fetchone()
    assert message == ("Capteur « Capteur capteur-1 » à test " + tenant +
                       " : aucune donnée depuis 3 min", "medium")
    check_devices(conn, now=T0 + timedelta(minutes=10), settings=settings)
    assert offline(conn, device) == [("open", None)]  # still one, not one per run
    seen(conn, device, T0 + timedelta(minutes=11))
    check_devices(conn, now=T0 + timedelta(minutes=11, seconds=5), settings=settings)
    assert offline(conn, device) == [("resolved", "cleared")]


def test_the_kinds_default_interval_applies_without_metadata(
        conn: psycopg.Connection, tenant: str, settings: Settings) -> None:
    cabinet = add_device(conn, tenant, "armoire-9", kind="lighting_cabinet")
    never = add_device(conn, tenant, "armoire-10", kind="lighting_cabinet")
    seen(conn, cabinet, T0)
    interval = DEFAULT_REPORT_INTERVAL_S["lighting_cabinet"] * settings.alerts_offline_missed_reports
    check_devices(conn, now=T0 + timedelta(seconds=interval + 1), settings=settings)
    assert offline(conn, cabinet) == [("open", None)]
    assert conn.execute("select severity from alerts where device_uid = %s",
                        (cabinet.uid,)).fetchone() == ("low",)
    assert offline(conn, never) == []  # never heard from: not installed yet


def test_the_timers_are_a_job_of_the_worker(conn: psycopg.Connection, settings: Settings) -> None:
    assert JOBS[alert_timers.NAME] is alert_timers.JOB
    assert run_timers(conn, now=T0, settings=settings).changes >= 0
