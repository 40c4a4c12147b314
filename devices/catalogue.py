"""The device catalogue: kinds, metrics with their units, event types and MQTT topics (contract §1-2).

Everything that names a metric, an event type or a topic reads it from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    description: str
    cumulative: bool = False  # an index that only grows (energy, volume): consumption is its delta


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    label_fr: str
    metrics: tuple[Metric, ...]
    event_types: tuple[str, ...]

    @property
    def metric_names(self) -> frozenset[str]:
        return frozenset(m.name for m in self.metrics)


COMMON_METRICS = (
    Metric("battery_pct", "%", "battery level"),
    Metric("rssi_dbm", "dBm", "received signal strength"),
    Metric("snr_db", "dB", "signal-to-noise ratio"),
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "lighting_cabinet",
            "armoire d'éclairage public",
            (
                Metric("power_w", "W", "active power"),
                Metric("energy_kwh", "kWh", "energy index", cumulative=True),
                Metric("voltage_l1_v", "V", "phase 1 voltage"),
                Metric("voltage_l2_v", "V", "phase 2 voltage"),
                Metric("voltage_l3_v", "V", "phase 3 voltage"),
                Metric("current_l1_a", "A", "phase 1 current"),
                Metric("current_l2_a", "A", "phase 2 current"),
                Metric("current_l3_a", "A", "phase 3 current"),
                Metric("power_factor", "", "power factor"),
                Metric("dimming_pct", "%", "actual output level 0-100"),
                Metric("output_on", "bool", "lighting output on"),
                Metric("ambient_lux", "lx", "ambient light"),
            )
            + COMMON_METRICS,
            ("door_open", "breaker_trip", "lamp_failure", "power_loss"),
        ),
        Kind(
            "acoustic_leak_sensor",
            "capteur acoustique de fuite",
            (
                Metric("noise_min_db", "dB", "quietest level of the night window"),
                Metric("noise_spread_db", "dB", "spread of the night levels"),
                Metric("noise_level_db", "dB", "current noise level"),
                Metric("temperature_c", "°C", "temperature"),
            )
            + COMMON_METRICS,
            ("tamper",),
        ),
        Kind(
            "water_flow_meter",
            "débitmètre de secteur",
            (
                Metric("flow_m3h", "m³/h", "flow"),
                Metric("volume_m3", "m³", "volume index", cumulative=True),
                Metric("pressure_bar", "bar", "pressure"),
            )
            + COMMON_METRICS,
            ("reverse_flow",),
        ),
        Kind(
            "hazard_detector",
            "détecteur de risques (incendie, inondation)",
            (
                Metric("smoke_alarm", "bool", "smoke alarm active"),
                Metric("temperature_c", "°C", "temperature"),
                Metric("water_detected", "bool", "water detected"),
                Metric("water_level_cm", "cm", "water level"),
            )
            + COMMON_METRICS,
            ("smoke", "heat", "water", "tamper", "test", "low_battery"),
        ),
        Kind(
            "building_meter",
            "compteur de bâtiment public",
            (
                Metric("electricity_kwh", "kWh", "electricity index", cumulative=True),
                Metric("gas_kwh", "kWh", "gas index", cumulative=True),
                Metric("water_m3", "m³", "water index", cumulative=True),
                Metric("pv_kwh", "kWh", "photovoltaic production index", cumulative=True),
                Metric("power_w", "W", "electric power"),
                Metric("temperature_c", "°C", "indoor temperature"),
                Metric("humidity_pct", "%", "indoor relative humidity"),
                Metric("co2_ppm", "ppm", "indoor CO2"),
                Metric("illuminance_lux", "lx", "indoor illuminance"),
                Metric("occupancy", "", "occupants (or presence 0/1)"),
            )
            + COMMON_METRICS,
            ("water_leak", "door_open"),
        ),
    )
}

# --- identifiers and topics (contract §1.1) ------------------------------------------
TENANT_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
DEVICE_ID_PATTERN = r"[A-Za-z0-9._-]{1,64}"
METRIC_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
TENANT_RE = re.compile(rf"^{TENANT_PATTERN}$")
DEVICE_ID_RE = re.compile(rf"^{DEVICE_ID_PATTERN}$")
METRIC_NAME_RE = re.compile(rf"^{METRIC_NAME_PATTERN}$")

TOPIC_ROOT = "phare/v1"


class Channel(StrEnum):
    """The last part of a native topic: what the message is."""

    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"
    CMD = "cmd"
    CMD_ACK = "cmd/ack"
    SENML = "senml"


# Channels a device publishes on; `cmd` goes the other way.
DEVICE_CHANNELS = (Channel.TELEMETRY, Channel.EVENT, Channel.STATUS, Channel.CMD_ACK, Channel.SENML)
NATIVE_TOPIC_RE = re.compile(
    rf"^{re.escape(TOPIC_ROOT)}/(?P<tenant>{TENANT_PATTERN})/(?P<device>{DEVICE_ID_PATTERN})"
    rf"/(?P<channel>telemetry|event|status|cmd/ack|cmd|senml)$"
)


def topic(tenant: str, device_id: str, channel: Channel) -> str:
    """The native topic of a device's channel."""
    return f"{TOPIC_ROOT}/{tenant}/{device_id}/{channel.value}"
