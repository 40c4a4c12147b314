"""The `phare` command (contract §4)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Annotated

import typer
from pydantic import ValidationError

from phare.errors import PhareError
from phare.settings import Settings

app = typer.Typer(help="Phare: IoT telemetry for French local authorities.",
                  no_args_is_help=True, add_completion=False)
tenant_app = typer.Typer(help="Tenants: syndicates, EPCI, communes.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(apikey_app, name="apikey")


def load_settings() -> Settings:
    """The settings from the environment; a readable message and exit 2 if they are invalid."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                             for e in exc.errors())
        typer.echo(f"error: invalid settings: {problems}", err=True)
        raise typer.Exit(2) from None


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@app.command()
def config() -> None:
    """Print the effective settings, one PHARE_…=value line each (secrets masked)."""
    for line in load_settings().public_lines():
        typer.echo(line)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (idempotent)."""
    from phare import db

    settings = load_settings()
    try:
        applied = db.migrate(settings)
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo("applied: " + ", ".join(applied) if applied else "schema is up to date")


@tenant_app.command("add")
def tenant_add(
    slug: str,
    name: Annotated[str, typer.Option(help="Display name, e.g. \"Commune de Saint-Flour\".")],
    parent: Annotated[str | None, typer.Option(help="Slug of the parent tenant.")] = None,
) -> None:
    """Create a tenant (idempotent)."""
    from phare import db
    from phare.tenancy import add_tenant

    settings = load_settings()
    try:
        with db.connect(settings) as conn:
            add_tenant(conn, slug, name, parent)
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(f"tenant {slug} ready")


@apikey_app.command("add")
def apikey_add(
    tenant: Annotated[str, typer.Option(help="Slug of the key's tenant.")],
    role: Annotated[str, typer.Option(help="admin, technician, operator or viewer.")] = "viewer",
    name: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
) -> None:
    """Create an API key and print it on the last line."""
    from phare import db
    from phare.tenancy import create_api_key

    settings = load_settings()
    try:
        with db.connect(settings) as conn:
            key = create_api_key(conn, tenant, role, name)
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(f"API key for tenant {tenant}, role {role} (shown once, keep it safe):")
    typer.echo(key)


@app.command()
def ingest(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run the MQTT consumer until SIGINT/SIGTERM, then drain and exit 0."""
    from ingest.consumer import Consumer

    setup_logging(verbose)
    settings = load_settings()
    try:
        consumer = Consumer(settings)
    except PhareError as exc:
        raise fail(exc) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    consumer.start()
    logging.getLogger("phare").info("ingest running on %s; Ctrl-C to stop", settings.mqtt_url)
    ticks = 0
    while not stop.wait(1) and consumer.failure is None:
        ticks += 1
        if ticks % 30 == 0:
            logging.getLogger("phare").info("%s", consumer.stats.line())
    consumer.stop()
    if consumer.failure is not None:
        raise fail(RuntimeError(f"ingest writer failed: {consumer.failure}"))


rejected_app = typer.Typer(help="Rejected messages.", no_args_is_help=True)
app.add_typer(rejected_app, name="rejected")


@rejected_app.command("replay")
def rejected_replay(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's messages.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason, e.g. unknown_device.")] = None,
) -> None:
    """Replay pending rejected messages through ingest (after fixing their cause)."""
    from ingest.replay import replay
    from phare import db

    settings = load_settings()
    with db.connect(settings) as conn:
        tenant_ids = None
        if tenant is not None:
            row = conn.execute("select array(select tenant_subtree(id)) from tenants "
                               "where slug = %s", (tenant,)).fetchone()
            if row is None:
                raise fail(PhareError(f"tenant '{tenant}' does not exist"))
            tenant_ids = row[0]
        result = replay(conn, settings, tenant_ids=tenant_ids, reason=reason)
    again = ", ".join(f"{r}: {n}" for r, n in result.rejected_again.items()) or "none"
    typer.echo(f"replayed {result.messages} messages: {result.values_stored} values stored; "
               f"rejected again: {again}; not replayable (truncated): {result.not_replayable}")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the HTTP API in the foreground."""
    import uvicorn

    from api.main import create_app

    settings = load_settings()
    uvicorn.run(create_app(settings), host=host or settings.api_host,
                port=port or settings.api_port, log_level="info")


@app.command()
def demo(
    days: Annotated[float, typer.Option(help="Simulated days, ending now.", min=0.01, max=90)] = 2.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated territory.")] = 42,
    serve: Annotated[bool, typer.Option(help="Keep ingest and the API running until Ctrl-C.")] = True,
) -> None:
    """Run ingest and the API with simulated devices, print what was stored."""
    from phare.demo import DemoOptions, run_demo

    setup_logging()
    logging.getLogger().setLevel(logging.WARNING)
    settings = load_settings()
    try:
        run_demo(settings, DemoOptions(days=days, seed=seed, serve=serve), typer.echo)
    except (PhareError, RuntimeError) as exc:
        raise fail(exc) from None


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
