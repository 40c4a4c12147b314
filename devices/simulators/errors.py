"""Errors of the simulators' runner, with the HTTP and MQTT failures translated at the boundary.

SimulatorError
 ├── RegistrationError   the API refused a device, or cannot be reached
 └── BrokerError         the MQTT broker refused or lost the connection, or never acknowledged
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of the simulators' errors."""


class RegistrationError(SimulatorError):
    """A device could not be registered through the HTTP API."""


class BrokerError(SimulatorError):
    """The MQTT broker could not be reached, refused the client, or did not acknowledge."""
