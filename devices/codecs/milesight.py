"""Milesight EM300-SLD (spot leak) and EM500-SWL (submersible water level) payloads.

A Milesight frame is a sequence of channels: a channel id (1 byte), a channel type (1 byte),
then a fixed number of data bytes, little-endian. Field names and values are those of
Milesight's own decoders (github.com/Milesight-IoT/SensorDecoders), so that a device decoded
by a network server's Milesight formatter and one decoded here give the same fields: e.g.
`leakage_status` is "normal" or "leak", timestamped records are listed under `history`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devices.codecs.errors import CodecError

F_PORT = 85  # every Milesight uplink (data, device information, command replies)

Values = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Channel:
    """One kind of channel: its two header bytes, its data size, how to read and write it."""

    id: int
    type: int
    size: int
    read: Callable[[bytes], Values]
    write: Callable[[Mapping[str, Any]], bytes] | None = None
    fields: tuple[str, ...] = ()  # the values `write` takes
    history: bool = False         # a timestamped record, listed under "history"

    @property
    def key(self) -> tuple[int, int]:
        return (self.id, self.type)


class MilesightCodec:
    """Decodes and encodes the frames of one Milesight model."""

    def __init__(self, name: str, label: str, channels: Sequence[Channel]) -> None:
        self.name = name
        self.label = label
        self.channels = tuple(channels)
        self._by_key = {c.key: c for c in self.channels}

    def decode(self, f_port: int | None, data: bytes) -> Values:
        """The values of one frame; CodecError (with what came before) where it goes wrong."""
        out: Values = {}
        if f_port is not None and f_port != F_PORT:
            raise CodecError(f"{self.label} sends its data on FPort {F_PORT}, not FPort {f_port}")
        i = 0
        while i < len(data):
            if i + 2 > len(data):
                raise CodecError(f"{self.label} payload: a lone byte 0x{data[i]:02x} at byte {i}, "
                                 "where a channel header (2 bytes) should start", out)
            channel = self._by_key.get((data[i], data[i + 1]))
            if channel is None:
                raise CodecError(f"{self.label} payload: unknown channel 0x{data[i]:02x} "
                                 f"type 0x{data[i + 1]:02x} at byte {i}", out)
            start, end = i + 2, i + 2 + channel.size
            if end > len(data):
                raise CodecError(f"{self.label} payload: channel 0x{channel.id:02x} type "
                                 f"0x{channel.type:02x} at byte {i} needs {channel.size} bytes, "
                                 f"{len(data) - start} left", out)
            values = channel.read(data[start:end])
            if channel.history:
                out.setdefault("history", []).append(values)
            else:
                out.update(values)
            i = end
        return out

    def encode(self, values: Mapping[str, Any]) -> bytes:
        """The frame a device sends for `values` (the same names `decode` gives)."""
        writable = {f for c in self.channels if c.write and not c.history for f in c.fields}
        unknown = sorted(set(values) - writable - {"history"})
        if unknown:
            raise CodecError(f"{self.label} cannot encode {', '.join(map(repr, unknown))}")
        out = bytearray()
        for channel in self.channels:
            if channel.write is None or channel.history:
                continue
            if all(f in values for f in channel.fields):
                out += bytes((channel.id, channel.type)) + channel.write(values)
        records = values.get("history", ())
        if records:
            channel = next(c for c in self.channels if c.history)
            assert channel.write is not None  # every history channel here is writable
            for record in records:
                missing = [f for f in channel.fields if f not in record]
                if missing:
                    raise CodecError(f"{self.label} history record lacks {', '.join(missing)}")
                out += bytes((channel.id, channel.type)) + channel.write(record)
        return bytes(out)


# --- field readers and writers ----------------------------------------------------------
def _u8(data: bytes, at: int = 0) -> int:
    return data[at]


def _u16(data: bytes, at: int = 0) -> int:
    return int(struct.unpack_from("<H", data, at)[0])


def _i16(data: bytes, at: int = 0) -> int:
    return int(struct.unpack_from("<h", data, at)[0])


def _u32(data: bytes, at: int = 0) -> int:
    return int(struct.unpack_from("<I", data, at)[0])


def _pack(fmt: str, value: float, name: str) -> bytes:
    try:
        return struct.pack(fmt, round(value))
    except (struct.error, TypeError, ValueError, OverflowError):
        raise CodecError(f"{name} {value!r} does not fit the payload") from None


_LEAKAGE = {0: "normal", 1: "leak"}


def _leakage(byte: int) -> str:
    return _LEAKAGE.get(byte, "unknown")


def _leakage_byte(value: Any) -> bytes:
    if value in ("normal", "leak"):
        return bytes((1 if value == "leak" else 0,))
    if isinstance(value, bool) or value in (0, 1):
        return bytes((int(value),))
    raise CodecError(f"leakage_status {value!r} is not 'normal', 'leak', 0 or 1")


_LEVEL_ERRORS = {0xFFFF: "collection failed", 0xFFFD: "out of range"}


def _water_level(raw: int, values: Values) -> Values:
    if raw in _LEVEL_ERRORS:
        values["water_level_error"] = _LEVEL_ERRORS[raw]
    else:
        values["water_level"] = raw
    return values


def _version(data: bytes) -> str:
    return f"v{data[0]}.{data[1]}"


# Device information, sent after a join or a reboot: texts, which ingest ignores and counts.
_CLASSES = {0: "Class A", 1: "Class B", 2: "Class C", 3: "Class CtoB"}
DEVICE_INFO = (
    Channel(0xFF, 0x01, 1, lambda d: {"ipso_version": f"v{d[0] >> 4}.{d[0] & 0x0F}"}),
    Channel(0xFF, 0x09, 2, lambda d: {"hardware_version": f"v{d[0]}.{d[1] >> 4}"}),
    Channel(0xFF, 0x0A, 2, lambda d: {"firmware_version": _version(d)}),
    Channel(0xFF, 0xFF, 2, lambda d: {"tsl_version": _version(d)}),
    Channel(0xFF, 0x16, 8, lambda d: {"sn": d.hex()}),
    Channel(0xFF, 0x0F, 1, lambda d: {"lorawan_class": _CLASSES.get(d[0], "unknown")}),
    Channel(0xFF, 0xFE, 1, lambda d: {"reset_event": "reset"}),
    Channel(0xFF, 0x0B, 1, lambda d: {"device_status": "on"}),
)

BATTERY = Channel(0x01, 0x75, 1, lambda d: {"battery": _u8(d)},
                  lambda v: _pack("<B", v["battery"], "battery"), ("battery",))

EM300_SLD = MilesightCodec("milesight-em300-sld", "EM300-SLD", (
    BATTERY,
    Channel(0x03, 0x67, 2, lambda d: {"temperature": _i16(d) / 10},
            lambda v: _pack("<h", v["temperature"] * 10, "temperature"), ("temperature",)),
    Channel(0x04, 0x68, 1, lambda d: {"humidity": _u8(d) / 2},
            lambda v: _pack("<B", v["humidity"] * 2, "humidity"), ("humidity",)),
    Channel(0x05, 0x00, 1, lambda d: {"leakage_status": _leakage(_u8(d))},
            lambda v: _leakage_byte(v["leakage_status"]), ("leakage_status",)),
    Channel(0x20, 0xCE, 8,
            lambda d: {"timestamp": _u32(d), "temperature": _i16(d, 4) / 10,
                       "humidity": _u8(d, 6) / 2, "leakage_status": _leakage(_u8(d, 7))},
            lambda v: (_pack("<I", v["timestamp"], "timestamp")
                       + _pack("<h", v["temperature"] * 10, "temperature")
                       + _pack("<B", v["humidity"] * 2, "humidity")
                       + _leakage_byte(v["leakage_status"])),
            ("timestamp", "temperature", "humidity", "leakage_status"), history=True),
    *DEVICE_INFO,
))

EM500_SWL = MilesightCodec("milesight-em500-swl", "EM500-SWL", (
    BATTERY,
    # Water level in cm; 0xFFFF and 0xFFFD report a sensor fault instead of a level.
    Channel(0x03, 0x77, 2, lambda d: _water_level(_u16(d), {}),
            lambda v: _pack("<H", v["water_level"], "water_level"), ("water_level",)),
    Channel(0x20, 0xCE, 6, lambda d: _water_level(_u16(d, 4), {"timestamp": _u32(d)}),
            lambda v: (_pack("<I", v["timestamp"], "timestamp")
                       + _pack("<H", v["water_level"], "water_level")),
            ("timestamp", "water_level"), history=True),
    *DEVICE_INFO,
))
