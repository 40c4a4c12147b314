"""Errors of the alerts package.

    PhareError
     └── AlertsError
          ├── AlertNotFound       no alert with that id (in the caller's scope)
          ├── InvalidTransition   e.g. acknowledging a resolved alert (the API answers 409)
          ├── CapError            a CAP document that cannot be read
          └── DeliveryError       a notification could not be delivered (it is retried)
"""

from __future__ import annotations

from phare.errors import PhareError


class AlertsError(PhareError):
    """Something the alerts package cannot do."""


class AlertNotFound(AlertsError):
    """No alert with that id."""


class InvalidTransition(AlertsError):
    """The alert's status does not allow this change; the message says why."""


class CapError(AlertsError):
    """A CAP document that is not well-formed or lacks a required element."""


class DeliveryError(AlertsError):
    """A notification was not delivered; `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
