"""`phare demo`: the whole platform on one machine, fed by simulated devices."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import paho.mqtt.client as mqtt
import uvicorn

from alerts.service import AlertService
from analytics.runner import Runner
from api.main import create_app
from devices.simulators.labels import store
from devices.simulators.runner import register, run
from devices.simulators.simulate import prepare
from ingest.consumer import Consumer
from phare import db
from phare.settings import Settings
from phare.tenancy import add_tenant, create_api_key

log = logging.getLogger(__name__)

# The default scenario: a syndicate operating for an EPCI of the Cantal and five of its
# communes (devices/simulators/scenarios/default.yaml).
SCENARIO = "default"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    days: float = 2.0
    step_minutes: int = 15
    seed: int = 42
    serve: bool = True


def run_demo(settings: Settings, options: DemoOptions, echo: Callable[[str], None]) -> None:
    """Sets up tenants, starts ingest and the API, runs the simulators, prints a summary."""
    echo(f"Phare demo — database {settings.database_url.get_secret_value().rsplit('@', 1)[-1]}, "
         f"broker {settings.mqtt_url}")
    db.migrate(settings)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=options.days)
    sim = prepare(SCENARIO, start, end, seed=options.seed)
    tenants = sim.scenario.tenants
    syndicate = tenants[0].slug
    with db.connect(settings) as conn:
        for t in tenants:
            add_tenant(conn, t.slug, t.name, t.parent)
        key = create_api_key(conn, syndicate, "admin", name="phare demo")
        conn.commit()

    # A demo's session need not outlive it: the broker forgets it five minutes after the end.
    consumer = Consumer(settings.model_copy(update={"ingest_client_id": "phare-demo-ingest",
                                                    "ingest_session_expiry_s": 300}))
    consumer.start()
    if not consumer.wait_connected(15):
        raise RuntimeError(f"cannot reach the MQTT broker at {settings.mqtt_url}")
    # The simulated days are replayed in minutes: the rules engine must treat them as live
    # observations (by default it opens no alert from a backlog older than an hour).
    span_s = int(timedelta(days=options.days).total_seconds()) + 3600
    alerts = AlertService(settings.model_copy(update={
        "alerts_stale_after_s": max(settings.alerts_stale_after_s, span_s)}))
    alerts.start()
    if not alerts.wait_ready(15):
        raise RuntimeError("the alerts engine did not start")
    server = _start_api(settings)
    stop_worker = threading.Event()
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    try:
        devices = sim.devices
        echo(f"registering {len(devices)} simulated devices through the API …")
        register(devices, api_url, key)
        echo(f"simulating {options.days:g} days ({start:%Y-%m-%d %H:%M} → {end:%H:%M} UTC), "
             "as fast as the broker takes it …")
        stats = run(devices, mqtt_url=settings.mqtt_url, start=start, end=end,
                    step=timedelta(minutes=options.step_minutes), speed=None,
                    on_progress=_progress(echo))
        _publish_bad_examples(settings, devices[0].tenant)
        echo(f"published {sum(stats.messages.values())} messages; waiting for ingest to store them …")
        _wait_until_idle(consumer)
        labels = sim.labels()
        with db.connect(settings) as conn:
            store(conn, labels, sim.run)
            conn.commit()
        echo(f"ground truth: {len(labels)} injected faults labelled in table ground_truth "
             f"(run {sim.run.id})")
        _wait_for_outbox(settings)
        echo("running the analytics jobs once (rollups, leaks, lighting, energy …) …")
        runner = Runner(settings, should_stop=stop_worker.is_set)
        for r in runner.run_due():
            seconds = (r.finished_at - r.started_at).total_seconds()
            echo(f"  {r.job:<16}{r.status:<8}{r.rows:>8} rows {seconds:>6.1f} s")
        _summary(settings, echo)
        _alerts_summary(settings, echo)
        _served_by_api(settings, api_url, key, [t.slug for t in tenants], echo)
        echo("")
        echo(f"API:      {api_url}/docs   (OpenAPI at {api_url}/openapi.json)")
        echo(f"API key:  {key}   (admin of {syndicate}, sees every tenant below it)")
        echo(f"Try:      curl -H 'Authorization: Bearer {key}' {api_url}/api/v1/devices")
        echo(f"Élus:     {api_url}/elus/{syndicate}?key={key}   (the officials' page, in French)")
        if options.serve:
            echo("Serving until Ctrl-C (ingest, alerts and the scheduled jobs keep running).")
            threading.Thread(target=runner.run_forever, args=(stop_worker,), name="phare-worker",
                             daemon=True).start()
            while alerts.failure is None:
                time.sleep(1)
            raise RuntimeError(f"the alerts engine failed: {alerts.failure}")
    except KeyboardInterrupt:
        echo("stopping …")
    finally:
        stop_worker.set()
        server.should_exit = True
        alerts.stop()
        consumer.stop()


def _start_api(settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(create_app(settings), host=settings.api_host, port=settings.api_port,
                            log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="phare-api", daemon=True).start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start on {settings.api_host}:{settings.api_port}")
        time.sleep(0.05)
    return server


def _progress(echo: Callable[[str], None]) -> Callable[[int, int], None]:
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 2 or done == total:
            last[0] = now
            echo(f"  simulated {done}/{total} steps")

    return report


def _publish_bad_examples(settings: Settings, tenant: str) -> None:
    """What real networks also send: a device nobody registered, and garbage."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="phare-demo-noise")
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    now = datetime.now(UTC).isoformat()
    infos = [
        client.publish(f"phare/v1/{tenant}/capteur-inconnu/telemetry",
                       f'{{"ts": "{now}", "metrics": {{"noise_min_db": 31.0}}}}', qos=1),
        client.publish(f"phare/v1/{tenant}/armoire-999/telemetry", b"\x00\x01 pas du JSON", qos=1),
    ]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def _wait_until_idle(consumer: Consumer, quiet_s: float = 2.0, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        seen = consumer.stats.received
        if seen != last:
            last, since = seen, time.monotonic()
        elif time.monotonic() - since >= quiet_s and consumer.idle:
            return
        time.sleep(0.2)


def _wait_for_outbox(settings: Settings, timeout_s: float = 120) -> None:
    """Until the rules engine has taken every item ingest put in the outbox."""
    deadline = time.monotonic() + timeout_s
    with db.connect(settings, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("select count(*) from alert_inbox").fetchone()
            if row is None or row[0] == 0:
                return
            time.sleep(0.2)


def _served_by_api(settings: Settings, api_url: str, key: str, tenants: list[str],
                   echo: Callable[[str], None]) -> None:
    """One device of each kind of the demo's tenants, read back through the HTTP API as a
    client would."""
    with db.connect(settings) as conn:
        samples = conn.execute(
            "select distinct on (d.kind) d.kind, t.slug, d.id, r.metric "
            "from devices d join tenants t on t.id = d.tenant_id "
            "join lateral (select metric from readings where device_uid = d.uid "
            "              order by ts desc limit 1) r on true "
            "where t.slug = any(%s) "
            "order by d.kind, d.id", (tenants,)).fetchall()
    echo("Served by the API (last 24 hours, hourly averages):")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=10) as http:
        for kind, tenant, device_id, metric in samples:
            answer = http.get(f"/api/v1/devices/{tenant}/{device_id}/readings",
                              params={"metric": metric, "bucket": "1h"})
            answer.raise_for_status()
            points = answer.json()["data"]
            last = f"{points[-1]['value']:.1f}" if points else "-"
            echo(f"  {kind:<24}{tenant}/{device_id} {metric}: {len(points)} points, last {last}")


def _summary(settings: Settings, echo: Callable[[str], None]) -> None:
    with db.connect(settings) as conn:
        echo("")
        echo("Stored, per kind of device:")
        echo(f"  {'kind':<24}{'devices':>8}{'values':>12}{'from':>18}{'to':>18}")
        for kind, n_dev, n_val, first, last in conn.execute(
            "select d.kind, count(distinct d.uid), count(r.*), min(r.ts), max(r.ts) "
            "from devices d left join readings r on r.device_uid = d.uid group by d.kind "
            "order by d.kind"
        ):
            span = (f"{first:%Y-%m-%d %H:%M}", f"{last:%Y-%m-%d %H:%M}") if first else ("", "")
            echo(f"  {kind:<24}{n_dev:>8}{n_val:>12,}{span[0]:>18}{span[1]:>18}")
        echo("Rejected messages, per reason:")
        rows = conn.execute("select reason, count(*) from rejected_messages group by reason "
                            "order by count(*) desc").fetchall()
        for reason, n in rows or [("(none)", 0)]:
            echo(f"  {reason:<24}{n:>8}")


def _alerts_summary(settings: Settings, echo: Callable[[str], None]) -> None:
    with db.connect(settings) as conn:
        rows = conn.execute("select type, status, count(*) from alerts group by type, status "
                            "order by type, status").fetchall()
    echo("Alerts, per type and status:")
    for alert_type, status, n in rows or [("(none)", "", 0)]:
        echo(f"  {alert_type:<24}{status:<14}{n:>6}")
