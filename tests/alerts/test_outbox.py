"""The outbox: ingest's writer hands the rule-relevant part of each batch to the rules engine
in the batch's transaction; the engine consumes it."""

from __future__ import annotations

import select
from datetime import UTC, datetime, timedelta

import orjson
import psycopg

from alerts.engine import Engine
from alerts.model import Device
from alerts.store import listen
from devices.messages import Event
from ingest.model import Decoded
from ingest.writer import Writer
from phare import db
from phare.settings import Settings
from tests.alerts.conftest import add_device


def inbox(conn: psycopg.Connection, tenant_id: int) -> list[tuple]:
    return [tuple(r) for r in conn.execute(
        "select kind, name, value, active from alert_inbox where tenant_id = %s order by id",
        (tenant_id,))]


def test_the_writer_adds_events_and_hazard_readings_and_notifies(
        conn: psycopg.Connection, tenant: str, settings: Settings, gauge: Device) -> None:
    building = add_device(conn, tenant, "mairie", kind="building_meter")
    now = datetime.now(UTC)
    listener = db.connect(settings, autocommit=True)
    listen(listener, "phare_inbox")
    hazard = Decoded(topic="t", payload=b"", tenant=tenant, device_id=gauge.id,
                     values=[(now, "water_level_cm", 42.0), (now, "temperature_c", 7.5),
                             (now, "battery_pct", 88.0), (now, "rssi_dbm", -90.0)],
                     events=[Event(now, "tamper", True, {"x": 1})])
    meter = Decoded(topic="t", payload=b"", tenant=tenant, device_id=building.id,
                    values=[(now, "temperature_c", 21.0), (now, "power_w", 900.0)])
    with db.connect(settings) as wconn:
        Writer(wconn).write([hazard, meter])
    assert inbox(conn, gauge.tenant_id) == [
        ("reading", "water_level_cm", 42.0, None), ("reading", "temperature_c", 7.5, None),
        ("reading", "battery_pct", 88.0, None), ("event", "tamper", None, True)]
    assert select.select([listener.fileno()], [], [], 2)[0], "no NOTIFY phare_inbox"
    listener.close()


def test_the_engine_consumes_the_inbox_and_ignores_stale_observations(
        conn: psycopg.Connection, tenant: str, settings: Settings, detector: Device) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(seconds=settings.alerts_stale_after_s + 60)
    conn.execute(
        "insert into alert_inbox (ts, tenant_id, device_uid, kind, name, active, detail) "
        "values (%s, %s, %s, 'event', 'smoke', true, %s), (%s, %s, %s, 'event', 'heat', true, %s)",
        (old, detector.tenant_id, detector.uid, orjson.dumps({}).decode(),
         now, detector.tenant_id, detector.uid, orjson.dumps({}).decode()))
    engine = Engine(settings)
    with db.connect(settings, autocommit=True) as econn:
        assert engine.drain(econn) >= 2
    assert inbox(conn, detector.tenant_id) == []
    rows = conn.execute("select type, conditions, occurrences from alerts where device_uid = %s",
                        (detector.uid,)).fetchall()
    assert rows == [("fire", ["heat"], 1)]
