"""Downlink frames per device model: `phare-lora-cabinet`'s documented encoding, byte for byte."""

from __future__ import annotations

from typing import Any

import pytest

from commands.encoding import Downlink, encode
from commands.errors import InvalidCommand
from devices.codecs import DOWNLINKS, CodecError

MODEL = "phare-lora-cabinet"
UNTIL = "2026-11-24T06:00:00.000Z"  # epoch 1795500000 = 0x6B0527E0


@pytest.mark.parametrize(("command_type", "params", "frame"), [
    pytest.param("switch", {"on": True}, "010100000000", id="switch-on-no-until"),
    pytest.param("switch", {"on": False, "until": UNTIL}, "0100e027056b", id="switch-off-until"),
    pytest.param("set_dimming", {"level_pct": 40, "until": UNTIL}, "0228e027056b",
                 id="dimming-40-until"),
    pytest.param("set_schedule", {"steps": [{"at": UNTIL, "level_pct": 100},
                                            {"at": "2026-11-24T07:00:00Z", "level_pct": 0}]},
                 "0302" "e027056b64" "f035056b00", id="schedule-two-steps"),
])
def test_frames_are_the_documented_bytes_on_fport_10(command_type: str, params: dict[str, Any],
                                                     frame: str) -> None:
    assert encode(MODEL, command_type, params) == Downlink(10, bytes.fromhex(frame))


@pytest.mark.parametrize(("command_type", "params", "read"), [
    ("switch", {"on": True, "until": UNTIL}, {"on": True, "until": "2026-11-24T06:00:00Z"}),
    ("set_dimming", {"level_pct": 0}, {"level_pct": 0}),
    ("set_schedule", {"steps": [{"at": UNTIL, "level_pct": 30}]},
     {"steps": [{"at": "2026-11-24T06:00:00Z", "level_pct": 30}]}),
], ids=["switch", "dimming", "schedule"])
def test_the_firmware_reads_back_what_was_sent(command_type: str, params: dict[str, Any],
                                               read: dict[str, Any]) -> None:
    downlink = encode(MODEL, command_type, params)
    assert DOWNLINKS[MODEL].decode_command(downlink.f_port, downlink.frame) == (command_type, read)


def test_a_schedule_longer_than_one_downlink_is_refused_with_the_limit() -> None:
    steps = [{"at": f"2026-11-24T0{i}:00:00Z", "level_pct": 10} for i in range(10)]
    with pytest.raises(InvalidCommand, match="1 to 9 schedule steps") as caught:
        encode(MODEL, "set_schedule", {"steps": steps})
    assert caught.value.field == "params.steps"


@pytest.mark.parametrize("model", [None, "milesight-em300-sld", "unknown-model"],
                         ids=["no-model", "sensor-model", "unknown-model"])
def test_a_model_without_downlink_encoding_cannot_take_commands(model: str | None) -> None:
    with pytest.raises(InvalidCommand, match="no downlink encoding in Phare") as caught:
        encode(model, "switch", {"on": True})
    assert MODEL in caught.value.message  # names the models that can


def test_a_frame_of_another_port_or_an_unknown_opcode_is_refused() -> None:
    codec = DOWNLINKS[MODEL]
    with pytest.raises(CodecError, match="FPort 10"):
        codec.decode_command(11, bytes.fromhex("010100000000"))
    with pytest.raises(CodecError, match="unknown command 0x09"):
        codec.decode_command(10, bytes.fromhex("09"))
