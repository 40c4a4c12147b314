"""A disk spool of raw messages, for when the database is away.

Messages are appended to segment files and fsync'ed before they are acknowledged to the
broker; once the database is back they are read in order, decoded again and written, and
each segment is deleted after its contents are committed.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.errors import IngestError

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<IIq")  # topic length, payload length, received_at (epoch µs)
SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    payload: bytes
    received_at: datetime


class SpoolFull(Exception):
    """The spool reached its size limit: the broker has to keep the rest."""


class Spool:
    """Append-only segment files in one directory, read back oldest first."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IngestError(
                f"cannot create the spool directory {directory} ({exc.strerror}): "
                "set PHARE_INGEST_SPOOL_DIR to a writable directory"
            ) from exc
        self._segments = sorted(directory.glob("segment-*.bin"))
        self._next = int(self._segments[-1].stem.split("-")[1]) + 1 if self._segments else 0

    @property
    def size(self) -> int:
        """Bytes spooled and not yet written to the database."""
        return sum(p.stat().st_size for p in self._segments if p.exists())

    def __bool__(self) -> bool:
        return bool(self._segments)

    def append(self, messages: list[RawMessage]) -> None:
        """Writes messages durably (fsync) in a new segment."""
        blob = bytearray()
        for m in messages:
            topic = m.topic.encode()
            micros = int(m.received_at.timestamp() * 1_000_000)
            blob += _HEADER.pack(len(topic), len(m.payload), micros) + topic + m.payload
        if self.size + len(blob) > self.max_bytes:
            raise SpoolFull(f"spool {self.directory} would exceed {self.max_bytes} bytes")
        path = self.directory / f"segment-{self._next:012d}.bin"
        self._next += 1
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        tmp.rename(path)  # a segment is either whole or absent
        self._segments.append(path)

    def segments(self) -> Iterator[tuple[Path, list[RawMessage]]]:
        """The oldest segment and its messages, until none is left (call `done` after each)."""
        while self._segments:
            path = self._segments[0]
            yield path, list(_read(path))

    def done(self, path: Path) -> None:
        """Forgets a segment whose messages are committed."""
        path.unlink(missing_ok=True)
        self._segments.remove(path)


def _read(path: Path) -> Iterator[RawMessage]:
    data = path.read_bytes()
    offset = 0
    while offset + _HEADER.size <= len(data):
        topic_len, payload_len, micros = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        topic = data[offset:offset + topic_len].decode()
        offset += topic_len
        payload = data[offset:offset + payload_len]
        offset += payload_len
        yield RawMessage(topic, payload, datetime.fromtimestamp(micros / 1_000_000, UTC))
    if offset != len(data):
        log.error("spool segment %s is truncated at byte %d", path, offset)
