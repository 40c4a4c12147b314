"""The fault plan: scheduled faults and the seeded generator; the same seed, the same run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from devices.catalogue import KINDS
from devices.messages import to_payload
from devices.simulators.errors import ScenarioError
from devices.simulators.labels import LABEL_TYPES
from devices.simulators.scenario import from_mapping, load
from devices.simulators.simulate import prepare

from .helpers import simulate

END = datetime(2026, 11, 23, 12, tzinfo=UTC)
START = END - timedelta(days=60)


def test_sixty_days_of_the_default_scenario_hold_several_of_each_fault():
    sim = prepare("default", START, END)
    labels = sim.labels()
    by_type = Counter(label.type for label in labels)
    assert set(by_type) == set(LABEL_TYPES)
    assert min(by_type.values()) >= 2, by_type
    assert sim.plan.skipped == {}
    for label in labels:
        assert label.start <= END and (label.end is None or label.start <= label.end <= END)
        assert (label.tenant, label.device_id) in sim.territory.by_key
    fires = [label for label in labels if label.type == "fire"]
    assert all(label.params["peak_c"] > 40 and "alarm_at" in label.params for label in fires)
    leaks = [label for label in labels if label.type == "water_leak"]
    assert {label.params["profile"] for label in leaks} == {"incipient", "abrupt"}
    # Each leak is labelled on its district's meter, and on the loggers that hear it.
    seen = Counter(label.params["seen_as"] for label in leaks)
    assert seen["night_flow"] == len(sim.plan.leaks) and seen["noise"] >= 1
    floods = [label for label in labels if label.type == "flood" and "max_level_cm" in label.params]
    assert floods and all("yellow" in label.params["thresholds_crossed"] for label in floods)


def test_the_scenarios_scheduled_faults_happen_at_their_time():
    sim = prepare("default", START, END)
    start_of = {(d.tenant, d.device_id, f.type): f.start for d, f in sim.plan.faults}
    assert start_of[("saint-flour", "armoire-01", "lamp_failure")] == START + timedelta(days=0.3)
    assert start_of[("saint-flour", "detecteur-03", "false_alarm")] == START + timedelta(days=1.2)
    leak = next(x for x in sim.plan.leaks if x.pipe.id == "SF-VH-1" and x.position_m == 560)
    assert (leak.profile, leak.peak_flow_m3h, leak.end) == ("incipient", 1.5, None)
    assert any(s.start == START + timedelta(days=9) and s.mm == pytest.approx(95)
               for s in sim.plan.storms)


def test_plans_are_drawn_from_the_seed():
    def plan(seed: int) -> list[tuple[str, str, str, datetime]]:
        sim = prepare("default", START, END, seed=seed)
        return sorted((d.device_id, f.type, str(f.params), f.start) for d, f in sim.plan.faults)

    assert plan(1) == plan(1)
    assert plan(1) != plan(2)


def test_the_same_seed_publishes_the_same_bytes():
    def run(seed: int) -> list[tuple[str, bytes]]:
        sim = prepare("default", END - timedelta(hours=6), END, seed=seed)
        return [(d.topic(ch), to_payload(item)) for d, (ch, item) in
                simulate(sim.devices, END - timedelta(hours=6), END, timedelta(minutes=15))]

    first = run(7)
    assert first == run(7)
    assert len(set(first) & set(run(8))) < len(first) / 5


def test_fault_rates_are_pro_rata_of_the_period():
    sim = prepare("default", END - timedelta(days=15), END)
    generated = Counter(f.type for _, f in sim.plan.faults if f.start > END - timedelta(days=15)
                        + timedelta(days=2))
    assert generated["lamp_failure"] in (2, 3)  # 10 per 60 days
    assert generated["fire"] in (0, 1)


def test_unknown_fault_types_and_impossible_faults_are_refused():
    doc = load("default").model_dump(mode="json", by_alias=True)
    doc["faults"] = {"per_60_days": {"meteorite": 1}}
    with pytest.raises(ScenarioError, match="unknown fault type.*meteorite"):
        prepare(from_mapping(doc), START, END)
    doc["faults"] = {"scheduled": [{"type": "fire", "device": "saint-flour/armoire-01",
                                    "after_days": 1}]}
    with pytest.raises(ScenarioError, match="saint-flour/armoire-01 cannot have a fire"):
        prepare(from_mapping(doc), START, END)


def test_everything_a_faulty_territory_publishes_passes_ingests_decoder():
    decode = pytest.importorskip("ingest.decode")
    doc = load("default").model_dump(mode="json", by_alias=True)
    doc["faults"]["per_60_days"] = {k: 25 * v for k, v in doc["faults"]["per_60_days"].items()}
    start = END - timedelta(days=3)
    sim = prepare(from_mapping(doc), start, END)
    assert len({f.type for _, f in sim.plan.faults}) >= 12
    checked: Counter[str] = Counter()
    for d, (channel, item) in simulate(sim.devices, start, END, timedelta(minutes=30)):
        decoded = decode.decode_message(d.topic(channel), to_payload(item),
                                        max_payload_bytes=256 * 1024,
                                        max_future=timedelta(minutes=10), now=END)
        assert all(x.rejections == [] for x in decoded), (d.topic(channel), item)
        for x in decoded:
            for event in x.events:
                assert event.type in KINDS[d.kind].event_types, (d.kind, event.type)
        checked[f"{channel}{'[]' if isinstance(item, list) else ''}"] += 1
    # Backlogs after offline periods, offline and online statuses, events of every kind.
    assert checked["telemetry[]"] >= 1 and checked["status"] > len(sim.devices)
    assert checked["event"] + checked["event[]"] > 50
