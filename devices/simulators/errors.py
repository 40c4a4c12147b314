"""Errors of the simulators, with the HTTP and MQTT failures translated at the boundary.

SimulatorError
 ├── ScenarioError       a scenario cannot be found, parsed or validated, or its faults applied
 ├── RegistrationError   the API refused a device, or cannot be reached
 └── BrokerError         the MQTT broker refused or lost the connection, or never acknowledged
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of the simulators' errors."""


class ScenarioError(SimulatorError):
    """A scenario is missing or invalid; the message says where."""


class RegistrationError(SimulatorError):
    """A device could not be registered through the HTTP API."""


class BrokerError(SimulatorError):
    """The MQTT broker could not be reached, refused the client, or did not acknowledge."""
