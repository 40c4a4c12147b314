"""What operators read: alert messages, notification subjects and labels, in French (default)
and English.

An alert stores a text key and its parameters; `render` turns them into a sentence. Numbers
are written the French way in French (`142,5 cm`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

Lang = Literal["fr", "en"]
LANGS: tuple[Lang, ...] = ("fr", "en")

TYPE_LABELS: dict[str, dict[Lang, str]] = {
    "water_leak": {"fr": "Fuite d'eau", "en": "Water leak"},
    "energy_anomaly": {"fr": "Anomalie de consommation d'énergie", "en": "Energy anomaly"},
    "fire": {"fr": "Incendie", "en": "Fire"},
    "flood": {"fr": "Inondation", "en": "Flood"},
    "cabinet_fault": {"fr": "Défaut d'armoire d'éclairage", "en": "Lighting cabinet fault"},
    "device_offline": {"fr": "Capteur muet", "en": "Device offline"},
    "low_battery": {"fr": "Pile faible", "en": "Low battery"},
    "device_fault": {"fr": "Défaut de capteur", "en": "Device fault"},
}

SEVERITY_LABELS: dict[str, dict[Lang, str]] = {
    "info": {"fr": "information", "en": "information"},
    "low": {"fr": "faible", "en": "low"},
    "medium": {"fr": "modérée", "en": "medium"},
    "high": {"fr": "élevée", "en": "high"},
    "critical": {"fr": "critique", "en": "critical"},
}

FLOOD_LEVELS: dict[str, dict[Lang, str]] = {
    "yellow": {"fr": "jaune", "en": "yellow"},
    "orange": {"fr": "orange", "en": "orange"},
    "red": {"fr": "rouge", "en": "red"},
}

_CABINET = {"fr": "Armoire d'éclairage « {device} » à {place} : ",
            "en": "Lighting cabinet “{device}” in {place}: "}

TEMPLATES: dict[str, dict[Lang, str]] = {
    "flood.level": {
        "fr": "Inondation — niveau {level} ({value} cm) au capteur « {device} » à {place}",
        "en": "Flood — {level} level ({value} cm) at sensor “{device}” in {place}"},
    "flood.rise": {
        "fr": "Inondation — montée rapide du niveau (+{rate} cm/h, {value} cm) au capteur "
              "« {device} » à {place}",
        "en": "Flood — water rising fast (+{rate} cm/h, {value} cm) at sensor “{device}” in "
              "{place}"},
    "flood.water": {
        "fr": "Inondation — présence d'eau détectée au capteur « {device} » à {place}",
        "en": "Flood — water detected at sensor “{device}” in {place}"},
    "fire.smoke": {
        "fr": "Incendie — alarme fumée au détecteur « {device} » à {place}",
        "en": "Fire — smoke alarm at detector “{device}” in {place}"},
    "fire.heat": {
        "fr": "Incendie — alarme chaleur au détecteur « {device} » à {place}",
        "en": "Fire — heat alarm at detector “{device}” in {place}"},
    "fire.temperature": {
        "fr": "Incendie — {value} °C au détecteur « {device} » à {place}",
        "en": "Fire — {value} °C at detector “{device}” in {place}"},
    "fire.heat_rise": {
        "fr": "Incendie — montée rapide de la température (+{rate} °C/min, {value} °C) au "
              "détecteur « {device} » à {place}",
        "en": "Fire — temperature rising fast (+{rate} °C/min, {value} °C) at detector "
              "“{device}” in {place}"},
    "cabinet_fault.door_open": {"fr": _CABINET["fr"] + "porte ouverte",
                                "en": _CABINET["en"] + "door open"},
    "cabinet_fault.breaker_trip": {"fr": _CABINET["fr"] + "disjoncteur déclenché",
                                   "en": _CABINET["en"] + "breaker tripped"},
    "cabinet_fault.lamp_failure": {"fr": _CABINET["fr"] + "lampe en panne",
                                   "en": _CABINET["en"] + "lamp failure"},
    "cabinet_fault.power_loss": {"fr": _CABINET["fr"] + "coupure d'alimentation",
                                 "en": _CABINET["en"] + "power loss"},
    "device_fault.tamper": {
        "fr": "Capteur « {device} » à {place} : ouverture ou arrachement détecté",
        "en": "Sensor “{device}” in {place}: opened or removed (tamper)"},
    "water_leak.event": {
        "fr": "Fuite d'eau détectée par le compteur « {device} » à {place}",
        "en": "Water leak detected by meter “{device}” in {place}"},
    "low_battery.level": {
        "fr": "Pile faible ({value} %) : capteur « {device} » à {place}",
        "en": "Low battery ({value} %): sensor “{device}” in {place}"},
    "low_battery.event": {
        "fr": "Pile faible signalée par le capteur « {device} » à {place}",
        "en": "Low battery reported by sensor “{device}” in {place}"},
    "device_offline": {
        "fr": "Capteur « {device} » à {place} : aucune donnée depuis {silence}",
        "en": "Sensor “{device}” in {place}: no data for {silence}"},
    "generic": {
        "fr": "{type_label} : « {device} » à {place}{detail}",
        "en": "{type_label}: “{device}” in {place}{detail}"},
}

# Notification subjects: what happened to the alert, then its message.
EVENT_PREFIXES: dict[str, dict[Lang, str]] = {
    "opened": {"fr": "", "en": ""},
    "reopened": {"fr": "Reprise — ", "en": "Again — "},
    "severity_raised": {"fr": "Aggravation — ", "en": "Worsening — "},
    "escalated": {"fr": "Relance niveau {level}, non acquittée — ",
                  "en": "Escalation level {level}, not acknowledged — "},
    "resolved": {"fr": "Fin d'alerte — ", "en": "All clear — "},
}

_FIELD_RE = re.compile(r"{(\w+)}")


def place_name(tenant_name: str) -> str:
    """'Commune de Saint-Flour' -> 'Saint-Flour': the place as a sentence names it."""
    return re.sub(r"^(commune|ville)\s+(de\s+|d['’])", "", tenant_name.strip(),
                  flags=re.IGNORECASE) or tenant_name


def number(value: float, lang: Lang = "fr") -> str:
    """At most one decimal, no trailing zero; a decimal comma in French."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "fr" else text


def duration(seconds: float, lang: Lang = "fr") -> str:
    """'2 h 15 min', '3 j 4 h', '45 min' (English: '3 d 4 h')."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    day = "j" if lang == "fr" else "d"
    if days:
        return f"{days} {day} {hours} h" if hours else f"{days} {day}"
    if hours:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    return f"{max(minutes, 1)} min"


def type_label(alert_type: str, lang: Lang = "fr") -> str:
    return TYPE_LABELS.get(alert_type, {}).get(lang) or alert_type.replace("_", " ").capitalize()


def severity_label(severity: str, lang: Lang = "fr") -> str:
    return SEVERITY_LABELS.get(severity, {}).get(lang, severity)


def render(text_key: str, params: dict[str, Any], lang: Lang = "fr", *,
           alert_type: str = "") -> str:
    """The sentence of `text_key` with `params`; a generic one for an unknown key."""
    template = TEMPLATES.get(text_key, TEMPLATES["generic"])[lang]
    values: dict[str, str] = {
        "device": str(params.get("device", "?")),
        "place": str(params.get("place", "?")),
        "type_label": type_label(alert_type or str(params.get("type", "")), lang),
        "detail": "",
    }
    for name in ("value", "rate"):
        if name in params and isinstance(params[name], int | float):
            values[name] = number(float(params[name]), lang)
    if "level" in params:
        values["level"] = FLOOD_LEVELS.get(str(params["level"]), {}).get(lang, str(params["level"]))
    if "silence_s" in params:
        values["silence"] = duration(float(params["silence_s"]), lang)
    detail = params.get(f"detail_{lang}") or params.get("detail")
    if detail:
        values["detail"] = f" — {detail}"
    return _FIELD_RE.sub(lambda m: values.get(m[1], "?"), template)


def subject(event: str, message: str, lang: Lang = "fr", *, level: int = 0) -> str:
    """A notification's subject: the transition, then the alert's message."""
    prefix = EVENT_PREFIXES.get(event, EVENT_PREFIXES["opened"])[lang].format(level=level)
    return prefix + message
