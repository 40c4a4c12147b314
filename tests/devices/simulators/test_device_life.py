"""A device's life: offline periods end with its backlog sent as an array that ingest
decodes; statuses tell the platform when it left and came back; batteries drain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.catalogue import Channel
from devices.messages import Reading, Status, to_payload
from devices.simulators.base import BACKLOG_CHUNK, BACKLOG_MAX, LWT_DELAY, Fault
from devices.simulators.lighting import LightingCabinet
from devices.simulators.water import WaterFlowMeter

from .helpers import simulate

LAT, LON = 45.0336, 3.0928
START = datetime(2026, 3, 2, tzinfo=UTC)
STEP = timedelta(minutes=15)


def meter(seed: int = 5) -> WaterFlowMeter:
    return WaterFlowMeter("saint-flour", "debitmetre-01", "Débitmètre", lat=LAT, lon=LON, seed=seed)


def test_after_an_offline_period_the_backlog_comes_as_an_array_ingest_accepts():
    decode = pytest.importorskip("ingest.decode")
    device = meter()
    lost, back = START + timedelta(hours=6, minutes=5), START + timedelta(hours=18, minutes=5)
    device.add_fault(Fault("offline", lost, back, {"cause": "passerelle"}))
    messages = simulate([device], START, START + timedelta(days=1), STEP)
    statuses = [(m.online, m.ts) for _, (ch, m) in messages if ch is Channel.STATUS]
    assert statuses == [(True, START), (False, lost + LWT_DELAY), (True, back)]
    arrays = [m for _, (ch, m) in messages if ch is Channel.TELEMETRY and isinstance(m, list)]
    assert len(arrays) == 1 and len(arrays[0]) == 48  # 12 hours of 15-minute readings
    assert all(lost <= r.ts < back for r in arrays[0])
    # The array comes right after the device's status, before what it measures again.
    order = [(ch, m) for _, (ch, m) in messages]
    i = order.index((Channel.STATUS, Status(online=True, ts=back, fw=device.fw)))
    assert order[i + 1][1] is arrays[0]
    # Nothing was lost or published twice: the sequence numbers run without a gap.
    seqs = [r.seq for _, (ch, m) in messages if ch is Channel.TELEMETRY
            for r in (m if isinstance(m, list) else [m])]
    assert sorted(seqs) == list(range(1, 98))
    decoded = decode.decode_message(device.topic(Channel.TELEMETRY), to_payload(arrays[0]),
                                    max_payload_bytes=256 * 1024,
                                    max_future=timedelta(minutes=10), now=back)
    assert len(decoded) == 1 and decoded[0].rejections == []
    values = decoded[0].values
    assert len(values) == sum(len(r.metrics) for r in arrays[0])
    assert sorted({ts for ts, _, _ in values}) == [r.ts for r in arrays[0]]


def test_a_long_backlog_is_cut_into_messages_and_capped_by_the_devices_memory():
    cabinet = LightingCabinet("saint-flour", "armoire-01", "Armoire", lat=LAT, lon=LON, seed=1)
    lost = START + timedelta(minutes=5)
    back = lost + timedelta(days=8)  # 1,152 readings of 10 minutes: more than it keeps
    cabinet.add_fault(Fault("offline", lost, back))
    messages = simulate([cabinet], START, back + timedelta(hours=2), timedelta(hours=1))
    arrays = [m for _, (ch, m) in messages if ch is Channel.TELEMETRY and isinstance(m, list)]
    assert [len(a) for a in arrays] == [BACKLOG_CHUNK] * (BACKLOG_MAX // BACKLOG_CHUNK)
    kept = [r.ts for a in arrays for r in a]
    assert kept == sorted(kept) and kept[-1] < back
    assert kept[0] > lost + timedelta(days=1)  # the oldest were dropped
    assert all(len(to_payload(a)) < 256 * 1024 for a in arrays)


def test_outages_of_one_device_may_not_overlap():
    device = meter()
    device.add_fault(Fault("offline", START, START + timedelta(hours=2)))
    with pytest.raises(ValueError, match="overlaps"):
        device.add_fault(Fault("offline", START + timedelta(hours=1), None))
    with pytest.raises(ValueError, match="cannot have a 'fire'"):
        device.add_fault(Fault("fire", START, None))


def test_batteries_drain_day_by_day():
    device = meter()
    rs = [m for _, (ch, m) in simulate([device], START, START + timedelta(days=20), STEP)
          if isinstance(m, Reading)]
    battery = [r.metrics["battery_pct"] for r in rs]
    assert battery == sorted(battery, reverse=True)
    assert battery[0] - battery[-1] == pytest.approx(20 * device.battery_drain_pct_per_day,
                                                     abs=0.1)
