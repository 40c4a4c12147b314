"""Stepping simulated devices without a broker, for the physics tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from devices.catalogue import Channel
from devices.messages import Reading
from devices.simulators.base import Message, SimDevice


def simulate(devices: Sequence[SimDevice], start: datetime, end: datetime,
             step: timedelta) -> list[tuple[SimDevice, Message]]:
    """Every message the devices publish from start to end (inclusive), in order."""
    out = []
    t = start
    while t <= end:
        for device in devices:
            out.extend((device, message) for message in device.step(t))
        t += step
    return out


def readings(device: SimDevice, start: datetime, end: datetime,
             step: timedelta) -> list[Reading]:
    """The readings one device publishes from start to end."""
    return [item for _, (channel, item) in simulate([device], start, end, step)
            if channel is Channel.TELEMETRY and isinstance(item, Reading)]
