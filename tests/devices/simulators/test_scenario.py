"""Scenarios: the default territory, strict validation, the generator of large territories."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from devices.catalogue import KINDS
from devices.simulators.errors import ScenarioError
from devices.simulators.hazard import HazardDetector
from devices.simulators.scenario import dump, from_mapping, load
from devices.simulators.territory import build

COMMUNES = {"saint-flour", "neuveglise-sur-truyere", "andelat", "roffiac", "villedieu"}


def test_the_default_scenario_is_saint_flour_communaute_with_about_200_devices():
    scenario = load("default")
    parents = {t.slug: t.parent for t in scenario.tenants}
    assert parents["sde-cantal"] is None
    assert parents["saint-flour-communaute"] == "sde-cantal"
    assert {slug for slug, parent in parents.items() if parent == "saint-flour-communaute"} == COMMUNES
    territory = build(scenario)
    kinds = territory.kinds()
    assert set(kinds) == set(KINDS)
    assert 180 <= len(territory.devices) <= 220
    assert min(kinds.values()) >= 5
    variants = Counter(d.variant for d in territory.devices if isinstance(d, HazardDetector))
    assert set(variants) == {"smoke", "water_level", "water_spot"}
    # Every device is in the Saint-Flour area, and registers with a valid body.
    for d in territory.devices:
        assert 44.85 < d.lat < 45.12 and 2.9 < d.lon < 3.2, d.device_id
        assert d.spec["tenant"] in parents and d.spec["kind"] in KINDS
    # The water network belongs to the EPCI; every commune has lighting and buildings.
    assert {d.tenant for d in territory.of_kind("water_flow_meter")} == {"saint-flour-communaute"}
    assert {d.tenant for d in territory.of_kind("lighting_cabinet")} == COMMUNES
    assert len(territory.network.pipes) >= 10 and len(territory.rivers) >= 1


def test_a_scenario_survives_a_round_trip_through_yaml():
    scenario = load("default")
    assert from_mapping(yaml.safe_load(dump(scenario))) == scenario


BASE = {"name": "tiny", "area": {"name": "A", "lat": 45.0, "lon": 3.0, "altitude_m": 800},
        "tenants": [{"slug": "c1", "name": "Commune 1"}]}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        pytest.param({"colour": "blue"}, "colour: Extra inputs are not permitted", id="unknown-key"),
        pytest.param({"lighting": [{"id": "a-1", "tenant": "c2", "at": [45, 3], "circuits": [
            {"name": "C1", "phase": 1, "luminaires": 3, "watts": 50}]}]},
            "tenant c2 is not in `tenants`", id="unknown-tenant"),
        pytest.param({"lighting": [{"id": "a-1", "tenant": "c1", "at": [45, 3], "circuits": [
            {"name": "C1", "phase": 4, "luminaires": 3, "watts": 50}]}]},
            "lighting.0.circuits.0.phase", id="phase-4"),
        pytest.param({"water": {"districts": [{"id": "d-1", "tenant": "c1", "at": [45, 3],
                                               "population": 100}],
                                "pipes": [{"id": "p", "tenant": "c1", "district": "d-1",
                                           "material": "fonte ductile", "diameter_mm": 100,
                                           "length_m": 200, "from": [45, 3], "to": [45, 3.01],
                                           "sensors": [{"id": "s-1", "at_m": 250}]}]}},
            "beyond the end of the pipe", id="sensor-beyond-pipe"),
        pytest.param({"water": {"pipes": [{"id": "p", "tenant": "c1", "district": "d-1",
                                           "material": "plomb", "diameter_mm": 100,
                                           "length_m": 200, "from": [45, 3], "to": [45, 3.01]}]}},
            "unknown pipe material 'plomb'", id="unknown-material"),
        pytest.param({"hazards": {"smoke": [{"id": "d-1", "tenant": "c1", "building": "b-9",
                                             "room": "hall"}]}},
            "no building c1/b-9", id="smoke-without-building"),
        pytest.param({"tenants": [{"slug": "c1", "name": "C", "parent": "x"}]},
            "parent x must be listed before it", id="parent-after"),
        pytest.param({"area": {"name": "A", "lat": 60.0, "lon": 3.0, "altitude_m": 800}},
            "area.lat", id="outside-france"),
    ],
)
def test_invalid_scenarios_say_what_and_where(change, words):
    with pytest.raises(ScenarioError, match="is invalid") as exc:
        from_mapping({**BASE, **change}, "tiny.yaml")
    assert words in str(exc.value)


def test_unknown_names_and_files(tmp_path):
    with pytest.raises(ScenarioError, match="one of default"):
        load("nowhere")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load(str(bad))
    good = tmp_path / "tiny.yaml"
    good.write_text(yaml.safe_dump(BASE))
    assert load(str(good)).name == "tiny"
    with pytest.raises(ScenarioError, match="large:N"):
        load("large:many")


@pytest.mark.parametrize("n", [1, 39, 41, 1000])
def test_large_territories_have_exactly_the_devices_asked(n):
    territory = build(load(f"large:{n}"))
    assert len(territory.devices) == n
    if n >= 40:
        assert set(territory.kinds()) == set(KINDS)


def test_a_large_territory_of_10000_devices_builds_in_seconds():
    territory = build(load("large:10000"))
    assert len(territory.devices) == 10_000
    assert len({(d.tenant, d.device_id) for d in territory.devices}) == 10_000
