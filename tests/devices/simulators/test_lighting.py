"""The lighting cabinet: astronomical clock, night dimming, power and energy, commands, faults."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from astral import Observer, sun

from devices.catalogue import Channel
from devices.messages import Command, Event, Reading
from devices.simulators.base import LWT_DELAY, Fault
from devices.simulators.lighting import Circuit, LightingCabinet
from devices.simulators.water import AcousticLeakSensor

from .helpers import readings, simulate

LAT, LON = 45.0336, 3.0928  # Saint-Flour
PARIS = ZoneInfo("Europe/Paris")
LUMINAIRES, WATTS = 40, 52.0
LOAD_W = LUMINAIRES * WATTS
MINUTE = timedelta(minutes=1)
NOON = datetime(2026, 1, 12, 11, 0, tzinfo=UTC)


def cabinet(seed: int = 1) -> LightingCabinet:
    return LightingCabinet("saint-flour", "armoire-01", "Armoire", lat=LAT, lon=LON, seed=seed,
                           luminaires=LUMINAIRES, luminaire_w=WATTS)


def expected_level(t: datetime) -> int:
    """Off by day; 100 % in the evening and the early morning, 50 % from 22:00 to 06:00."""
    s = sun.sun(Observer(LAT, LON), date=t.date(), tzinfo=UTC)
    if s["sunrise"] <= t < s["sunset"]:
        return 0
    hour = t.astimezone(PARIS).hour
    return 50 if hour >= 22 or hour < 6 else 100


def command(kind: str, ts: datetime, **params: object) -> Command:
    return Command(id=str(uuid.uuid4()), type=kind, params=params, ts=ts)


@pytest.mark.parametrize("day", [datetime(2026, 1, 12, 11, tzinfo=UTC),
                                 datetime(2026, 6, 21, 11, tzinfo=UTC)], ids=["winter", "summer"])
def test_output_follows_sun_and_dimming_profile(day):
    rs = readings(cabinet(), day, day + timedelta(days=1), timedelta(minutes=10))
    levels = {r.ts: r.metrics["dimming_pct"] for r in rs}
    assert len(levels) == 145
    assert {t: expected_level(t) for t in levels} == levels
    assert set(levels.values()) == {0, 50, 100}


def test_power_is_luminaires_times_watts_times_dimming_plus_losses():
    rs = readings(cabinet(), NOON, NOON + timedelta(days=2), timedelta(minutes=10))
    for r in rs:
        m = r.metrics
        assert m["output_on"] is (m["dimming_pct"] > 0)
        if m["output_on"]:
            ratio = m["power_w"] / (LOAD_W * m["dimming_pct"] / 100)
            assert 1.02 < ratio < 1.09, (r.ts, m)  # ~5 % losses, measurement noise
            phases = [m[f"voltage_l{i}_v"] * m[f"current_l{i}_a"] * m["power_factor"]
                      for i in (1, 2, 3)]
            assert sum(phases) == pytest.approx(m["power_w"], rel=0.02)
        else:
            assert m["power_w"] < 10  # the controller alone
        for i in (1, 2, 3):
            assert 220 < m[f"voltage_l{i}_v"] < 240
    lux = [(r.metrics["ambient_lux"], r.metrics["output_on"]) for r in rs]
    assert min(x for x, on in lux if not on) > 100  # lit only when it is dark
    assert max(x for x, on in lux if on) < 500


def test_energy_index_grows_by_the_energy_drawn():
    day = datetime(2026, 1, 12, tzinfo=UTC)
    rs = readings(cabinet(), day, day + timedelta(days=1), timedelta(minutes=10))
    index = [r.metrics["energy_kwh"] for r in rs]
    assert index == sorted(index)
    # Expected: full and half load hours from the sun and the clock, minute by minute.
    load_hours = sum(expected_level(day + i * MINUTE) / 100 for i in range(24 * 60)) / 60
    drawn = index[-1] - index[0]
    assert 1.03 * LOAD_W * load_hours / 1000 < drawn < 1.08 * LOAD_W * load_hours / 1000 + 0.2


def test_set_dimming_is_applied_until_its_end_then_the_profile_resumes():
    c = cabinet()
    night = datetime(2026, 1, 12, 22, 0, tzinfo=UTC)  # 23:00 in Paris: profile at 50 %
    assert readings(c, night, night, MINUTE)[-1].metrics["dimming_pct"] == 50
    until = night + timedelta(hours=1)
    ack = c.handle_command(command("set_dimming", night, level_pct=80,
                                   until=until.isoformat()))
    assert ack.status == "applied" and ack.detail["dimming_pct"] == 80
    during = readings(c, night + timedelta(minutes=10), night + timedelta(minutes=50),
                      timedelta(minutes=10))
    assert {r.metrics["dimming_pct"] for r in during} == {80}
    assert during[-1].metrics["power_w"] == pytest.approx(LOAD_W * 0.8 * 1.05, rel=0.04)
    after = readings(c, until + MINUTE, until + MINUTE, MINUTE)
    assert after[0].metrics["dimming_pct"] == 50


def test_switch_off_holds_until_the_next_switching_of_the_clock():
    c = cabinet()
    evening = datetime(2026, 1, 12, 18, 0, tzinfo=UTC)
    readings(c, evening, evening, MINUTE)
    ack = c.handle_command(command("switch", evening, on=False))
    assert ack.status == "applied" and ack.detail["output_on"] is False
    night = readings(c, evening + timedelta(minutes=15), evening + timedelta(hours=12),
                     timedelta(minutes=15))
    sunrise = sun.sun(Observer(LAT, LON), date=datetime(2026, 1, 13).date(), tzinfo=UTC)["sunrise"]
    assert all(not r.metrics["output_on"] and r.metrics["power_w"] < 10 for r in night)
    next_evening = readings(c, sunrise + timedelta(hours=12), sunrise + timedelta(hours=12), MINUTE)
    assert next_evening[-1].metrics["output_on"] is True  # the override ended at sunrise


def test_switch_on_by_day():
    c = cabinet()
    readings(c, NOON, NOON, MINUTE)
    ack = c.handle_command(command("switch", NOON, on=True,
                                   until=(NOON + timedelta(minutes=30)).isoformat()))
    assert ack.status == "applied"
    lit = readings(c, NOON + timedelta(minutes=10), NOON + timedelta(minutes=10), MINUTE)[0]
    assert lit.metrics["output_on"] is True and lit.metrics["power_w"] > LOAD_W
    assert readings(c, NOON + timedelta(hours=1), NOON + timedelta(hours=1), MINUTE)[-1] \
        .metrics["output_on"] is False


def test_set_schedule_steps_replace_the_profile():
    c = cabinet()
    evening = datetime(2026, 1, 12, 18, 0, tzinfo=UTC)
    readings(c, evening, evening, MINUTE)
    steps = [{"at": (evening + timedelta(hours=1)).isoformat(), "level_pct": 30},
             {"at": (evening + timedelta(hours=2)).isoformat(), "level_pct": 0}]
    ack = c.handle_command(command("set_schedule", evening, steps=steps))
    assert ack.status == "applied" and ack.detail["steps"] == 2
    rs = readings(c, evening + timedelta(minutes=30), evening + timedelta(hours=2, minutes=30),
                  timedelta(hours=1))
    levels = {r.ts - evening: r.metrics["dimming_pct"] for r in rs}
    assert [levels[timedelta(minutes=m)] for m in (30, 90, 150)] == [100, 30, 0]


@pytest.mark.parametrize(
    ("kind", "params", "reason"),
    [
        pytest.param("reboot", {}, "unknown_command", id="unknown-type"),
        pytest.param("set_dimming", {"level_pct": 150}, "invalid_params", id="level-too-high"),
        pytest.param("set_dimming", {"level_pct": True}, "invalid_params", id="level-bool"),
        pytest.param("switch", {"on": "yes"}, "invalid_params", id="switch-not-bool"),
        pytest.param("switch", {"on": True, "until": "2020-01-01T00:00:00Z"}, "invalid_params",
                     id="until-past"),
        pytest.param("set_schedule", {"steps": []}, "invalid_params", id="empty-schedule"),
        pytest.param("set_schedule", {"steps": [{"at": "soon", "level_pct": 5}]},
                     "invalid_params", id="bad-step-time"),
    ],
)
def test_invalid_commands_are_rejected_and_change_nothing(kind, params, reason):
    c = cabinet()
    night = datetime(2026, 1, 12, 22, 0, tzinfo=UTC)
    before = readings(c, night, night, MINUTE)[0].metrics["dimming_pct"]
    ack = c.handle_command(command(kind, night, **params))
    assert ack.status == "rejected" and ack.detail["reason"] == reason, ack
    assert ack.detail["message"]
    after = readings(c, night + timedelta(minutes=10), night + timedelta(minutes=10), MINUTE)
    assert after[0].metrics["dimming_pct"] == before


def test_expired_command_is_rejected():
    c = cabinet()
    readings(c, NOON, NOON, MINUTE)
    cmd = Command(id="c1", type="switch", params={"on": True}, ts=NOON - timedelta(hours=1),
                  expires=NOON - timedelta(minutes=30))
    ack = c.handle_command(cmd)
    assert (ack.id, ack.status, ack.detail["reason"]) == ("c1", "rejected", "expired")


def test_devices_without_commands_reject_them():
    sensor = AcousticLeakSensor("saint-flour", "acoustique-01", "Capteur", lat=LAT, lon=LON,
                                seed=1)
    ack = sensor.handle_command(command("switch", NOON, on=True))
    assert ack.status == "rejected" and ack.detail["reason"] == "unsupported"


# --- faults ----------------------------------------------------------------------------------
EVENING = datetime(2026, 1, 12, 18, 0, tzinfo=UTC)  # 19:00 in Paris: lit at 100 %
CIRCUITS = (Circuit("C1", 1, 10, 52.0), Circuit("C2", 2, 10, 52.0), Circuit("C3", 3, 10, 90.0))


def wired(**faults: tuple[datetime, datetime | None, dict]) -> LightingCabinet:
    c = LightingCabinet("saint-flour", "armoire-02", "Armoire", lat=LAT, lon=LON, seed=5,
                        circuits=CIRCUITS)
    for kind, (start, end, params) in faults.items():
        c.add_fault(Fault(kind, start, end, params))
    return c


def at(rs: list[Reading], t: datetime) -> dict:
    return next(r.metrics for r in rs if r.ts == t)


def events_of(messages: list) -> list[Event]:
    return [e for _, (channel, item) in messages if channel is Channel.EVENT
            for e in (item if isinstance(item, list) else [item])]


def test_a_lamp_failure_drops_the_power_by_one_luminaires_watts_and_is_reported():
    start, end = EVENING + timedelta(hours=1), EVENING + timedelta(days=2)
    plain = readings(wired(), EVENING, EVENING + timedelta(hours=6), MINUTE * 10)
    faulty_cabinet = wired(lamp_failure=(start, end, {"circuit": "C3", "phase": 3}))
    messages = simulate([faulty_cabinet], EVENING, EVENING + timedelta(days=2, hours=1), MINUTE * 10)
    faulty = [item for _, (ch, item) in messages if ch is Channel.TELEMETRY]
    losses = faulty_cabinet.losses
    for t, level in ((EVENING + timedelta(hours=2), 100), (EVENING + timedelta(hours=5), 50)):
        before, after = at(plain, t), at(faulty, t)
        assert before["dimming_pct"] == after["dimming_pct"] == level
        # Same seed, same noise: the difference is exactly the dark luminaire (and its losses).
        assert before["power_w"] - after["power_w"] == pytest.approx(
            90 * level / 100 * (1 + losses), rel=0.01)
        assert after["current_l3_a"] < before["current_l3_a"]
        assert after["current_l1_a"] == pytest.approx(before["current_l1_a"], rel=0.01)
    assert at(faulty, EVENING)["power_w"] == at(plain, EVENING)["power_w"]
    assert [(e.type, e.active, e.ts, e.detail["circuit"]) for e in events_of(messages)] == [
        ("lamp_failure", True, start, "C3"), ("lamp_failure", False, end, "C3")]


def test_a_breaker_trip_zeroes_its_phase():
    c = wired(breaker_trip=(EVENING + timedelta(minutes=30), None, {"phase": 2}))
    messages = simulate([c], EVENING, EVENING + timedelta(hours=2), MINUTE * 10)
    rs = [item for _, (ch, item) in messages if ch is Channel.TELEMETRY]
    before, after = at(rs, EVENING + timedelta(minutes=20)), at(rs, EVENING + timedelta(hours=1))
    assert before["current_l2_a"] > 1 and after["current_l2_a"] == 0
    assert after["voltage_l2_v"] > 220  # the breaker is downstream of the meter's voltage
    loads = [10 * 52.0, 0, 10 * 90.0]
    assert after["power_w"] == pytest.approx(sum(loads) * (1 + c.losses) + 4, rel=0.01)
    assert [(e.type, e.active) for e in events_of(messages)] == [("breaker_trip", True)]


def test_a_stuck_dimmer_reports_the_commanded_level_but_draws_full_power():
    night = datetime(2026, 1, 12, 23, 0, tzinfo=UTC)  # midnight in Paris: 50 %
    c = wired(driver_stuck=(night - timedelta(days=1), None, {}))
    m = readings(c, night, night, MINUTE)[0].metrics
    assert m["dimming_pct"] == 50 and m["output_on"] is True
    assert m["power_w"] == pytest.approx(c.nominal_power_w(100), rel=0.02)
    assert events_of(simulate([wired(driver_stuck=(night, None, {}))], night, night, MINUTE)) == []


def test_a_clock_fault_burns_the_lights_in_daylight():
    c = wired(daytime_burning=(NOON - timedelta(hours=5), NOON + timedelta(days=1), {}))
    m = readings(c, NOON, NOON, MINUTE)[0].metrics
    assert m["output_on"] is True and m["dimming_pct"] == 100
    assert m["ambient_lux"] > 1000  # broad daylight
    assert m["power_w"] == pytest.approx(c.nominal_power_w(100), rel=0.02)
    after = readings(c, NOON + timedelta(days=1, hours=1), NOON + timedelta(days=1, hours=1),
                     MINUTE)[-1].metrics
    assert after["output_on"] is False


def test_door_open_is_reported_when_opened_and_closed():
    opened, closed = EVENING + timedelta(minutes=7), EVENING + timedelta(minutes=52)
    c = wired(door_open=(opened, closed, {"cause": "intervention"}))
    events = events_of(simulate([c], EVENING, EVENING + timedelta(hours=2), MINUTE * 10))
    assert [(e.type, e.active, e.ts) for e in events] == [("door_open", True, opened),
                                                          ("door_open", False, closed)]


def test_a_power_loss_darkens_and_silences_the_cabinet():
    lost, back = EVENING + timedelta(hours=1), EVENING + timedelta(hours=4)
    c = wired(power_loss=(lost, back, {}))
    messages = simulate([c], EVENING, EVENING + timedelta(hours=6), MINUTE * 10)
    rs = [item for _, (ch, item) in messages if ch is Channel.TELEMETRY]
    assert all(isinstance(r, Reading) for r in rs)  # nothing measured, so no backlog
    assert not [r for r in rs if lost <= r.ts < back]
    statuses = [(item.online, item.ts) for _, (ch, item) in messages if ch is Channel.STATUS]
    assert statuses == [(True, EVENING), (False, lost + LWT_DELAY), (True, back)]
    assert [(e.type, e.active, e.ts) for e in events_of(messages)] == [
        ("power_loss", True, lost), ("power_loss", False, back)]
    energy = [(r.ts, r.metrics["energy_kwh"]) for r in rs]
    last_before = [e for t, e in energy if t < lost][-1]
    first_after = [e for t, e in energy if t >= back][0]
    assert first_after - last_before < 1.5 * 10 / 60 * c.nominal_power_w(100) / 1000 * 2
