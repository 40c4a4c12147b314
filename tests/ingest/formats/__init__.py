"""Tests of the message formats, on the real-world samples in tests/fixtures/realcases/."""

from __future__ import annotations

from pathlib import Path

REALCASES = Path(__file__).resolve().parents[2] / "fixtures" / "realcases"


def realcase(name: str) -> bytes:
    """A real-world sample, byte for byte as published (see its README.txt for the source)."""
    return (REALCASES / name).read_bytes()
