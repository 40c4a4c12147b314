"""NGSI-LD entities in normalized format, after the FIWARE Smart Data Models.

- a lighting cabinet is a `StreetlightControlCabinet` (dataModel.Streetlighting);
- any other device is a `Device` (dataModel.Device);
- a device's latest value of a metric is a `DeviceMeasurement` (dataModel.Device);
- an alert is an `Alert` (dataModel.Alert).

Entity ids are `urn:ngsi-ld:<Type>:<tenant>:<device>` (measurements add `:<metric>`, alerts
are `:<tenant>:alert-<id>`). Every attribute is a Property (`value`), a GeoProperty (`location`)
or a Relationship (`object`); measured properties carry `observedAt`. `key_values` gives the
simplified form (`options=keyValues`), the one the Smart Data Models JSON schemas describe:
tests/api/test_exports.py validates both against the schemas vendored in
tests/fixtures/smart-data-models/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from alerts.model import iso
from devices.catalogue import COMMON_METRICS, KINDS

MEDIA_TYPE = "application/ld+json"
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
SDM_CONTEXT = "https://raw.githubusercontent.com/smart-data-models/data-models/master/context.jsonld"
CONTEXT = [SDM_CONTEXT, CORE_CONTEXT]

CABINET = "StreetlightControlCabinet"
DEVICE = "Device"
MEASUREMENT = "DeviceMeasurement"
ALERT = "Alert"
TYPES = (CABINET, DEVICE, MEASUREMENT, ALERT)

CABINET_KIND = "lighting_cabinet"

# UN/CEFACT common codes of our units, as Smart Data Models' `unit` expects.
_CEFACT = {"W": "WTT", "kWh": "KWH", "V": "VLT", "A": "AMP", "°C": "CEL", "%": "P1",
           "m³": "MTQ", "m³/h": "MQH", "bar": "BAR", "lx": "LUX", "dB": "2N", "dBm": "2Q",
           "ppm": "59", "cm": "CMT", "mm": "MMT"}
# Our severities in the Alert model's enumeration.
_WORKING_MODES = ("automatic", "manual", "semiautomatic")
_SEVERITY = {"info": "informational", "low": "low", "medium": "medium", "high": "high",
             "critical": "critical"}
# The Alert model's `category` of our alert types.
_CATEGORY = {"flood": "naturalDisaster", "fire": "security", "water_leak": "environment",
             "energy_anomaly": "environment", "cabinet_fault": "security",
             "device_offline": "security", "low_battery": "security"}
# The Alert model's `subCategory` is an enumeration: only the types it names have one. Every
# alert also carries its Phare type in `data.alertType`.
_SUBCATEGORY = {"flood": "flood", "fire": "buildingFire"}
# The Device model's vocabularies (device-schema.json: CategoryType, ControlledPropertyType).
_METERS = frozenset({"water_flow_meter", "building_meter"})
_CONTROLLED = {"temperature_c": "temperature", "humidity_pct": "humidity",
               "illuminance_lux": "light", "ambient_lux": "light", "occupancy": "occupancy",
               "power_w": "power", "pressure_bar": "pressure", "smoke_alarm": "smoke",
               "energy_kwh": "energy", "pv_kwh": "energy", "co2_ppm": "airPollution",
               "noise_min_db": "noiseLevel", "noise_spread_db": "noiseLevel",
               "noise_level_db": "noiseLevel", "water_level_cm": "depth",
               "electricity_kwh": "electricityConsumption",
               "gas_kwh": "gasComsumption",  # sic: the model's spelling
               "water_m3": "waterConsumption", "volume_m3": "waterConsumption",
               "flow_m3h": "waterConsumption"}
# What a StreetlightGroup id may hold of a circuit's name (the entity id pattern's characters).
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

Reading = tuple[datetime, float]


def urn(entity_type: str, tenant: str, *parts: str) -> str:
    return ":".join(("urn:ngsi-ld", entity_type, tenant, *parts))


def prop(value: Any, observed_at: datetime | None = None, unit: str | None = None) -> dict[str, Any]:
    attribute: dict[str, Any] = {"type": "Property", "value": value}
    if observed_at is not None:
        attribute["observedAt"] = iso(observed_at)
    if unit is not None:
        attribute["unitCode"] = unit
    return attribute


def date_prop(instant: datetime) -> dict[str, Any]:
    """A DateTime property, typed as NGSI-LD wants it."""
    return prop({"@type": "DateTime", "@value": iso(instant)})


def relationship(target: str | list[str]) -> dict[str, Any]:
    """A Relationship to one entity, or to several (an array of ids, as Smart Data Models'
    `ref…` arrays are written in NGSI-LD)."""
    return {"type": "Relationship", "object": target}


def geo(lat: float | None, lon: float | None) -> dict[str, Any] | None:
    if lat is None or lon is None:
        return None
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def _entity(entity_id: str, entity_type: str, lat: float | None, lon: float | None,
            attributes: Mapping[str, dict[str, Any] | None]) -> dict[str, Any]:
    entity: dict[str, Any] = {"id": entity_id, "type": entity_type}
    location = geo(lat, lon)
    if location is not None:
        entity["location"] = location
    entity.update({k: v for k, v in attributes.items() if v is not None})
    entity["@context"] = CONTEXT
    return entity


def _measured(latest: Mapping[str, Reading], metric: str, scale: float = 1.0,
              unit: str | None = None) -> dict[str, Any] | None:
    if metric not in latest:
        return None
    ts, value = latest[metric]
    return prop(value * scale, ts, unit)


def controlled_properties(kind: str, latest: Mapping[str, Reading]) -> list[str]:
    """What a device measures, in the Device model's words: from its kind's metrics (and those
    it reported); a device of no known kind whose metrics have no such word keeps their names."""
    metrics = {m.name for m in KINDS[kind].metrics} if kind in KINDS else set()
    metrics |= set(latest) - {m.name for m in COMMON_METRICS}
    words = {_CONTROLLED[m] for m in metrics if m in _CONTROLLED}
    return sorted(words) if words else sorted(metrics)


def streetlight_groups(device: Mapping[str, Any]) -> list[str]:
    """The ids of the groups of streetlights a cabinet feeds: one per circuit of its metadata,
    or one for the whole cabinet."""
    metadata = device.get("metadata") or {}
    circuits = metadata.get("circuits")
    names = []
    if not isinstance(circuits, list):
        circuits = []
    for index, circuit in enumerate(circuits, start=1):
        name = circuit.get("name") if isinstance(circuit, Mapping) else None
        safe = _UNSAFE.sub("-", str(name))[:32] if name else ""
        names.append(safe or f"circuit-{index}")
    base = (device["tenant"], device["id"])
    groups = [urn("StreetlightGroup", *base, name) for name in dict.fromkeys(names)]
    return groups or [urn("StreetlightGroup", *base)]


def device_entity(device: Mapping[str, Any], latest: Mapping[str, Reading]) -> dict[str, Any]:
    """A cabinet as a StreetlightControlCabinet, any other device as a Device."""
    tenant, lat, lon = device["tenant"], device["lat"], device["lon"]
    metadata = device.get("metadata") or {}
    common = {
        "name": prop(device["name"]),
        "modelName": prop(device["model"]) if device.get("model") else None,
        "brandName": prop(metadata["brand"]) if isinstance(metadata.get("brand"), str) else None,
    }
    if device["kind"] == CABINET_KIND:
        return _entity(urn(CABINET, tenant, device["id"]), CABINET, lat, lon, {
            **common,
            "refStreetlightGroup": relationship(streetlight_groups(device)),
            # Phare drives cabinets by schedules from the astronomical clock (analytics/lighting).
            "workingMode": prop(metadata["working_mode"]
                                if metadata.get("working_mode") in _WORKING_MODES
                                else "automatic"),
            # The energy index (kWh) is both the meter reading and the energy consumed so far.
            "energyConsumed": _measured(latest, "energy_kwh", unit="KWH"),
            "lastMeterReading": _measured(latest, "energy_kwh", unit="KWH"),
            "totalActivePower": _measured(latest, "power_w", 0.001, "KWT"),
            "intensityR": _measured(latest, "current_l1_a", unit="AMP"),
            "intensityS": _measured(latest, "current_l2_a", unit="AMP"),
            "intensityT": _measured(latest, "current_l3_a", unit="AMP"),
            "dateLastReading": (date_prop(max(ts for ts, _ in latest.values()))
                                if latest else None),
        })
    battery = latest.get("battery_pct")
    return _entity(urn(DEVICE, tenant, device["id"]), DEVICE, lat, lon, {
        **common,
        "category": prop(["meter" if device["kind"] in _METERS else "sensor"]),
        "controlledProperty": prop(controlled_properties(device["kind"], latest)),
        "serialNumber": prop(device["dev_eui"]) if device.get("dev_eui") else None,
        "firmwareVersion": prop(device["firmware"]) if device.get("firmware") else None,
        "deviceState": (prop("on" if device["online"] else "off")
                        if device.get("online") is not None else None),
        # Device.batteryLevel is a fraction 0..1.
        "batteryLevel": prop(battery[1] / 100, battery[0]) if battery else None,
        "dateLastValueReported": (date_prop(device["last_seen"])
                                  if device.get("last_seen") else None),
    })


def device_ref(kind: str, tenant: str, device_id: str) -> str:
    """The id of a device's entity."""
    return urn(CABINET if kind == CABINET_KIND else DEVICE, tenant, device_id)


def measurement_entity(device: Mapping[str, Any], metric: str, reading: Reading,
                       unit: str | None) -> dict[str, Any]:
    """The latest value of one metric of a device."""
    ts, value = reading
    return _entity(urn(MEASUREMENT, device["tenant"], device["id"], metric), MEASUREMENT,
                   device["lat"], device["lon"], {
                       "refDevice": relationship(device_ref(device["kind"], device["tenant"],
                                                                        device["id"])),
                       "controlledProperty": prop(metric),
                       "numValue": prop(value, ts),
                       "unit": prop(_CEFACT[unit]) if unit in _CEFACT else None,
                       "dateObserved": date_prop(ts),
                   })


def alert_entity(alert: Mapping[str, Any]) -> dict[str, Any]:
    """An alert, located at its device."""
    return _entity(urn(ALERT, alert["tenant"], f"alert-{alert['id']}"), ALERT,
                   alert["lat"], alert["lon"], {
                       "category": prop(_CATEGORY.get(alert["type"], "environment")),
                       "subCategory": (prop(_SUBCATEGORY[alert["type"]])
                                       if alert["type"] in _SUBCATEGORY else None),
                       "severity": prop(_SEVERITY[alert["severity"]]),
                       "description": prop(alert["message"]),
                       "dateIssued": date_prop(alert["opened_at"]),
                       "validFrom": date_prop(alert["opened_at"]),
                       "validTo": (date_prop(alert["resolved_at"])
                                   if alert["resolved_at"] else None),
                       "alertSource": relationship(device_ref(alert["kind"], alert["tenant"],
                                                               alert["device_id"])),
                       "status": prop(alert["status"]),
                       "data": prop({"alertType": alert["type"], "status": alert["status"],
                                     "deviceId": alert["device_id"]}),
                   })


def key_values(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The simplified (keyValues) form of a normalized entity: each attribute's value (a
    DateTime's text, a Relationship's object), metadata such as `observedAt` dropped."""
    simple: dict[str, Any] = {}
    for name, attribute in entity.items():
        if name in ("id", "type", "@context") or not isinstance(attribute, Mapping):
            simple[name] = attribute
        elif attribute.get("type") == "Relationship":
            simple[name] = attribute["object"]
        else:
            value = attribute.get("value")
            if isinstance(value, Mapping) and value.get("@type") == "DateTime":
                value = value["@value"]
            simple[name] = value
    return simple
