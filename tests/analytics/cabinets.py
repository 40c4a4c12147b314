"""Helpers of the lighting tests: simulated cabinets registered in the database, and a night
lived by a simulated cabinet under a schedule, in process (no broker), its readings stored."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from devices.messages import Command, Reading
from devices.simulators.lighting import LightingCabinet
from tests.analytics.conftest import insert
from tests.conftest import register_device

METRICS = ("energy_kwh", "power_w", "dimming_pct", "output_on")


def cabinet_at(conn: psycopg.Connection, tenant: str, device_id: str, sim: LightingCabinet,
               lat: float, lon: float, **extra: Any) -> int:
    """Registers the simulated cabinet at (lat, lon) with its metadata (and `extra`)."""
    uid = register_device(conn, tenant, device_id)
    conn.execute("update devices set metadata = %s, "
                 "location = st_setsrid(st_makepoint(%s, %s), 4326)::geography where uid = %s",
                 (Jsonb({**sim.metadata, **extra}), lon, lat, uid))
    return uid


def live_night(sim: LightingCabinet, params: dict[str, Any], *, start: datetime,
               end: datetime) -> list[Reading]:
    """The cabinet receives `params` (a set_schedule) an hour before `start`, then lives until
    `end` + 30 min; its readings (every 10 minutes, its own interval)."""
    sent = start - timedelta(hours=1)
    sim.step(sent)
    ack = sim.handle_command(Command("schedule", "set_schedule", params, ts=sent))
    assert ack.status == "applied", ack
    readings: list[Reading] = []
    t = sent
    while t < end + timedelta(minutes=30):
        t += timedelta(minutes=5)
        readings.extend(p for _, p in sim.step(t) if isinstance(p, Reading))
    return readings


def store_readings(conn: psycopg.Connection, uid: int, readings: list[Reading]) -> None:
    for metric in METRICS:
        insert(conn, uid, metric, [(r.ts, float(r.metrics[metric])) for r in readings
                                   if metric in r.metrics], mark=False)
