"""Payload codecs of LoRaWAN devices: the bytes a device sends <-> the values they carry.

Ingest decodes a raw uplink with the codec of the device's model when the network server
did not decode it; simulators encode with the same codec, so what a simulated device sends
is byte for byte what the real one sends. Codecs are registered by name in `CODECS`; a
device model (`devices/models.py`) names its codec.

Downlinks go the other way: a `DownlinkCodec` writes a command (`commands/`) as the frame a
device's firmware reads; they are registered in `DOWNLINKS`, named by a model's `downlink`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from devices.codecs import milesight, phare_cabinet
from devices.codecs.errors import CodecError

__all__ = ["CODECS", "DOWNLINKS", "Codec", "CodecError", "DownlinkCodec"]


class Codec(Protocol):
    name: str
    label: str  # the product as sold, for people: "EM300-SLD"

    def decode(self, f_port: int | None, data: bytes) -> dict[str, Any]:
        """The values in one frame; raises CodecError (with the values read so far)."""
        ...

    def encode(self, values: Mapping[str, Any]) -> bytes:
        """The frame that carries `values`; raises CodecError."""
        ...


CODECS: dict[str, Codec] = {c.name: c for c in (milesight.EM300_SLD, milesight.EM500_SWL)}


class DownlinkCodec(Protocol):
    name: str
    label: str

    def encode_command(self, command_type: str, params: Mapping[str, Any]) -> tuple[int, bytes]:
        """(FPort, frame) of a validated command; raises CodecError."""
        ...

    def decode_command(self, f_port: int, frame: bytes) -> tuple[str, dict[str, Any]]:
        """(command type, params) of a frame, as the device reads it; raises CodecError."""
        ...


DOWNLINKS: dict[str, DownlinkCodec] = {c.name: c for c in (phare_cabinet.PHARE_CABINET,)}
