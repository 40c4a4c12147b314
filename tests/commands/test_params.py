"""Command types per device kind, and their parameters checked and normalised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commands.errors import InvalidCommand
from commands.params import check_type, kinds_taking, validate

NOW = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
LATER = "2026-11-24T06:00:00Z"
LATER_MS = "2026-11-24T06:00:00.000Z"  # as normalised: UTC, milliseconds


@pytest.mark.parametrize(("command_type", "params", "expected"), [
    pytest.param("switch", {"on": True}, {"on": True}, id="switch"),
    pytest.param("switch", {"on": False, "until": "2026-11-24T07:00:00+01:00"},
                 {"on": False, "until": LATER_MS}, id="switch-until-normalised-to-utc"),
    pytest.param("set_dimming", {"level_pct": 40.4}, {"level_pct": 40}, id="dimming-rounded"),
    pytest.param("set_dimming", {"level_pct": 0, "until": 1795500000000},
                 {"level_pct": 0, "until": LATER_MS}, id="dimming-until-epoch-ms"),
    pytest.param("set_schedule", {"steps": [{"at": "2026-11-23T22:00:00Z", "level_pct": 50},
                                            {"at": LATER, "level_pct": 100}]},
                 {"steps": [{"at": "2026-11-23T22:00:00.000Z", "level_pct": 50},
                            {"at": LATER_MS, "level_pct": 100}]}, id="schedule"),
])
def test_valid_params_are_normalised(command_type: str, params: dict[str, Any],
                                     expected: dict[str, Any]) -> None:
    assert validate(command_type, params, now=NOW) == expected


@pytest.mark.parametrize(("command_type", "params", "field", "words"), [
    pytest.param("set_dimming", {"level_pct": 120}, "params.level_pct", "from 0 to 100",
                 id="level-above-100"),
    pytest.param("set_dimming", {"level_pct": -1}, "params.level_pct", "from 0 to 100",
                 id="level-below-0"),
    pytest.param("set_dimming", {"level_pct": True}, "params.level_pct", "from 0 to 100",
                 id="level-boolean"),
    pytest.param("set_dimming", {}, "params.level_pct", "from 0 to 100", id="level-missing"),
    pytest.param("set_dimming", {"level": 50}, "params.level", "takes: level_pct, until",
                 id="unknown-parameter"),
    pytest.param("set_dimming", {"level_pct": 50, "until": "2026-11-23T20:00:00Z"},
                 "params.until", "not in the future", id="until-in-the-past"),
    pytest.param("set_dimming", {"level_pct": 50, "until": "demain"}, "params.until",
                 "RFC 3339", id="until-not-a-time"),
    pytest.param("set_dimming", {"level_pct": 50, "until": "2026-11-24T06:00:00"},
                 "params.until", "with an offset", id="until-without-offset"),
    pytest.param("switch", {"on": "yes"}, "params.on", "true or false", id="on-not-boolean"),
    pytest.param("set_schedule", {"steps": []}, "params.steps", "non-empty", id="no-steps"),
    pytest.param("set_schedule", {"steps": [{"at": LATER, "level_pct": 50},
                                            {"at": "2026-11-23T23:00:00Z", "level_pct": 20}]},
                 "params.steps.1.at", "increasing time order", id="steps-not-increasing"),
    pytest.param("set_schedule", {"steps": [{"at": LATER, "level_pct": 50},
                                            {"at": LATER, "level_pct": 20}]},
                 "params.steps.1.at", "increasing time order", id="steps-same-time"),
    pytest.param("set_schedule", {"steps": [{"at": "2026-11-23T20:00:00Z", "level_pct": 50}]},
                 "params.steps.0.at", "not in the future", id="first-step-past"),
    pytest.param("set_schedule", {"steps": [{"at": LATER, "level_pct": 101}]},
                 "params.steps.0.level_pct", "from 0 to 100", id="step-level-out-of-range"),
    pytest.param("set_schedule", {"steps": [{"at": LATER, "level_pct": 50, "ramp": 5}]},
                 "params.steps.0", "unknown field 'ramp'", id="step-unknown-field"),
    pytest.param("set_schedule", {"steps": [{"at": "2026-11-24T00:00:00Z", "level_pct": 5}] * 49},
                 "params.steps", "at most 48", id="too-many-steps"),
    pytest.param("reboot", {}, "type", "unknown command type 'reboot'", id="unknown-type"),
])
def test_invalid_params_name_the_field_and_say_why(command_type: str, params: dict[str, Any],
                                                   field: str, words: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        validate(command_type, params, now=NOW)
    assert caught.value.field == field
    assert words in caught.value.message


def test_only_lighting_cabinets_take_commands() -> None:
    check_type("lighting_cabinet", "set_schedule")
    with pytest.raises(InvalidCommand, match="water_flow_meter' takes no commands"):
        check_type("water_flow_meter", "switch")
    assert kinds_taking("set_dimming") == ("lighting_cabinet",)
    assert kinds_taking("reboot") == ()


def test_a_schedule_of_a_whole_day_fits() -> None:
    steps = [{"at": (NOW + timedelta(minutes=30 * (i + 1))).isoformat(), "level_pct": i}
             for i in range(48)]
    assert len(validate("set_schedule", {"steps": steps}, now=NOW)["steps"]) == 48
