"""Which commands each device kind takes, and their parameters checked and normalised.

Lighting cabinets (contract §1.4) take:

    switch        {"on": bool, "until"?: instant}
    set_dimming   {"level_pct": 0-100, "until"?: instant}
    set_schedule  {"steps": [{"at": instant, "level_pct": 0-100}, ...]}   `at` strictly increasing

The contract's "dated list of steps" is the object `{"steps": [...]}` (what devices and the
simulator read), so that a schedule may gain other fields later without a new type. Instants
are RFC 3339 with an offset (or epoch milliseconds) and are normalised to UTC `…Z`; levels are
rounded to whole percents. Unknown parameters are refused: a typo must not pass for a default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from commands.errors import InvalidCommand
from devices.messages import format_ts

MAX_STEPS = 48  # a day of half-hour steps; LoRaWAN models may take fewer (commands/encoding.py)

COMMAND_TYPES: dict[str, tuple[str, ...]] = {
    "lighting_cabinet": ("switch", "set_dimming", "set_schedule"),
}


def command_types(kind: str) -> tuple[str, ...]:
    """The command types a device kind takes (none for most)."""
    return COMMAND_TYPES.get(kind, ())


def kinds_taking(command_type: str) -> tuple[str, ...]:
    """The device kinds that take a command type."""
    return tuple(kind for kind, types in COMMAND_TYPES.items() if command_type in types)


def check_type(kind: str, command_type: str) -> None:
    """InvalidCommand unless a device of `kind` takes `command_type`."""
    types = command_types(kind)
    if not types:
        raise InvalidCommand("type", f"a device of kind '{kind}' takes no commands")
    if command_type not in types:
        raise InvalidCommand("type", f"a device of kind '{kind}' takes no '{command_type}' "
                             f"command; it takes: {', '.join(types)}")


def validate(command_type: str, params: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The params of a command, normalised; InvalidCommand naming the first problem."""
    check = _CHECKS.get(command_type)
    if check is None:
        known = sorted({t for types in COMMAND_TYPES.values() for t in types})
        raise InvalidCommand("type", f"unknown command type '{command_type}'; "
                             f"known types: {', '.join(known)}")
    if not isinstance(params, Mapping):
        raise InvalidCommand("params", "must be an object")
    return check(params, now)


def parse_instant(field: str, value: Any) -> datetime:
    """An RFC 3339 instant with an offset, or epoch milliseconds, in UTC."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, ValueError, OSError):
            raise InvalidCommand(field, f"{value} is out of range as epoch milliseconds") from None
    if isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value.strip())
        except ValueError:
            instant = None
        if instant is not None and instant.tzinfo is not None:
            return instant.astimezone(UTC)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    raise InvalidCommand(field, f"must be an RFC 3339 time with an offset "
                         f"(e.g. 2026-11-23T21:15:00Z) or epoch milliseconds, got {_short(value)}")


# --- one check per command type ----------------------------------------------------------
def _switch(params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    _only(params, "switch", ("on", "until"))
    on = params.get("on")
    if not isinstance(on, bool):
        raise InvalidCommand("params.on", f"must be true or false, got {_short(on)}")
    return {"on": on, **_until(params, now)}


def _set_dimming(params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    _only(params, "set_dimming", ("level_pct", "until"))
    return {"level_pct": _level("params.level_pct", params.get("level_pct")), **_until(params, now)}


def _set_schedule(params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    _only(params, "set_schedule", ("steps",))
    steps = params.get("steps")
    if not isinstance(steps, list) or not steps:
        raise InvalidCommand("params.steps", 'must be a non-empty list of {"at", "level_pct"} '
                             f"steps, got {_short(steps)}")
    if len(steps) > MAX_STEPS:
        raise InvalidCommand("params.steps", f"holds {len(steps)} steps; at most {MAX_STEPS}")
    out: list[dict[str, Any]] = []
    previous: datetime | None = None
    for index, step in enumerate(steps):
        where = f"params.steps.{index}"
        if not isinstance(step, Mapping):
            raise InvalidCommand(where, f'must be an object {{"at", "level_pct"}}, got {_short(step)}')
        unknown = sorted(set(step) - {"at", "level_pct"})
        if unknown:
            raise InvalidCommand(where, f"unknown field {', '.join(map(repr, unknown))} "
                                 '(a step is {"at", "level_pct"})')
        at = parse_instant(f"{where}.at", step.get("at"))
        if previous is None and at <= now:
            raise InvalidCommand(f"{where}.at", f"the first step ({format_ts(at)}) is not in "
                                 "the future")
        if previous is not None and at <= previous:
            raise InvalidCommand(f"{where}.at", f"steps must be in increasing time order: "
                                 f"{format_ts(at)} is not after {format_ts(previous)}")
        previous = at
        out.append({"at": format_ts(at), "level_pct": _level(f"{where}.level_pct",
                                                             step.get("level_pct"))})
    return {"steps": out}


_CHECKS: dict[str, Callable[[Mapping[str, Any], datetime], dict[str, Any]]] = {
    "switch": _switch, "set_dimming": _set_dimming, "set_schedule": _set_schedule,
}


def _only(params: Mapping[str, Any], command_type: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidCommand(f"params.{unknown[0]}", f"'{command_type}' takes no parameter "
                             f"'{unknown[0]}'; it takes: {', '.join(allowed)}")


def _level(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise InvalidCommand(field, f"must be a number from 0 to 100, got {_short(value)}")
    return round(value)


def _until(params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    if params.get("until") is None:
        return {}
    until = parse_instant("params.until", params["until"])
    if until <= now:
        raise InvalidCommand("params.until", f"({format_ts(until)}) is not in the future")
    return {"until": format_ts(until)}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
