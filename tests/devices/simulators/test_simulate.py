"""`phare simulate`: end to end, a subprocess registers the default territory, publishes two
days to the test broker, an ingest consumer stores them, and the labels land in the
ground_truth table and a JSON Lines file; and registration through the HTTP API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from devices.simulators.scenario import dump, load
from tests.conftest import env_for, wait_for

pytestmark = pytest.mark.slow


def retenanted(prefix: str) -> dict:
    """The default scenario with its tenants renamed, so that this test's rows are its own."""
    doc = yaml.safe_load(dump(load("default")))
    slugs = {t["slug"] for t in doc["tenants"]}

    def rename(node: object) -> object:
        if isinstance(node, dict):
            return {k: (f"{prefix}-{v}" if k in ("slug", "parent", "tenant") and v in slugs
                        else rename(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rename(x) for x in node]
        if isinstance(node, str) and "/" in node and node.split("/")[0] in slugs:
            return f"{prefix}-{node}"  # a scheduled fault's device
        return node

    return rename(doc)  # type: ignore[return-value]


def test_simulate_stores_two_days_of_the_default_territory_and_its_labels(
        settings, conn, consumer, tmp_path):
    prefix = f"s{uuid.uuid4().hex[:6]}"
    scenario = tmp_path / "saint-flour.yaml"
    scenario.write_text(yaml.safe_dump(retenanted(prefix), allow_unicode=True))
    labels = tmp_path / "labels.jsonl"
    out = subprocess.run(
        [sys.executable, "-c", "from phare.cli import main; main()", "simulate",
         "--scenario", str(scenario), "--days", "2", "--labels", str(labels)],
        env=env_for(settings), capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr + out.stdout
    text = out.stdout
    assert re.search(r"^scenario default: 197 devices", text, re.M), text
    assert re.search(r"^registered: 197 new devices, 0 already there", text, re.M), text
    assert re.search(r"^  day +2\.0/2 +100\.0 %", text, re.M), text  # progress
    published = int(re.search(r"^published ([\d,]+) messages", text, re.M)[1].replace(",", ""))
    assert published > 30_000
    run_id = re.search(r"table ground_truth \(run ([0-9a-f-]{36})\)", text)[1]

    tenants = f"{prefix}-%"

    def stored_kinds() -> dict[str, int]:
        rows = conn.execute(
            "select d.kind, count(distinct d.uid) from readings r join devices d "
            "on d.uid = r.device_uid join tenants t on t.id = d.tenant_id "
            "where t.slug like %s group by d.kind", (tenants,)).fetchall()
        return dict(rows)

    def newest() -> datetime | None:
        return conn.execute("select max(r.ts) from readings r join devices d "
                            "on d.uid = r.device_uid join tenants t on t.id = d.tenant_id "
                            "where t.slug like %s", (tenants,)).fetchone()[0]

    # Ingest catches up with the period, which ends now; every device has readings stored.
    wait_for(lambda: (newest() or datetime.min.replace(tzinfo=UTC))
             > datetime.now(UTC) - timedelta(minutes=20), timeout=120)
    wait_for(lambda: stored_kinds() == {"lighting_cabinet": 56, "acoustic_leak_sensor": 59,
                                        "water_flow_meter": 6, "hazard_detector": 55,
                                        "building_meter": 21} or None, timeout=30)
    rejected = conn.execute("select count(*) from rejected_messages r join tenants t "
                            "on t.id = r.tenant_id where t.slug like %s", (tenants,)).fetchone()[0]
    assert rejected == 0

    lines = [json.loads(line) for line in labels.read_text().splitlines()]
    assert lines and {x["run_id"] for x in lines} == {run_id}
    rows = conn.execute("select type, device_id, starts_at from ground_truth where run_id = %s",
                        (run_id,)).fetchall()
    assert sorted((r[0], r[1]) for r in rows) == sorted((x["type"], x["device_id"]) for x in lines)
    # The scenario's scheduled lamp failure, 0.3 days into the run.
    assert any(t == "lamp_failure" and d == "armoire-01" for t, d, _ in rows)


def test_registration_through_the_api_needs_the_tenants_in_the_keys_scope(settings, conn, tenant):
    """Through the real API app, in process (Starlette's test transport): no server to start."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from devices.simulators.errors import RegistrationError
    from devices.simulators.scenario import from_mapping
    from devices.simulators.simulate import SimulateOptions, prepare, register_territory
    from phare.tenancy import add_tenant, create_api_key

    doc = {"name": "api", "area": {"name": "A", "lat": 45.03, "lon": 3.09, "altitude_m": 880},
           "tenants": [{"slug": tenant, "name": "EPCI"},
                       {"slug": f"{tenant}-c", "name": "Commune", "parent": tenant}],
           "lighting": [{"id": f"armoire-{i}", "tenant": f"{tenant}-c", "at": [45.03, 3.09],
                         "circuits": [{"name": "C1", "phase": 1, "luminaires": 9, "watts": 52}]}
                        for i in range(3)]}
    end = datetime(2026, 11, 23, tzinfo=UTC)
    sim = prepare(from_mapping(doc), end - timedelta(days=1), end)
    key = create_api_key(conn, tenant, "admin")
    options = SimulateOptions(api_url="http://testserver", api_key=key)
    with TestClient(create_app(settings)) as client:
        with pytest.raises(RegistrationError, match=f"tenant\\(s\\) {tenant}-c do not exist"):
            register_territory(settings, sim, options, transport=client._transport)
        add_tenant(conn, f"{tenant}-c", "Commune", tenant)
        assert register_territory(settings, sim, options, transport=client._transport) == (3, 0)
        assert register_territory(settings, sim, options, transport=client._transport) == (0, 3)
        listed = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {key}"})
        assert listed.json()["count"] == 3
    with pytest.raises(RegistrationError, match="both --api-url and --api-key"):
        register_territory(settings, sim, SimulateOptions(api_url="http://testserver"))
