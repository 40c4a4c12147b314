"""The lighting cabinet: astronomical clock, night dimming, power and energy, commands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from astral import Observer, sun

from devices.messages import Command
from devices.simulators.lighting import LightingCabinet
from devices.simulators.water import AcousticLeakSensor

from .helpers import readings

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
    assert next_evening[0].metrics["output_on"] is True  # the override ended at sunrise


def test_switch_on_by_day():
    c = cabinet()
    readings(c, NOON, NOON, MINUTE)
    ack = c.handle_command(command("switch", NOON, on=True,
                                   until=(NOON + timedelta(minutes=30)).isoformat()))
    assert ack.status == "applied"
    lit = readings(c, NOON + timedelta(minutes=10), NOON + timedelta(minutes=10), MINUTE)[0]
    assert lit.metrics["output_on"] is True and lit.metrics["power_w"] > LOAD_W
    assert readings(c, NOON + timedelta(hours=1), NOON + timedelta(hours=1), MINUTE)[0] \
        .metrics["output_on"] is False


def test_set_schedule_steps_replace_the_profile():
    c = cabinet()
    evening = datetime(2026, 1, 12, 18, 0, tzinfo=UTC)
    readings(c, evening, evening, MINUTE)
    steps = [{"at": (evening + timedelta(hours=1)).isoformat(), "level_pct": 30},
             {"at": (evening + timedelta(hours=2)).isoformat(), "level_pct": 0}]
    ack = c.handle_command(command("set_schedule", evening, steps=steps))
    assert ack.status == "applied" and ack.detail["steps"] == 2
    levels = [r.metrics["dimming_pct"] for r in readings(
        c, evening + timedelta(minutes=30), evening + timedelta(hours=2, minutes=30),
        timedelta(hours=1))]
    assert levels == [100, 30, 0]


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
