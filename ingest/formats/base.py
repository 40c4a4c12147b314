"""The one small interface every message format implements."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.model import Decoded

# decode(topic match, payload, now, max_future) -> what the message holds, [] to ignore it.
# A decoder may raise nothing but FieldError; anything else is a bug, caught by the caller.
Decoder = Callable[[re.Match[str], bytes, datetime, timedelta], list[Decoded]]


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    subscriptions: tuple[str, ...]  # MQTT topic filters the consumer subscribes to
    topic_re: re.Pattern[str]       # the topics this format decodes
    decode: Decoder
