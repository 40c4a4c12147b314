"""The fleet: where devices are, what they register as, and that a seed replays it exactly."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from devices.catalogue import DEVICE_ID_RE, KINDS, Channel
from devices.messages import Event, Reading, Status, to_payload
from devices.simulators.fleet import AREAS, DEFAULT_PER_TENANT, build_fleet, communes_for

from .helpers import simulate

END = datetime(2026, 1, 14, 12, tzinfo=UTC)
START = END - timedelta(days=2)
STEP = timedelta(minutes=15)


def payloads(seed: int) -> list[tuple[str, bytes]]:
    fleet = build_fleet(["saint-flour", "andelat"], seed=seed)
    return [(d.topic(channel), to_payload(item))
            for d, (channel, item) in simulate(fleet, START, START + timedelta(days=1), STEP)]


def test_same_seed_same_output_and_another_seed_another():
    first = payloads(7)
    assert first == payloads(7)
    other = payloads(8)
    # Same devices, other values: only the status messages (online, firmware) coincide.
    assert len(set(first) & set(other)) < len(first) / 10


def test_default_fleet_is_twenty_devices_a_commune_located_in_it():
    tenants = ["saint-flour", "neuveglise-sur-truyere", "andelat"]
    fleet = build_fleet(tenants, seed=42)
    assert len(fleet) == 60
    assert Counter(d.kind for d in fleet) == {k: 3 * n for k, n in DEFAULT_PER_TENANT.items()}
    communes = dict(zip(tenants, communes_for(tenants), strict=True))
    ids = set()
    for d in fleet:
        spec = d.spec
        assert set(spec) == {"tenant", "id", "kind", "name", "location", "model", "metadata"}
        assert spec["kind"] in KINDS and DEVICE_ID_RE.match(spec["id"])
        assert (spec["tenant"], spec["id"]) not in ids
        ids.add((spec["tenant"], spec["id"]))
        commune = communes[d.tenant]
        assert commune.name in spec["name"]
        km = math.dist((spec["location"]["lat"] * 111, spec["location"]["lon"] * 79),
                       (commune.lat * 111, commune.lon * 79))
        assert km < 4, (d.device_id, km)


def test_tenants_that_are_not_communes_get_the_areas_other_communes():
    got = communes_for(["t1", "saint-flour", "t2"], area="saint-flour")
    assert got[1].slug == "saint-flour"
    assert got[0] != got[2] and "saint-flour" not in (got[0].slug, got[2].slug)
    lyonnais = {c.slug for c in AREAS["monts-du-lyonnais"]}
    assert {c.slug for c in communes_for(["a", "b"], area="monts-du-lyonnais")} <= lyonnais


def test_per_tenant_counts_and_unknown_kinds():
    fleet = build_fleet(["x"], seed=1, per_tenant={"water_flow_meter": 3})
    assert [d.device_id for d in fleet] == ["debitmetre-01", "debitmetre-02", "debitmetre-03"]
    with pytest.raises(ValueError, match="no simulator for kind"):
        build_fleet(["x"], seed=1, per_tenant={"weather_station": 1})


def test_messages_use_the_catalogue_and_indexes_never_decrease():
    fleet = build_fleet(["saint-flour", "andelat", "t3"], seed=11)
    seqs: dict[str, list[int]] = defaultdict(list)
    indexes: dict[tuple[str, str], list[float]] = defaultdict(list)
    statuses = Counter()
    for d, (channel, item) in simulate(fleet, START, END, STEP):
        kind = KINDS[d.kind]
        if isinstance(item, Status):
            statuses[d.topic(channel)] += 1
            assert channel is Channel.STATUS and item.online
        for one in item if isinstance(item, list) else [item]:
            assert one.ts <= END
            if isinstance(one, Reading):
                assert channel is Channel.TELEMETRY
                assert set(one.metrics) <= kind.metric_names
                seqs[d.topic(channel)].append(one.seq)
                for metric in kind.metrics:
                    if metric.cumulative and metric.name in one.metrics:
                        indexes[(d.topic(channel), metric.name)].append(one.metrics[metric.name])
            elif isinstance(one, Event):
                assert channel is Channel.EVENT and one.type in kind.event_types
    assert len(statuses) == len(fleet) and set(statuses.values()) == {1}
    assert len(seqs) == len(fleet)  # every device reported within two days
    for topic, values in seqs.items():
        assert values == list(range(values[0], values[0] + len(values))), topic
    assert len(indexes) > 30
    for key, values in indexes.items():
        assert values == sorted(values), key


def test_what_simulators_emit_passes_ingest_decoder():
    decode = pytest.importorskip("ingest.decode")
    fleet = build_fleet(["saint-flour", "andelat"], seed=5)
    checked = Counter()
    for d, (channel, item) in simulate(fleet, START, END, STEP):
        payload = to_payload(item)
        decoded = decode.decode_message(d.topic(channel), payload, max_payload_bytes=64_000,
                                        max_future=timedelta(minutes=10), now=END)
        decoded = decoded if isinstance(decoded, list) else [decoded]
        assert len(decoded) == 1
        one = decoded[0]
        assert one.rejections == [], (d.topic(channel), payload)
        assert (one.tenant, one.device_id) == (d.tenant, d.device_id)
        if isinstance(item, Reading):
            assert [(name, value) for _, name, value in one.values] == [
                (name, float(value)) for name, value in item.metrics.items()]
        checked[channel] += 1
    assert checked[Channel.TELEMETRY] > 1000 and checked[Channel.STATUS] == len(fleet)
    assert checked[Channel.EVENT] >= 1  # hazard self-tests
