"""The schema: migrations apply once, and the readings table is a hypertable."""

from phare import db


def test_migrate_is_idempotent(settings):
    assert db.migrate(settings) == []


def test_readings_and_events_are_hypertables(conn, settings):
    names = {r[0] for r in conn.execute(
        "select hypertable_name from timescaledb_information.hypertables "
        "where hypertable_schema = %s", (settings.database_schema,))}
    assert {"readings", "events"} <= names
