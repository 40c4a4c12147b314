"""Ground truth: labels of what was injected, to a JSON Lines file and the ground_truth table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from devices.simulators.labels import Label, Run, store, write_jsonl
from devices.simulators.scenario import from_mapping
from devices.simulators.simulate import prepare

from .helpers import simulate

END = datetime(2026, 11, 23, 12, tzinfo=UTC)
START = END - timedelta(days=8)  # a weekly self-test falls in it


def small(tenant: str) -> dict:
    """A school with two smoke detectors, a cabinet: a fire, a false alarm, tampering."""
    at = [45.0336, 3.0928]
    return {
        "name": "petit", "seed": 3, "area": {"name": "Saint-Flour", "lat": 45.03, "lon": 3.09,
                                             "altitude_m": 880},
        "tenants": [{"slug": tenant, "name": "Commune"}],
        "lighting": [{"id": "armoire-01", "tenant": tenant, "at": at, "circuits": [
            {"name": "C1", "phase": 1, "luminaires": 12, "watts": 52}]}],
        "buildings": [{"id": "batiment-01", "tenant": tenant, "at": at, "use": "ecole",
                       "floor_area_m2": 900, "occupants": 100}],
        "hazards": {"smoke": [{"id": "detecteur-01", "tenant": tenant, "building": "batiment-01",
                               "room": "cantine"},
                              {"id": "detecteur-02", "tenant": tenant, "building": "batiment-01",
                               "room": "hall"}]},
        "faults": {"scheduled": [
            {"type": "fire", "device": f"{tenant}/detecteur-01", "after_days": 1},
            {"type": "false_alarm", "device": f"{tenant}/detecteur-02", "after_days": 1.5},
            {"type": "tamper", "device": f"{tenant}/detecteur-02", "after_days": 0.5},
            {"type": "lamp_failure", "device": f"{tenant}/armoire-01", "after_days": 2,
             "unrepaired": True},
            {"type": "door_open", "device": f"{tenant}/armoire-01", "after_days": 9}]},  # after the end
    }


def test_fires_and_false_alarms_are_labelled_tests_and_tampering_are_not():
    sim = prepare(from_mapping(small("t")), START, END)
    messages = simulate(sim.devices, START, END, timedelta(minutes=15))
    sent = {(e.type, e.active) for _, (_, item) in messages
            for e in (item if isinstance(item, list) else [item]) if hasattr(e, "type")}
    assert {("test", True), ("tamper", True), ("smoke", True)} <= sent
    labels = sim.labels()
    assert sorted((x.type, x.device_id) for x in labels) == [
        ("false_alarm", "detecteur-02"), ("fire", "detecteur-01"), ("lamp_failure", "armoire-01")]
    by_type = {x.type: x for x in labels}
    assert by_type["lamp_failure"].end is None  # never repaired
    assert by_type["fire"].end is not None and by_type["fire"].params["room"] == "cantine"
    # What was not simulated yet is not labelled; what was still going has no end.
    early = sim.labels(until=START + timedelta(days=1, minutes=5))
    assert [(x.type, x.end) for x in early] == [("fire", None)]


def test_labels_are_written_as_json_lines(tmp_path):
    sim = prepare(from_mapping(small("t")), START, END)
    path = tmp_path / "var" / "labels-petit.jsonl"
    write_jsonl(path, sim.labels(), sim.run)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 3
    fire = next(x for x in lines if x["type"] == "fire")
    assert set(fire) == {"run_id", "scenario", "seed", "type", "tenant", "device_id", "start",
                         "end", "params"}
    assert (fire["scenario"], fire["seed"], fire["tenant"]) == ("petit", 3, "t")
    assert datetime.fromisoformat(fire["start"]) == START + timedelta(days=1)
    assert fire["params"]["heat_alarm"] in (True, False)


def test_labels_are_stored_once_in_the_ground_truth_table(conn, tenant):
    sim = prepare(from_mapping(small(tenant)), START, END)
    labels = sim.labels()
    assert store(conn, labels, sim.run) == 3
    assert store(conn, labels, sim.run) == 0  # the same run again adds nothing
    rows = conn.execute(
        "select g.type, g.device_id, g.starts_at, g.ends_at, g.params, g.scenario, g.run_id::text "
        "from ground_truth g join tenants t on t.id = g.tenant_id where t.slug = %s "
        "order by g.starts_at", (tenant,)).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("fire", "detecteur-01"),
                                             ("false_alarm", "detecteur-02"),
                                             ("lamp_failure", "armoire-01")]
    assert rows[0][2] == START + timedelta(days=1) and rows[2][3] is None
    assert rows[0][4]["room"] == "cantine" and {r[5] for r in rows} == {"petit"}
    assert {r[6] for r in rows} == {sim.run.id}
    another = Run("petit", 3)
    assert store(conn, labels, another) == 3  # another run is other ground truth


def test_labels_of_an_unknown_tenant_are_refused(conn):
    label = Label("fire", "nulle-part", "d-1", START, None)
    try:
        store(conn, [label], Run("x", 1))
    except ValueError as exc:
        assert "nulle-part" in str(exc)
    else:
        raise AssertionError("stored labels of a tenant that does not exist")
