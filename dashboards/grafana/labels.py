"""What the dashboards show instead of stored codes: French labels and colours.

Kinds are labelled by the catalogue, alert types and severities by the alerts' texts; device
event types have their labels here (keyed by the catalogue's event types, checked by tests).
"""

from __future__ import annotations

from alerts.texts import SEVERITY_LABELS, TYPE_LABELS
from devices.catalogue import KINDS


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


KIND_LABELS: dict[str, str] = {name: _capitalized(k.label_fr) for name, k in KINDS.items()}
# One colour per kind: the overview's map draws its markers in them, its table says which.
KIND_COLORS: dict[str, str] = {
    "lighting_cabinet": "yellow",
    "acoustic_leak_sensor": "blue",
    "water_flow_meter": "purple",
    "hazard_detector": "red",
    "building_meter": "green",
}

EVENT_LABELS: dict[str, str] = {
    "door_open": "Porte ouverte",
    "breaker_trip": "Disjoncteur déclenché",
    "lamp_failure": "Lampe en panne",
    "power_loss": "Coupure d'alimentation",
    "tamper": "Ouverture ou arrachement",
    "reverse_flow": "Débit inversé",
    "smoke": "Fumée",
    "heat": "Chaleur",
    "water": "Présence d'eau",
    "test": "Test de maintenance",
    "low_battery": "Pile faible",
    "water_leak": "Fuite d'eau",
}

ALERT_TYPE_LABELS: dict[str, str] = {code: texts["fr"] for code, texts in TYPE_LABELS.items()}
SEVERITY: dict[str, str] = {code: _capitalized(texts["fr"]) for code, texts in SEVERITY_LABELS.items()}
SEVERITY_COLORS = {"info": "blue", "low": "green", "medium": "yellow", "high": "orange",
                   "critical": "red"}
STATUS_LABELS = {"open": "Ouverte", "acknowledged": "Prise en compte", "resolved": "Résolue"}
STATUS_COLORS = {"open": "red", "acknowledged": "orange", "resolved": "green"}
EVENT_STATE_LABELS = {"true": "Début", "false": "Fin"}
JOB_STATUS_LABELS = {"ok": "OK", "failed": "Échec"}
JOB_STATUS_COLORS = {"ok": "green", "failed": "red"}
