"""The `phare` command (contract §4)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
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
    kind: Annotated[str | None, typer.Option(
        help="syndicate, epci, commune or partner; default: syndicate without a parent, epci "
             "below a syndicate, commune below that.")] = None,
) -> None:
    """Create a tenant (idempotent)."""
    from phare import db
    from phare.tenancy import add_tenant

    settings = load_settings()
    try:
        with db.connect(settings) as conn:
            add_tenant(conn, slug, name, parent, kind)
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(f"tenant {slug} ready")


@apikey_app.command("add")
def apikey_add(
    tenant: Annotated[str | None, typer.Option(
        help="Slug of the key's tenant (a service key).")] = None,
    role: Annotated[str | None, typer.Option(
        help="admin, technician, operator or viewer (service keys; default viewer).")] = None,
    name: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    user: Annotated[str | None, typer.Option(
        help="E-mail address of the key's user: the key has the user's tenant and role.")] = None,
) -> None:
    """Create an API key and print it on the last line."""
    from phare import db
    from phare.tenancy import issue_api_key

    settings = load_settings()
    if user is None and tenant is None:
        raise fail(PhareError("give --tenant (a service key) or --user (a user's key)"))
    if user is None and role is None:
        role = "viewer"
    try:
        with db.connect(settings) as conn:
            issued = issue_api_key(conn, tenant=tenant, role=role, user=user, name=name)
    except PhareError as exc:
        raise fail(exc) from None
    owner = f"user {user}" if user else f"tenant {tenant}"
    typer.echo(f"API key for {owner}, role {issued.role} (shown once, keep it safe):")
    typer.echo(issued.key)


user_app = typer.Typer(help="Users: people with a role in a tenant.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    tenant: Annotated[str, typer.Option(help="Slug of the user's tenant.")],
    email: Annotated[str, typer.Option(help="The user's e-mail address (unique).")],
    role: Annotated[str, typer.Option(help="admin, technician, operator or viewer.")],
    name: Annotated[str | None, typer.Option(help="The user's name.")] = None,
) -> None:
    """Create a user; then `phare apikey add --user EMAIL` gives them a key."""
    from phare import db
    from phare.tenancy import add_user

    settings = load_settings()
    try:
        with db.connect(settings) as conn:
            add_user(conn, tenant=tenant, email=email, role=role, name=name)
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(f"user {email} ready: {role} of {tenant}")


partner_app = typer.Typer(help="Partners (water operator, SDIS…) and their access.",
                          no_args_is_help=True)
app.add_typer(partner_app, name="partner")


@partner_app.command("grant")
def partner_grant(
    partner: Annotated[str, typer.Option(help="Slug of the partner (a tenant of kind partner).")],
    tenant: Annotated[str, typer.Option(help="Slug of the tenant it may read (and below).")],
    kinds: Annotated[str, typer.Option(
        help="Device kinds, comma-separated: water_flow_meter,acoustic_leak_sensor.")],
    expires: Annotated[str, typer.Option(
        help="Last day of access (2027-12-31, included) or an instant with its offset.")],
) -> None:
    """Let a partner read some kinds of devices of a tenant until a date (replaces a grant)."""
    from phare import db
    from phare.tenancy import grant_partner, parse_expiry

    settings = load_settings()
    try:
        expires_at = parse_expiry(expires)
        with db.connect(settings) as conn:
            grant_partner(conn, partner=partner, tenant=tenant,
                          kinds=[k.strip() for k in kinds.split(",") if k.strip()],
                          expires_at=expires_at)
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(f"partner {partner} reads {kinds} in {tenant} until {expires_at.isoformat()}")


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
                port=port or settings.api_port, log_level="info", timeout_graceful_shutdown=5)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(
        "--once", help="Run every due job once over all data not yet processed, then exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the scheduled jobs (rollups, retention, ...) until SIGINT/SIGTERM."""
    from analytics.runner import Runner

    setup_logging(verbose)
    settings = load_settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner = Runner(settings, should_stop=stop.is_set)
    try:
        if not once:
            logging.getLogger("phare").info("worker running; Ctrl-C to stop")
            runner.run_forever(stop)
            return
        records = runner.run_due()
    except PhareError as exc:
        raise fail(exc) from None
    if not records:
        typer.echo("no job due")
    for r in records:
        seconds = (r.finished_at - r.started_at).total_seconds()
        typer.echo(f"{r.job}: {r.status}, {r.rows} rows, {seconds:.1f} s")
    failed = [r for r in records if r.status == "failed"]
    for r in failed:
        typer.echo(f"error: job {r.job} failed: {r.error}", err=True)
    if failed:
        raise typer.Exit(1)


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


dashboards_app = typer.Typer(help="Grafana dashboards: push them to Grafana, or export them as "
                                  "provisioning files.", no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards")


@dashboards_app.command("push")
def dashboards_push(
    url: Annotated[str, typer.Option(envvar="PHARE_GRAFANA_URL",
                                     help="Grafana's URL, e.g. http://127.0.0.1:3000.")],
    token: Annotated[str, typer.Option(envvar="PHARE_GRAFANA_TOKEN",
                                       help="A Grafana service account token (Admin role).")],
    folder: Annotated[str, typer.Option(help="Grafana folder of the dashboards.")] = "Phare",
) -> None:
    """Create or update the folder, the data source and the dashboards in Grafana (idempotent)."""
    from dashboards.provision import Connection, GrafanaSettings, connect, push

    setup_logging()
    settings = load_settings()
    try:
        connection = Connection.from_settings(settings, GrafanaSettings())
        result = push(connect(url, token), connection, folder=folder)
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(f"folder {folder} ({result.folder_uid}) "
               f"{'created' if result.folder_created else 'up to date'}; data source "
               f"{'created' if result.datasource_created else 'updated'} "
               f"({connection.masked}); {len(result.dashboards)} dashboards pushed: "
               + ", ".join(result.dashboards))


@dashboards_app.command("export")
def dashboards_export(
    directory: Annotated[Path, typer.Argument(help="Where to write the provisioning layout.")],
    folder: Annotated[str, typer.Option(help="Grafana folder of the dashboards.")] = "Phare",
    dashboards_path: Annotated[Path | None, typer.Option(
        help="Where Grafana reads the dashboards' JSON files, if not DIRECTORY/dashboards "
             "(e.g. the path mounted in Grafana's container).")] = None,
) -> None:
    """Write Grafana's file-provisioning layout: data source, dashboard provider, dashboards."""
    from dashboards.provision import PASSWORD_ENV, Connection, GrafanaSettings, export

    settings = load_settings()
    try:
        connection = Connection.from_settings(settings, GrafanaSettings())
        written = export(directory, connection, folder=folder, dashboards_path=dashboards_path)
    except (PhareError, OSError) as exc:
        raise fail(exc) from None
    for path in written:
        typer.echo(str(path))
    typer.echo(f"data source: {connection.masked}; set {PASSWORD_ENV} in Grafana's environment")


@dashboards_app.command("preview")
def dashboards_preview(
    out: Annotated[Path, typer.Option(help="Folder of the pictures (grafana-<dashboard>.png), "
                                           "e.g. docs/images.")],
    tenant: Annotated[list[str] | None, typer.Option(
        help="$tenant: a tenant's slug or id (repeatable; default: all, as Grafana's All).")] = None,
    dashboard: Annotated[list[str] | None, typer.Option(
        help="Only this dashboard: overview, lighting, water, hazards, buildings, operations "
             "(repeatable).")] = None,
    to: Annotated[str | None, typer.Option(
        help="End of the range, ISO 8601 (default: now; UTC if no offset).")] = None,
    span: Annotated[str | None, typer.Option(
        "--range", help="Length of the range, e.g. 7d (default: the dashboard's own).")] = None,
) -> None:
    """Draw each dashboard from the database as a PNG: Phare's preview of what Grafana shows
    (its JSON model, its panels' SQL), not a capture of Grafana."""
    from dashboards.preview import parse_instant, preview_all

    settings = load_settings()
    failed = False
    try:
        end = parse_instant(to) if to is not None else None
        for written in preview_all(settings, out, keys=dashboard or (), tenants=tenant or (),
                                   to=end, span=span):
            shown = written.rendering
            typer.echo(f"{written.path}: {len(shown.panels)} panels, "
                       f"{shown.start:%Y-%m-%d %H:%M} → {shown.end:%Y-%m-%d %H:%M} UTC, "
                       f"tenants: {shown.tenants.text}")
            if written.empty:
                typer.echo("  no data: " + "; ".join(written.empty))
            for error in written.errors:
                failed = True
                typer.echo(f"  error: {error}", err=True)
    except PhareError as exc:
        raise fail(exc) from None
    if failed:
        raise typer.Exit(1)


commands_app = typer.Typer(help="Commands to devices (switch, dim, schedule).",
                           no_args_is_help=True)
app.add_typer(commands_app, name="commands")


@commands_app.command("dispatch")
def commands_dispatch(
    once: Annotated[bool, typer.Option(
        "--once", help="Do what is due now (send, resend, expire), then exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Send queued commands as soon as they are queued, until SIGINT/SIGTERM (`phare worker`
    also sends them, once a minute)."""
    from datetime import UTC, datetime

    from commands import worker
    from phare import db

    setup_logging(verbose)
    settings = load_settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if not once:
            logging.getLogger("phare").info("commands dispatcher running; Ctrl-C to stop")
            worker.run_forever(settings, stop)
            return
        with db.connect(settings) as conn:
            result = worker.dispatch(conn, settings, datetime.now(UTC))
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(worker.describe(result))


def _speed(value: str) -> float | None:
    if value == "max":
        return None
    if value == "realtime":
        return 1.0
    try:
        factor = float(value)
    except ValueError:
        raise typer.BadParameter("max, realtime, or a real-time factor such as 60") from None
    if not 0 < factor < float("inf"):
        raise typer.BadParameter("a real-time factor must be a positive number")
    return factor


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(
        help="default, a YAML file, or large:N (N generated devices).")] = "default",
    days: Annotated[float, typer.Option(help="Simulated days.", min=0.0001, max=3660)] = 30.0,
    speed: Annotated[str, typer.Option(
        help="max (as fast as possible, the period ending now), a factor such as 60 "
             "(paced, ending now), or realtime (from now on).")] = "max",
    step_minutes: Annotated[float | None, typer.Option(
        help="Simulated minutes between two publications (default: 15 at max speed, "
             "1 otherwise).", min=0.05)] = None,
    generate: Annotated[int | None, typer.Option(
        help="A generated territory of N devices (the same as --scenario large:N).",
        min=1)] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the scenario's).")] = None,
    labels: Annotated[Path | None, typer.Option(
        help="Ground-truth JSON Lines file (default: var/labels-<scenario>.jsonl).")] = None,
    labels_table: Annotated[bool, typer.Option(
        help="Also store the labels in the ground_truth table.")] = True,
    api_url: Annotated[str | None, typer.Option(
        help="Register devices through this API (with --api-key) instead of the database.")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="PHARE_API_KEY",
                                                help="API key for --api-url.")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Draw the scenario's pictures (one per family, PNG) into this folder instead: "
             "computed in-process, no broker nor database.")] = None,
    engine: Annotated[str, typer.Option(
        help="objects (a Python object per device: answers commands), vector (numpy arrays, "
             "telemetry only, for large territories) or auto (vector from 1,000 devices at "
             "max speed).")] = "auto",
) -> None:
    """Simulate a territory: register its devices, publish its readings, write ground truth."""
    from datetime import timedelta

    if plot is not None:
        from devices.simulators.plots import draw_all

        for path in draw_all(f"large:{generate}" if generate is not None else scenario, plot,
                             seed=seed):
            typer.echo(str(path))
        return

    from devices.simulators.errors import SimulatorError
    from devices.simulators.simulate import SimulateOptions
    from devices.simulators.simulate import simulate as run_simulation

    setup_logging()
    logging.getLogger().setLevel(logging.WARNING)
    factor = _speed(speed)
    step = step_minutes if step_minutes is not None else (15.0 if factor is None else 1.0)
    options = SimulateOptions(
        scenario=f"large:{generate}" if generate is not None else scenario, days=days,
        speed=factor, step=timedelta(minutes=step), seed=seed, labels_path=labels,
        labels_table=labels_table, api_url=api_url, api_key=api_key, engine=engine)
    settings = load_settings()
    try:
        run_simulation(settings, options, typer.echo)
    except (SimulatorError, PhareError, ValueError) as exc:
        raise fail(exc) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: the labels cover what was simulated")
        raise typer.Exit(130) from None


@app.command()
def evaluate(
    run: Annotated[str | None, typer.Option(
        help="ground_truth run id (default: the latest run stored).")] = None,
    detector: Annotated[list[str] | None, typer.Option(
        help="A detector to score (repeatable; default: all).")] = None,
) -> None:
    """Score the detectors' alerts against a simulated run's ground truth; then the fire alerts
    by cause and the lighting schedules (regulatory check, measured against predicted energy)."""
    from analytics.evaluate import evaluate as score_run
    from analytics.evaluate import (
        evaluate_lighting,
        hazard_report,
        hazard_table,
        lighting_table,
        table,
    )
    from phare import db

    settings = load_settings()
    try:
        with db.connect(settings, autocommit=True) as conn:
            scores = score_run(conn, run_id=run, detectors=detector)
            hazards = hazard_report(conn, run_id=run) if scores and not detector else None
            lighting = evaluate_lighting(conn, run_id=run) if scores and not detector else None
    except (PhareError, KeyError) as exc:
        raise fail(exc) from None
    if not scores:
        typer.echo("no ground truth stored: run `phare simulate` first")
        raise typer.Exit(1)
    typer.echo(table(scores))
    if hazards is not None:
        typer.echo("\n" + hazard_table(hazards))
    if lighting is not None:
        typer.echo("\n" + lighting_table(lighting))


alerts_app = typer.Typer(help="Alerts: the rules engine, notification routes, tenant policies.",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
alerts_route_app = typer.Typer(help="Notification routes: who is told about which alerts.",
                               no_args_is_help=True)
alerts_app.add_typer(alerts_route_app, name="route")


@alerts_app.command("run")
def alerts_run(
    timers: Annotated[bool, typer.Option(help="Also run the alert timers (escalation, offline "
                                              "devices); `phare worker` runs them too.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the alert rules engine and the notification dispatcher until SIGINT/SIGTERM."""
    from alerts.service import AlertService

    setup_logging(verbose)
    settings = load_settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service = AlertService(settings, timers=timers)
    service.start()
    logging.getLogger("phare").info("alerts running; Ctrl-C to stop")
    while not stop.wait(1) and service.failure is None:
        pass
    service.stop()
    if service.failure is not None:
        raise fail(RuntimeError(f"alerts failed: {service.failure}"))


@alerts_route_app.command("add")
def alerts_route_add(
    tenant: Annotated[str, typer.Option(help="Slug of the tenant (its alerts and those below).")],
    channel: Annotated[str, typer.Option(help="webhook, email or mqtt.")],
    target: Annotated[str, typer.Option(help="URL, e-mail address(es), or '' for MQTT "
                                             "(phare/v1/{tenant}/alerts).")] = "",
    types: Annotated[str | None, typer.Option(help="Alert types, comma-separated (default: all).")] = None,
    min_severity: Annotated[str, typer.Option(help="info, low, medium, high or critical.")] = "info",
    level: Annotated[int, typer.Option(help="Escalation level: 0 when an alert opens, n when it "
                                            "escalates to n.", min=0, max=10)] = 0,
    secret: Annotated[str | None, typer.Option(help="Webhooks: the HMAC-SHA256 key "
                                                    "(default: a new random one, printed).")] = None,
    lang: Annotated[str, typer.Option(help="fr or en.")] = "fr",
) -> None:
    """Add a notification route; prints its id (and a webhook's secret)."""
    import secrets as random_secrets

    from phare import db

    if channel not in ("webhook", "email", "mqtt"):
        raise fail(PhareError("--channel must be webhook, email or mqtt"))
    if channel != "mqtt" and not target:
        raise fail(PhareError(f"a {channel} route needs --target"))
    if min_severity not in ("info", "low", "medium", "high", "critical"):
        raise fail(PhareError("--min-severity must be info, low, medium, high or critical"))
    if lang not in ("fr", "en"):
        raise fail(PhareError("--lang must be fr or en"))
    if channel == "webhook" and secret is None:
        secret = random_secrets.token_urlsafe(32)
    type_list = [t.strip() for t in types.split(",") if t.strip()] if types else None
    settings = load_settings()
    try:
        with db.connect(settings) as conn:
            row = conn.execute(
                "insert into notification_routes (tenant_id, types, min_severity, channel, "
                "target, secret, escalation_level, lang) select id, %s, %s, %s, %s, %s, %s, %s "
                "from tenants where slug = %s returning id",
                (type_list, min_severity, channel, target, secret, level, lang, tenant),
            ).fetchone()
            if row is None:
                raise PhareError(f"tenant '{tenant}' does not exist")
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(f"route {row[0]}: {channel} {target or '(tenant topic)'} for tenant {tenant}, "
               f"level {level}, from {min_severity}")
    if channel == "webhook":
        typer.echo(f"secret (X-Phare-Signature: sha256=HMAC of the body): {secret}")


@alerts_route_app.command("list")
def alerts_route_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's routes.")] = None,
) -> None:
    """List notification routes (without their secrets)."""
    from phare import db

    settings = load_settings()
    with db.connect(settings) as conn:
        rows = conn.execute(
            "select r.id, t.slug, r.channel, r.target, r.types, r.min_severity, "
            "r.escalation_level, r.lang, r.enabled from notification_routes r "
            "join tenants t on t.id = r.tenant_id where %s::text is null or t.slug = %s "
            "order by t.slug, r.escalation_level, r.id", (tenant, tenant)).fetchall()
    for rid, slug, channel, target, types, severity, level, lang, enabled in rows:
        state = "" if enabled else "\tdisabled"
        typer.echo(f"{rid}\t{slug}\t{channel}\t{target or '-'}\t{','.join(types or ['*'])}"
                   f"\t>={severity}\tlevel {level}\t{lang}{state}")


@alerts_route_app.command("remove")
def alerts_route_remove(route_id: int) -> None:
    """Disable a notification route (its deliveries stay in the log)."""
    from phare import db

    settings = load_settings()
    with db.connect(settings) as conn:
        done = conn.execute("update notification_routes set enabled = false where id = %s",
                            (route_id,)).rowcount
    if not done:
        raise fail(PhareError(f"no route {route_id}"))
    typer.echo(f"route {route_id} disabled")


@alerts_app.command("policy")
def alerts_policy(
    tenant: Annotated[str, typer.Option(help="Slug of the tenant (and those below it).")],
    escalate_after: Annotated[int | None, typer.Option(
        help="Seconds an alert may stay unacknowledged before it escalates.", min=1)] = None,
    reopen_window: Annotated[int | None, typer.Option(
        help="Seconds after resolution during which a new occurrence reopens it.", min=0)] = None,
    max_escalation: Annotated[int | None, typer.Option(
        help="Highest escalation level.", min=0, max=10)] = None,
) -> None:
    """Set a tenant's alert policy (unset values come from the tenants above, then settings)."""
    from datetime import UTC, datetime

    from alerts.store import policy_for, set_policy
    from phare import db

    settings = load_settings()
    try:
        with db.connect(settings) as conn:
            row = conn.execute("select id from tenants where slug = %s", (tenant,)).fetchone()
            if row is None:
                raise PhareError(f"tenant '{tenant}' does not exist")
            set_policy(conn, row[0], escalate_after_s=escalate_after,
                       reopen_window_s=reopen_window, max_escalation=max_escalation,
                       now=datetime.now(UTC))
            policy = policy_for(conn, row[0], settings)
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(f"tenant {tenant}: escalate after {policy.escalate_after.total_seconds():.0f} s, "
               f"reopen within {policy.reopen_window.total_seconds():.0f} s, "
               f"up to level {policy.max_escalation}")


export_app = typer.Typer(help="Exports (docs/export.md).", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("tenant")
def export_tenant(
    slug: str,
    out: Annotated[Path, typer.Option("--out", help="The ZIP archive to write.")],
) -> None:
    """Write everything of a tenant and the tenants below it to a ZIP archive (reversibility)."""
    import time
    from datetime import UTC, datetime

    from api.exports import archive
    from phare import db

    settings = load_settings()
    started = last = time.monotonic()
    current: list[str] = []

    def progress(table: str, written: int) -> None:
        nonlocal last
        if current[-1:] != [table] or time.monotonic() - last > 2:
            current.append(table)
            last = time.monotonic()
            typer.echo(f"  {table}: {written / 1e6:,.1f} MB of CSV", err=True)

    try:
        with db.connect(settings, autocommit=True) as conn:
            manifest = archive.write_file(conn, slug, out, now=datetime.now(UTC),
                                          progress=progress)
    except PhareError as exc:
        raise fail(exc) from None
    for f in manifest["files"]:
        typer.echo(f"{f['name']:<24} {f['rows']:>12,} rows")
    typer.echo(f"wrote {out} ({out.stat().st_size / 1e6:,.1f} MB) in "
               f"{time.monotonic() - started:.1f} s")


import_app = typer.Typer(help="Restores (docs/export.md).", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("tenant")
def import_tenant(
    archive_file: Annotated[Path, typer.Argument(metavar="FILE", help="A `phare export tenant` "
                                                 "archive (or GET /api/v1/exports/full).")],
    parent: Annotated[str | None, typer.Option(
        help="Restore under this tenant; default: its old parent if this platform has it.")
    ] = None,
) -> None:
    """Restore a tenant and those below it from a full export, all or nothing."""
    from api.exports import restore
    from phare import db

    settings = load_settings()
    try:
        with db.connect(settings, autocommit=True) as conn:
            result = restore.restore(conn, archive_file, parent=parent, progress=lambda t, n:
                                     typer.echo(f"  {t}: {n:,} rows", err=True))
    except PhareError as exc:
        raise fail(exc) from None
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"restored {result.root}: {sum(result.rows.values()):,} rows in "
               f"{len(result.rows)} tables")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


mqtt_app = typer.Typer(help="MQTT broker security (docs/mqtt-security.md).", no_args_is_help=True)
mqtt_credentials_app = typer.Typer(help="Per-device and per-service MQTT users and topic ACLs.",
                                   no_args_is_help=True)
app.add_typer(mqtt_app, name="mqtt")
mqtt_app.add_typer(mqtt_credentials_app, name="credentials")


@mqtt_credentials_app.command("sync")
def mqtt_credentials_sync(
    directory: Annotated[Path, typer.Option(
        "--dir", help="Where Mosquitto's passwd and acl files are written.")] = Path(
        "/var/lib/phare/mosquitto/auth"),
    rotate: Annotated[list[str] | None, typer.Option(
        help="Give this user a new password (repeatable), e.g. phare-ingest or TENANT/DEVICE.")
    ] = None,
    reload_pid_file: Annotated[Path | None, typer.Option(
        "--reload", help="Mosquitto's pid file: send it SIGHUP to reread the files.")] = None,
) -> None:
    """Write MQTT users for every registered device and Phare service; print new passwords once."""
    from phare import db, mqtt_auth

    settings = load_settings()
    try:
        with db.connect(settings) as conn:
            users = mqtt_auth.device_usernames(conn)
        result = mqtt_auth.sync(directory, users, rotate=rotate or ())
        pid = mqtt_auth.reload(reload_pid_file) if reload_pid_file else None
    except PhareError as exc:
        raise fail(exc) from None
    typer.echo(f"{result.kept} users kept, {len(result.created)} new, {len(result.removed)} removed"
               f" in {directory}" + (f"; Mosquitto (pid {pid}) reloaded" if pid else ""))
    if result.created:
        typer.echo("new credentials (shown once, keep them safe): username password")
        for user, password in result.created.items():
            typer.echo(f"{user} {password}")
