"""Errors of commands, with the lower layers' (paho, codecs) translated at the boundary.

    PhareError
     └── CommandError
          ├── InvalidCommand   a command a device cannot take (the API answers 422 with `field`)
          └── DeliveryError    the broker refused, lost or never acknowledged a publish
"""

from __future__ import annotations

from phare.errors import PhareError


class CommandError(PhareError):
    """Something about a command Phare cannot do."""


class InvalidCommand(CommandError):
    """A command a device cannot take; `field` names the input at fault (`params.level_pct`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class DeliveryError(CommandError):
    """A command could not be handed to the broker; the dispatcher tries again later."""
