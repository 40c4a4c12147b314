"""Parsing of the fields every format shares: timestamps, metric values, JSON."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from devices.catalogue import METRIC_NAME_RE
from ingest.model import Reason

MAX_FUTURE = timedelta(minutes=10)


class FieldError(ValueError):
    """A field is invalid; `reason` is its code, the message says why to a person."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _NonFinite:
    """Stands for NaN or Infinity, which JSON does not allow but some devices send."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def loads(payload: bytes) -> Any:
    """Parses JSON; NaN/Infinity literals become markers that value checks reject one by one."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as fast_error:
        try:
            return json.loads(payload, parse_constant=_NonFinite)
        except (ValueError, RecursionError):
            raise FieldError(Reason.INVALID_JSON, f"not valid JSON: {fast_error}") from None


def parse_ts(raw: Any, now: datetime, max_future: timedelta = MAX_FUTURE) -> datetime:
    """`ts`: RFC 3339 with an offset, or integer epoch milliseconds; not too far in the future."""
    if isinstance(raw, str):  # the common case first: the checks below are for other types
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            raise FieldError(
                Reason.INVALID_TS, f"'ts' {_short(raw)} is not an RFC 3339 timestamp"
            ) from None
        if ts.tzinfo is None:
            raise FieldError(Reason.INVALID_TS, f"'ts' {_short(raw)} has no UTC offset")
    elif raw is None:
        raise FieldError(Reason.MISSING_TS, "'ts' is missing")
    elif isinstance(raw, bool):
        raise FieldError(Reason.INVALID_TS, f"'ts' must be RFC 3339 or epoch milliseconds, got {raw!r}")
    elif isinstance(raw, int):
        try:
            ts = datetime.fromtimestamp(raw / 1000, tz=UTC)
        except (OverflowError, ValueError, OSError):
            raise FieldError(Reason.INVALID_TS, f"'ts' {raw} is out of range") from None
    else:
        raise FieldError(
            Reason.INVALID_TS, f"'ts' must be RFC 3339 or epoch milliseconds, got {_short(raw)}"
        )
    if ts.year < 1970:
        raise FieldError(Reason.INVALID_TS, f"'ts' {_short(raw)} is before 1970")
    if ts - now > max_future:
        raise FieldError(
            Reason.FUTURE_TS,
            f"'ts' {_short(raw)} is more than {int(max_future.total_seconds() // 60)} minutes "
            "in the future",
        )
    return ts


# Metric names already found valid: a fleet sends few distinct ones, each checked once (the
# regular expression was a sixth of decoding). Bounded, so that garbage cannot grow it.
_VALID_NAMES: set[str] = set()
MAX_VALID_NAMES = 10_000


def parse_value(name: str, raw: Any) -> float:
    """A metric value: a finite number, or a boolean stored as 1/0."""
    if name.__class__ is not str or name not in _VALID_NAMES:
        if not isinstance(name, str) or not METRIC_NAME_RE.match(name):
            raise FieldError(Reason.INVALID_METRIC_NAME, f"metric name {_short(name)} is not valid")
        if len(_VALID_NAMES) < MAX_VALID_NAMES:
            _VALID_NAMES.add(name)
    if raw.__class__ is float and math.isfinite(raw):  # what devices send most
        return raw
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
        if math.isfinite(value):
            return value
    raise FieldError(
        Reason.INVALID_VALUE, f"metric '{name}': {_short(raw)} is not a finite number or a boolean"
    )


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
