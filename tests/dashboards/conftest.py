"""A small territory for the dashboards' queries, in a database schema of its own.

One commune under a syndicate, with one device of each kind (two hazard detectors: a level
probe and a smoke detector) reporting every 10 minutes for four days, events, rejected
messages, alerts, and the rollups computed by the real rollup job (which records its run in
`job_runs`). A second syndicate and commune own nothing: what the dashboards show for them
must be empty. The schema is this module's alone because the rollup job and job runs are
platform-wide, not per tenant.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

from analytics.jobs import rollups
from analytics.runner import Runner
from dashboards.grafana.macros import QueryContext, auto_interval, expand
from phare import db
from phare.settings import Settings
from phare.tenancy import add_tenant
from tests.conftest import TEST_DATABASE_URL, register_device

PARIS = ZoneInfo("Europe/Paris")
STEP = timedelta(minutes=10)
DAYS = 4
# Ranges a panel is checked over: raw readings, hourly rollups, daily rollups.
SPANS = {"2d": timedelta(days=2), "10d": timedelta(days=10), "120d": timedelta(days=120)}
THRESHOLDS_CM = {"yellow": 120.0, "orange": 160.0, "red": 210.0}


@dataclass
class Territory:
    settings: Settings
    root_id: int
    commune_id: int
    other_root_id: int
    other_commune_id: int
    end: datetime  # readings run from end - DAYS to end
    devices: dict[str, int]  # role -> uid
    names: dict[str, str]  # role -> device name

    def context(self, span: str, tenants: Sequence[int] | None = None,
                min_interval: str | None = None) -> QueryContext:
        """Grafana's context for a panel over the last `span` (ending an hour after `end`)."""
        to = self.end + timedelta(hours=1)
        frm = to - SPANS[span]
        ids = [self.root_id] if tenants is None else list(tenants)
        return QueryContext(frm, to, auto_interval(frm, to, min_interval=min_interval),
                            {"tenant": [str(i) for i in ids]})

    def connect(self) -> psycopg.Connection:
        return db.connect(self.settings, autocommit=True)

    def run(self, query: str, ctx: QueryContext, *,
            conn: psycopg.Connection | None = None) -> list[tuple[Any, ...]]:
        """The rows of a panel's query, its macros expanded for `ctx`."""
        sql = expand(query, ctx)
        if conn is not None:
            return conn.execute(sql.encode()).fetchall()
        with self.connect() as c:
            return c.execute(sql.encode()).fetchall()

    def has_table(self, name: str) -> bool:
        with self.connect() as c:
            row = c.execute("select to_regclass(%s)", (name,)).fetchone()
        return row is not None and row[0] is not None


def _series(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """(UTC instant, Paris local time) every STEP."""
    t = start
    while t <= end:
        yield t, t.astimezone(PARIS)
        t += STEP


def _readings(uids: dict[str, int], start: datetime, end: datetime,
              fault_day: datetime) -> Iterator[tuple[datetime, str, str, float]]:
    """(ts, role, metric, value) of every device."""
    energy = electricity = gas = volume = 0.0
    fault_date = fault_day.astimezone(PARIS).date()
    for t, local in _series(start, end):
        hour = local.hour + local.minute / 60
        day_index = (t - start).days
        # Lighting: on at night, dimmed in its heart; lit in daylight by a fault one morning.
        night = hour < 7 or hour >= 18
        fault = local.date() == fault_date and 10 <= hour < 12
        lux = 20000.0 if 9 <= hour < 17 else (0.5 if night else 200.0)
        on = night or fault
        level = (50 if hour >= 23 or hour < 5 else 100) if on else 0
        power = 1500 * level / 100 + 4
        energy += power * STEP.total_seconds() / 3600 / 1000
        yield from ((t, "cabinet", m, v) for m, v in (
            ("power_w", power), ("energy_kwh", energy), ("dimming_pct", level),
            ("output_on", 1.0 if on else 0.0), ("ambient_lux", lux)))
        # Water: night noise once a night at 03:00, a flow meter whose nights are quiet.
        if local.hour == 3 and local.minute == 0:
            yield t, "acoustic", "noise_min_db", 22.0 + day_index
        yield t, "acoustic", "noise_level_db", 35.0 + 5 * math.sin(hour)
        flow = 1.5 if 2 <= hour < 4 else 4.0 + math.sin(hour)
        volume += flow * STEP.total_seconds() / 3600
        yield from ((t, "flow", m, v) for m, v in (
            ("flow_m3h", flow), ("volume_m3", volume), ("pressure_bar", 4.2)))
        # Hazards: a stream's level and the outdoor air; a smoke detector with one alarm.
        outdoor = 6.0 + 5 * math.sin(2 * math.pi * (hour - 9) / 24)
        yield from ((t, "probe", m, v) for m, v in (
            ("water_level_cm", 50 + 10 * math.sin(t.timestamp() / 40000)),
            ("temperature_c", outdoor)))
        alarm = local.date() == fault_date and 15 <= hour < 15.5
        yield from ((t, "smoke", m, v) for m, v in (
            ("smoke_alarm", 1.0 if alarm else 0.0), ("temperature_c", 19.5)))
        # A school: busy by day, its baseload at night.
        busy = 8 <= hour < 18
        electricity += (3.0 if busy else 0.5) * STEP.total_seconds() / 3600
        gas += (12.0 if busy else 4.0) * STEP.total_seconds() / 3600
        yield from ((t, "building", m, v) for m, v in (
            ("electricity_kwh", electricity), ("gas_kwh", gas),
            ("power_w", 3000.0 if busy else 500.0), ("co2_ppm", 1100.0 if busy else 450.0),
            ("temperature_c", 20.0)))


@pytest.fixture(scope="session")
def territory(settings: Settings) -> Iterator[Territory]:
    schema = f"{settings.database_schema}_dash{uuid.uuid4().hex[:6]}"
    own = settings.model_copy(update={"database_schema": schema})
    db.migrate(own)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 10)
    start = end - timedelta(days=DAYS)
    fault_day = end - timedelta(days=1)
    try:
        with db.connect(own, autocommit=True) as conn:
            territory = _build(conn, own, start, end, fault_day)
        # The real rollup job, run as `phare worker` would at `end`: it records its run.
        records = Runner(own, jobs={rollups.JOB.name: rollups.JOB}, clock=lambda: end).run_due()
        assert [r.status for r in records] == ["ok"], records
        yield territory
    finally:
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')


def _build(conn: psycopg.Connection, settings: Settings, start: datetime, end: datetime,
           fault_day: datetime) -> Territory:
    tag = uuid.uuid4().hex[:8]
    root_id = add_tenant(conn, f"dash-{tag}", "Syndicat de test")
    commune_id = add_tenant(conn, f"dash-{tag}-commune", "Commune de test", f"dash-{tag}")
    other_root_id = add_tenant(conn, f"dash-{tag}-autre", "Autre syndicat")
    other_commune_id = add_tenant(conn, f"dash-{tag}-voisine", "Commune voisine",
                                  f"dash-{tag}-autre")
    commune = f"dash-{tag}-commune"
    kinds = {"cabinet": "lighting_cabinet", "acoustic": "acoustic_leak_sensor",
             "flow": "water_flow_meter", "probe": "hazard_detector", "smoke": "hazard_detector",
             "building": "building_meter"}
    uids = {role: register_device(conn, commune, f"{role}-1", kind)
            for role, kind in kinds.items()}
    names = {role: f"Device {role}-1" for role in kinds}
    metadata = {"probe": {"sensor": "water_level", "thresholds_cm": THRESHOLDS_CM},
                "smoke": {"sensor": "smoke"}}
    for role, meta in metadata.items():
        conn.execute("update devices set metadata = %s where uid = %s", (Jsonb(meta), uids[role]))
    conn.execute("update devices set last_seen = %s, online = true where uid = any(%s)",
                 (end, list(uids.values())))
    # The smoke detector went silent two days ago (its last will said so).
    conn.execute("update devices set last_seen = %s, online = false where uid = %s",
                 (end - timedelta(days=2), uids["smoke"]))

    with conn.cursor().copy(
            "copy readings (ts, tenant_id, device_uid, metric, value) from stdin") as copy:
        for ts, role, metric, value in _readings(uids, start, end, fault_day):
            copy.write_row((ts, commune_id, uids[role], metric, value))

    events = [(fault_day, "cabinet", "breaker_trip", True), (fault_day + STEP, "cabinet",
              "door_open", False), (fault_day + timedelta(hours=5), "smoke", "smoke", True),
              (fault_day + timedelta(hours=6), "probe", "test", True)]
    for ts, role, kind, active in events:
        conn.execute("insert into events (ts, tenant_id, device_uid, type, active) "
                     "values (%s, %s, %s, %s, %s)", (ts, commune_id, uids[role], kind, active))

    for tenant_id, device, reason in ((commune_id, "cabinet-1", "invalid_value"),
                                      (None, None, "unknown_topic")):
        conn.execute(
            "insert into rejected_messages (received_at, tenant_id, device_id, topic, reason, "
            "detail, payload, payload_size) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (end - timedelta(hours=1), tenant_id, device, "phare/v1/x/y/telemetry", reason,
             "a test rejection", b"{}", 2))

    if conn.execute("select to_regclass('alerts')").fetchone() == (None,):
        return Territory(settings, root_id, commune_id, other_root_id, other_commune_id, end,
                         uids, names)  # alerts/ has not landed: its panels' tests skip
    for role, kind, severity, status, opened in (
            ("flow", "water_leak", "high", "open", end - timedelta(hours=6)),
            ("smoke", "fire", "critical", "acknowledged", fault_day + timedelta(hours=5)),
            ("probe", "flood", "medium", "resolved", fault_day),
            ("cabinet", "cabinet_fault", "medium", "open", fault_day)):
        conn.execute(
            "insert into alerts (tenant_id, device_uid, type, severity, status, source, "
            "message, text_key, opened_at, last_seen_at, updated_at) "
            "values (%s, %s, %s, %s, %s, 'rules', %s, 'generic', %s, %s, %s)",
            (commune_id, uids[role], kind, severity, status, f"Alerte de test {kind}",
             opened, opened, opened))
    return Territory(settings, root_id, commune_id, other_root_id, other_commune_id, end,
                     uids, names)
