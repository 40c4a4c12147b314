"""Query parameters that need more than a type: RFC 3339 instants, time windows, buckets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from api.errors import invalid

DEFAULT_WINDOW = timedelta(hours=24)
BUCKET_RE = re.compile(r"^([1-9][0-9]{0,5})([smhd])$")
_BUCKET_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# An unencoded '+' in a query string arrives as a space: "…T10:00:00 02:00".
_SPACED_OFFSET = re.compile(r" (\d{2}:\d{2})$")


def parse_instant(name: str, value: str | None) -> datetime | None:
    """An RFC 3339 timestamp with its offset (`2026-11-23T21:15:00Z`), or None if absent."""
    if value is None:
        return None
    text = _SPACED_OFFSET.sub(r"+\1", value.strip())
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise invalid("query", name, "must be an RFC 3339 timestamp with an offset, "
                      "e.g. 2026-11-23T21:15:00Z", value)
    return instant


def time_window(start: datetime | None, end: datetime | None, *,
                now: datetime) -> tuple[datetime, datetime]:
    """[start, end): `end` defaults to now, `start` to 24 hours before `end`."""
    end = end or now
    start = start or end - DEFAULT_WINDOW
    if start >= end:
        raise invalid("query", "from", f"'from' ({format_instant(start)}) must be earlier than "
                      f"'to' ({format_instant(end)})", format_instant(start))
    return start, end


def parse_bucket(value: str | None) -> timedelta | None:
    """`30s`, `5m`, `1h`, `1d` as a duration, or None if absent."""
    if value is None:
        return None
    match = BUCKET_RE.match(value)
    if match is None:
        raise invalid("query", "bucket", "must be a whole number followed by s, m, h or d "
                      "(e.g. 30s, 5m, 1h, 1d)", value)
    return timedelta(**{_BUCKET_UNITS[match[2]]: int(match[1])})


def format_instant(instant: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as the API writes instants."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
