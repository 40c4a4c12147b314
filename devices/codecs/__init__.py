"""Payload codecs of LoRaWAN devices: the bytes a device sends <-> the values they carry.

Ingest decodes a raw uplink with the codec of the device's model when the network server
did not decode it; simulators encode with the same codec, so what a simulated device sends
is byte for byte what the real one sends. Codecs are registered by name in `CODECS`; a
device model (`devices/models.py`) names its codec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from devices.codecs import milesight
from devices.codecs.errors import CodecError

__all__ = ["CODECS", "Codec", "CodecError"]


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
