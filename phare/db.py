"""Database connections and schema migrations."""

from __future__ import annotations

import logging
from importlib import resources

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from phare.errors import DatabaseUnavailable, MigrationError
from phare.settings import Settings

log = logging.getLogger(__name__)

# Any fixed number: only Phare's `migrate` takes this advisory lock.
MIGRATION_LOCK = 7_405_113


def conninfo_kwargs(settings: Settings) -> dict[str, str]:
    """Connection options: Phare's schema first, then public (where the extensions live)."""
    return {
        "options": search_path_option(settings),
        "application_name": "phare",
    }


def search_path_option(settings: Settings) -> str:
    return f"-c search_path={settings.database_schema},public"


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    """A new connection to Phare's database."""
    try:
        return psycopg.connect(
            settings.database_url.get_secret_value(),
            autocommit=autocommit,
            connect_timeout=5,
            options=search_path_option(settings),
            application_name="phare",
        )
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to the database: {exc}".strip()) from exc


def make_pool(settings: Settings, *, min_size: int = 1, max_size: int = 8) -> ConnectionPool:
    """A connection pool (the API's); opened by the caller."""
    return ConnectionPool(
        settings.database_url.get_secret_value(),
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, **conninfo_kwargs(settings)},
        open=False,
        timeout=10,
    )


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with Phare, in order."""
    out = []
    for entry in resources.files("phare.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def migrate(settings: Settings) -> list[str]:
    """Applies the migrations not yet recorded in the database; returns their names."""
    schema = sql.Identifier(settings.database_schema)
    applied: list[str] = []
    with connect(settings) as conn:
        try:
            conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            missing = {
                row[0]
                for row in conn.execute(
                    "select e from unnest(array['timescaledb', 'postgis']) e "
                    "where e not in (select extname from pg_extension)"
                )
            }
            if missing:
                raise MigrationError(
                    f"the database lacks the extension(s) {', '.join(sorted(missing))}: "
                    "a superuser must run CREATE EXTENSION (deploy/setup-system.sh does it)"
                )
            conn.execute(sql.SQL("create schema if not exists {}").format(schema))
            conn.execute(
                sql.SQL(
                    "create table if not exists {}.schema_migrations ("
                    " version integer primary key, name text not null,"
                    " applied_at timestamptz not null default now())"
                ).format(schema)
            )
            done = {
                r[0]
                for r in conn.execute(
                    sql.SQL("select version from {}.schema_migrations").format(schema)
                )
            }
            for version, name, text in migration_files():
                if version in done:
                    continue
                log.info("applying migration %s", name)
                conn.execute(text.encode())
                conn.execute(
                    sql.SQL("insert into {}.schema_migrations (version, name) values (%s, %s)")
                    .format(schema),
                    (version, name),
                )
                applied.append(name)
            conn.commit()
        except psycopg.Error as exc:
            raise MigrationError(f"migration failed: {exc}") from exc
    return applied
