"""The downlink frame of a command for a LoRaWAN device, per its model.

A model names its downlink encoder (`devices/models.py: DeviceModel.downlink`); the encoders
live with the codecs (`devices/codecs/`), so that firmware writers, simulators and Phare read
one definition. Codec errors become InvalidCommand here: the API refuses at once (422) what
the dispatcher could never send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from commands.errors import InvalidCommand
from devices import models
from devices.codecs import DOWNLINKS, CodecError


@dataclass(frozen=True, slots=True)
class Downlink:
    f_port: int
    frame: bytes


def downlink_models() -> list[str]:
    """The models Phare can send commands to over LoRaWAN."""
    return sorted(m.name for m in models.MODELS.values() if m.downlink)


def encode(model: str | None, command_type: str, params: Mapping[str, Any]) -> Downlink:
    """The frame carrying a validated command to a device of `model`."""
    spec = models.get(model)
    codec = DOWNLINKS.get(spec.downlink) if spec is not None and spec.downlink else None
    if codec is None:
        who = f"its model '{model}'" if model else "it has no model, so it"
        raise InvalidCommand("device", f"this LoRaWAN device cannot take commands: {who} has no "
                             f"downlink encoding in Phare (models that have one: "
                             f"{', '.join(downlink_models())})")
    try:
        f_port, frame = codec.encode_command(command_type, params)
    except CodecError as exc:
        field = "params.steps" if command_type == "set_schedule" else "params"
        raise InvalidCommand(field, str(exc)) from exc
    return Downlink(f_port, frame)
