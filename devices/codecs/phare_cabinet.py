"""Downlinks of `phare-lora-cabinet`, a generic LoRaWAN lighting controller: FPort 10.

Phare's own, documented encoding, for controllers whose firmware an integrator writes (and
a reference for adapting a vendor's). One command per frame; integers little-endian; times
in epoch seconds (UTC), 0 meaning "not given":

    0x01 switch        01 | on (u8: 0 or 1) | until (u32)           6 bytes
    0x02 set_dimming   02 | level_pct (u8: 0-100) | until (u32)     6 bytes
    0x03 set_schedule  03 | n (u8: 1-9) | n x (at (u32), level_pct (u8))   2 + 5n bytes

Without `until`, a switch lasts until the controller's next astronomical transition and a
dimming until the next sunrise, as the simulated cabinet does. Nine schedule steps (47 bytes)
fit the smallest LoRaWAN payload in Europe (51 bytes at EU868 DR0-DR2).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from devices.codecs.errors import CodecError

F_PORT = 10
MAX_STEPS = 9
SWITCH, SET_DIMMING, SET_SCHEDULE = 0x01, 0x02, 0x03
_OPCODES = {"switch": SWITCH, "set_dimming": SET_DIMMING, "set_schedule": SET_SCHEDULE}
_STEP = struct.Struct("<IB")
_STATE = struct.Struct("<BBI")  # opcode, value, until


class PhareCabinetDownlink:
    """Encodes (and, for tests and simulators, decodes) the controller's command frames."""

    name = "phare-lora-cabinet"
    label = "Phare LoRaWAN lighting controller"
    f_port = F_PORT

    def encode_command(self, command_type: str, params: Mapping[str, Any]) -> tuple[int, bytes]:
        """(FPort, frame) of a command whose params are already validated; CodecError if it
        cannot be written (an unknown type, too many steps)."""
        opcode = _OPCODES.get(command_type)
        if opcode is None:
            raise CodecError(f"{self.label} takes no '{command_type}' command "
                             f"(it takes {', '.join(_OPCODES)})")
        if opcode == SWITCH:
            return F_PORT, _STATE.pack(SWITCH, 1 if params["on"] else 0, _epoch(params.get("until")))
        if opcode == SET_DIMMING:
            return F_PORT, _STATE.pack(SET_DIMMING, _level(params["level_pct"]),
                                       _epoch(params.get("until")))
        steps = params["steps"]
        if not 1 <= len(steps) <= MAX_STEPS:
            raise CodecError(f"{self.label} takes 1 to {MAX_STEPS} schedule steps in one downlink, "
                             f"not {len(steps)}")
        frame = bytes((SET_SCHEDULE, len(steps)))
        for step in steps:
            frame += _STEP.pack(_epoch(step["at"]), _level(step["level_pct"]))
        return F_PORT, frame

    def decode_command(self, f_port: int, frame: bytes) -> tuple[str, dict[str, Any]]:
        """(command type, params) of a frame: what the controller's firmware reads."""
        if f_port != F_PORT:
            raise CodecError(f"{self.label} takes commands on FPort {F_PORT}, not {f_port}")
        if not frame:
            raise CodecError(f"{self.label} downlink is empty")
        opcode = frame[0]
        if opcode in (SWITCH, SET_DIMMING):
            if len(frame) != _STATE.size:
                raise CodecError(f"{self.label} frame 0x{opcode:02x} has {len(frame)} bytes, "
                                 f"not {_STATE.size}")
            _, value, until = _STATE.unpack(frame)
            params: dict[str, Any] = ({"on": bool(value)} if opcode == SWITCH
                                      else {"level_pct": value})
            if until:
                params["until"] = _instant(until)
            return ("switch" if opcode == SWITCH else "set_dimming"), params
        if opcode == SET_SCHEDULE:
            n = frame[1] if len(frame) > 1 else 0
            if n == 0 or len(frame) != 2 + n * _STEP.size:
                raise CodecError(f"{self.label} schedule frame of {len(frame)} bytes does not "
                                 f"hold {n} steps")
            steps = [{"at": _instant(at), "level_pct": level}
                     for at, level in _STEP.iter_unpack(frame[2:])]
            return "set_schedule", {"steps": steps}
        raise CodecError(f"{self.label} downlink: unknown command 0x{opcode:02x}")


def _epoch(value: Any) -> int:
    if value is None:
        return 0
    instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    seconds = int(instant.timestamp())
    if not 0 < seconds < 2**32:
        raise CodecError(f"instant {value!r} does not fit the payload (u32 epoch seconds)")
    return seconds


def _level(value: Any) -> int:
    level = round(value)
    if not 0 <= level <= 100:
        raise CodecError(f"level {value!r} is not 0-100")
    return level


def _instant(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


PHARE_CABINET = PhareCabinetDownlink()
