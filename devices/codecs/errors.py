"""Errors of payload codecs."""

from __future__ import annotations

from typing import Any


class CodecError(ValueError):
    """A payload the codec cannot read (or values it cannot write); the message says where.

    `partial` holds what was decoded before the problem: values before an unknown channel
    are still good, and ingest stores them (partial acceptance, contract §5).
    """

    def __init__(self, message: str, partial: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.partial: dict[str, Any] = partial or {}
