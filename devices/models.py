"""Device models Phare knows: the kind of device each is, its codec, how its values are named.

A device is registered with a `model` (contract §3). For a LoRaWAN model, ingest decodes raw
uplinks with the model's codec and stores the decoded fields under the catalogue's metric
names the model maps them to (contract §5); fields it does not map keep their own names.
`states` turns the texts some decoders give (Milesight's "normal"/"leak") into numbers.
`downlink` names the encoder of the commands a model takes over LoRaWAN (`devices.codecs.DOWNLINKS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DeviceModel:
    name: str
    label: str                # vendor and product, as sold
    kind: str                 # a key of devices.catalogue.KINDS
    codec: str | None         # a key of devices.codecs.CODECS, None when the network server decodes
    metrics: Mapping[str, str] = field(default_factory=dict)  # decoded field -> catalogue metric
    states: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # field -> text -> value
    downlink: str | None = None  # a key of devices.codecs.DOWNLINKS: the commands it takes


_LEAK_STATES = {"normal": 0.0, "leak": 1.0}

MODELS: dict[str, DeviceModel] = {
    m.name: m
    for m in (
        DeviceModel(
            "milesight-em300-sld", "Milesight EM300-SLD (spot leak detector)",
            kind="hazard_detector", codec="milesight-em300-sld",
            metrics={"leakage_status": "water_detected", "temperature": "temperature_c",
                     "humidity": "humidity_pct", "battery": "battery_pct"},
            states={"leakage_status": _LEAK_STATES},
        ),
        DeviceModel(
            "milesight-em500-swl", "Milesight EM500-SWL (submersible water level sensor)",
            kind="hazard_detector", codec="milesight-em500-swl",
            metrics={"water_level": "water_level_cm", "battery": "battery_pct"},
        ),
        # Phare's generic LoRaWAN lighting controller: the network server's payload formatter
        # decodes its uplinks (catalogue names); Phare encodes its commands.
        DeviceModel(
            "phare-lora-cabinet", "Phare LoRaWAN lighting controller (generic)",
            kind="lighting_cabinet", codec=None, downlink="phare-lora-cabinet",
        ),
    )
}


def get(name: str | None) -> DeviceModel | None:
    """The model registered under `name` (case-insensitive), None if Phare does not know it."""
    return MODELS.get(name.strip().lower()) if name else None
