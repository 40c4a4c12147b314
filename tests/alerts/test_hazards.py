"""Fire and flood on hand-built cases, end to end from ingest's writer (the outbox) through the
real rules engine to the alerts table: a flood that rises then recedes, a fast heat rise
without a smoke alarm, a weekly self-test and a tamper that raise no fire.

The engine's clock follows the readings (each batch is processed a few seconds after its
readings' time), as it would live; the readings are a few hours in the past so that ingest
takes them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.engine import Engine
from alerts.model import Device
from devices.messages import Event
from ingest.model import Decoded
from ingest.writer import Writer
from phare import db
from phare.settings import Settings

START = (datetime.now(UTC) - timedelta(hours=14)).replace(microsecond=0)


class Live:
    """Writes a device's messages through ingest's writer, then lets the engine process them
    with its clock a few seconds after the message's time."""

    def __init__(self, settings: Settings) -> None:
        self.now = START
        self.engine = Engine(settings, clock=lambda: self.now)
        self.writer_conn = db.connect(settings)
        self.engine_conn = db.connect(settings, autocommit=True)
        self.writer = Writer(self.writer_conn)

    def send(self, device: Device, at: datetime, values: dict[str, float] | None = None,
             events: list[Event] | None = None) -> None:
        self.writer.write([Decoded(topic="t", payload=b"", tenant=device.tenant,
                                   device_id=device.id,
                                   values=[(at, m, v) for m, v in (values or {}).items()],
                                   events=events or [])])
        self.now = at + timedelta(seconds=3)
        self.engine.drain(self.engine_conn)

    def close(self) -> None:
        self.writer_conn.close()
        self.engine_conn.close()


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    lv = Live(settings)
    yield lv
    lv.close()


def alerts_of(conn: psycopg.Connection, device: Device) -> list[dict]:
    rows = conn.execute(
        "select id, type, severity, status, conditions, occurrences, message from alerts "
        "where device_uid = %s order by id", (device.uid,)).fetchall()
    keys = ("id", "type", "severity", "status", "conditions", "occurrences", "message")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def transitions(conn: psycopg.Connection, alert_id: int) -> list[tuple[str, str]]:
    return [(k, s) for k, s in conn.execute(
        "select kind, to_severity from alert_transitions where alert_id = %s order by at, id",
        (alert_id,))]


# A small river after a storm: 40 cm, up through yellow (100), orange (140) and red (200) to
# 235 cm, and back down; a reading every 15 minutes (every 5 above yellow, as gauges do).
HYDROGRAPH = [40, 42, 48, 60, 78, 96, 112, 131, 150, 172, 196, 214, 228, 235, 231, 220,
              204, 186, 165, 146, 128, 110, 96, 84, 74, 66, 60, 55, 51, 48]


def test_a_flood_that_rises_then_recedes_is_one_alert_escalating_and_then_resolved(
        conn: psycopg.Connection, live: Live, gauge: Device) -> None:
    t = START
    crossed: list[str] = []
    sent_at: list[datetime] = []
    for level in HYDROGRAPH:
        sent_at.append(t)
        events = []
        for name, cm in (("yellow", 100), ("orange", 140), ("red", 200)):
            if level >= cm and name not in crossed:  # what the gauge itself reports
                crossed.append(name)
                events.append(Event(t, "water", True, {"threshold": name, "level_cm": level}))
        if level < 100 and crossed:
            crossed = []
            events.append(Event(t, "water", False, {"level_cm": level}))
        live.send(gauge, t, {"water_level_cm": float(level)}, events)
        t += timedelta(minutes=5 if crossed else 15)

    [alert] = alerts_of(conn, gauge)
    assert (alert["type"], alert["status"], alert["severity"]) == ("flood", "resolved", "critical")
    kinds = transitions(conn, alert["id"])
    # Opened by the rise (before yellow), raised at orange, then at red; resolved once the level
    # fell under yellow and stopped rising.
    assert kinds == [("opened", "medium"), ("severity_raised", "high"),
                     ("severity_raised", "critical"), ("resolved", "critical")]
    opened_at, resolved_at = conn.execute(
        "select opened_at, resolved_at from alerts where id = %s", (alert["id"],)).fetchone()
    first_yellow = sent_at[HYDROGRAPH.index(112)]
    assert opened_at < first_yellow  # the rate of rise warned before the yellow threshold
    back_under_yellow = sent_at[HYDROGRAPH.index(96, HYDROGRAPH.index(235))]
    assert resolved_at == back_under_yellow + timedelta(seconds=3)
    assert alert["message"].startswith("Inondation — niveau rouge (")


def test_a_fast_heat_rise_without_a_smoke_alarm_is_a_fire_at_once(
        conn: psycopg.Connection, live: Live, detector: Device) -> None:
    t = START
    live.send(detector, t, {"temperature_c": 20.4, "smoke_alarm": 0.0})
    for minute, celsius in ((15, 20.6), (16, 21.0), (17, 30.2)):
        live.send(detector, t + timedelta(minutes=minute),
                  {"temperature_c": celsius, "smoke_alarm": 0.0})
    [alert] = alerts_of(conn, detector)
    assert (alert["type"], alert["severity"], alert["status"]) == ("fire", "critical", "open")
    assert alert["conditions"] == ["heat_rise"]
    assert alert["message"] == ("Incendie — montée rapide de la température (+9,2 °C/min, "
                                "30,2 °C) au détecteur « École Jules Ferry » à "
                                f"{detector.tenant_name.removeprefix('Commune de ')}")
    opened_at = conn.execute("select opened_at from alerts where id = %s",
                             (alert["id"],)).fetchone()[0]
    assert opened_at == t + timedelta(minutes=17, seconds=3)  # the batch of the rise itself


def test_a_weekly_self_test_and_a_tamper_raise_no_fire(
        conn: psycopg.Connection, live: Live, detector: Device) -> None:
    t = START
    live.send(detector, t, {"temperature_c": 20.0, "smoke_alarm": 0.0})
    # The weekly test: the detector sounds its smoke and heat alarms for 40 seconds, and a
    # heat test warms it; then it cools down.
    test_at = t + timedelta(minutes=10)
    live.send(detector, test_at + timedelta(seconds=20), {"smoke_alarm": 1.0, "temperature_c": 61.0},
              [Event(test_at, "test", True, {"trigger": "weekly"}),
               Event(test_at + timedelta(seconds=5), "smoke", True, {}),
               Event(test_at + timedelta(seconds=10), "heat", True, {}),
               Event(test_at + timedelta(seconds=30), "heat", False, {}),
               Event(test_at + timedelta(seconds=35), "smoke", False, {}),
               Event(test_at + timedelta(seconds=40), "test", False, {"result": "ok"})])
    live.send(detector, test_at + timedelta(minutes=1), {"smoke_alarm": 0.0, "temperature_c": 58.5})
    live.send(detector, test_at + timedelta(minutes=3), {"temperature_c": 35.0})
    live.send(detector, test_at + timedelta(minutes=9), {"temperature_c": 21.0})
    # Someone opens the detector's cover and handles it.
    tamper_at = t + timedelta(minutes=40)
    live.send(detector, tamper_at, {"temperature_c": 21.5},
              [Event(tamper_at, "tamper", True, {"cause": "capot ouvert"})])
    for minute, celsius in ((1, 23.0), (2, 24.5), (3, 25.5)):
        live.send(detector, tamper_at + timedelta(minutes=minute), {"temperature_c": celsius})
    live.send(detector, tamper_at + timedelta(minutes=4), None,
              [Event(tamper_at + timedelta(minutes=4), "tamper", False, {})])

    found = alerts_of(conn, detector)
    assert [a["type"] for a in found] == ["device_fault"]  # the tamper, never a fire
    assert found[0]["status"] == "resolved"
    assert "ouverture ou arrachement" in found[0]["message"]
