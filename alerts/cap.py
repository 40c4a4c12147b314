"""CAP 1.2 (OASIS Common Alerting Protocol): fire and flood alerts as CAP messages, and a
reader for any CAP 1.2 message (`parse_cap(xml) -> CapAlert`, `to_xml(CapAlert) -> bytes`).

A fire or flood alert issues one CAP message per transition that matters to the public:

    opened, reopened                 msgType Alert   (a reopened alert starts a new series)
    severity_raised, escalated       msgType Update  <references> the series' Alert message
    resolved                         msgType Cancel  <references> the series' Alert message

`<references>` holds `sender,identifier,sent` of the series' first (Alert) message. Each
message has two <info> blocks, French (`fr-FR`, first) and English (`en-GB`).

Mapping (Phare -> CAP):

    category      fire -> Fire; flood -> Met (CAP: "Meteorological (inc. flood)")
    severity      critical -> Extreme, high -> Severe, medium -> Moderate, low|info -> Minor
    urgency       fire -> Immediate; flood critical|high -> Immediate, medium -> Expected;
                  Cancel -> Past (the event is over)
    certainty     flood -> Observed (a measured level or a water probe); fire -> Likely (a
                  detector in alarm: an unconfirmed fire, false alarms exist)
    responseType  fire -> Evacuate; flood critical -> Evacuate, high -> Prepare,
                  medium -> Monitor; Cancel -> AllClear
    status        Actual; scope Public; incidents: phare-{tenant}-{alert id}
    area          the device's zone polygon from its metadata `cap_polygon` ([[lat, lon], …],
                  closed if needed), else a <circle> "lat,lon radius_km" around the device
                  (metadata `cap_radius_km`; default 0.5 km for fire, 2 km for flood)
    sent          Europe/Paris time with its offset, to the second (the schema forbids `Z`)

Reading: the standard library's expat parser, which refuses external entities and limits
entity expansion; <resource> and <signature> elements are not kept.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from alerts import texts
from alerts.errors import CapError
from alerts.model import Alert, Device, Severity, TransitionKind
from phare.settings import Settings

NS = "urn:oasis:names:tc:emergency:cap:1.2"
_Q = "{" + NS + "}"
LOCAL_TZ = ZoneInfo("Europe/Paris")

CAP_TYPES = frozenset({"fire", "flood"})
CAP_EVENTS = frozenset({TransitionKind.OPENED, TransitionKind.REOPENED,
                        TransitionKind.SEVERITY_RAISED, TransitionKind.ESCALATED,
                        TransitionKind.RESOLVED})


# --- the CAP 1.2 document -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NamedValue:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class CapArea:
    area_desc: str
    polygons: tuple[str, ...] = ()
    circles: tuple[str, ...] = ()
    geocodes: tuple[NamedValue, ...] = ()
    altitude: str | None = None
    ceiling: str | None = None


@dataclass(frozen=True, slots=True)
class CapInfo:
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    language: str = "en-US"
    response_types: tuple[str, ...] = ()
    audience: str | None = None
    event_codes: tuple[NamedValue, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[NamedValue, ...] = ()
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True, slots=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: str | None = None
    incidents: str | None = None
    infos: tuple[CapInfo, ...] = field(default_factory=tuple)


def cap_time(instant: datetime) -> str:
    """A CAP dateTime: to the second, with a numeric offset (never `Z`)."""
    if instant.tzinfo is None:
        raise ValueError("CAP times need a time zone")
    return instant.replace(microsecond=0).isoformat()


def to_xml(alert: CapAlert) -> bytes:
    """The message as a UTF-8 CAP 1.2 document, elements in the schema's order."""
    root = ET.Element(_Q + "alert")
    _text(root, "identifier", alert.identifier)
    _text(root, "sender", alert.sender)
    _text(root, "sent", cap_time(alert.sent))
    _text(root, "status", alert.status)
    _text(root, "msgType", alert.msg_type)
    _text(root, "source", alert.source)
    _text(root, "scope", alert.scope)
    _text(root, "restriction", alert.restriction)
    _text(root, "addresses", alert.addresses)
    for code in alert.codes:
        _text(root, "code", code)
    _text(root, "note", alert.note)
    _text(root, "references", alert.references)
    _text(root, "incidents", alert.incidents)
    for info in alert.infos:
        _info(ET.SubElement(root, _Q + "info"), info)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=NS)


def _info(el: ET.Element, info: CapInfo) -> None:
    _text(el, "language", info.language)
    for category in info.categories:
        _text(el, "category", category)
    _text(el, "event", info.event)
    for response in info.response_types:
        _text(el, "responseType", response)
    _text(el, "urgency", info.urgency)
    _text(el, "severity", info.severity)
    _text(el, "certainty", info.certainty)
    _text(el, "audience", info.audience)
    _named(el, "eventCode", info.event_codes)
    for name in ("effective", "onset", "expires"):
        value = getattr(info, name)
        _text(el, name, cap_time(value) if value is not None else None)
    for tag, value in (("senderName", info.sender_name), ("headline", info.headline),
                       ("description", info.description), ("instruction", info.instruction),
                       ("web", info.web), ("contact", info.contact)):
        _text(el, tag, value)
    _named(el, "parameter", info.parameters)
    for area in info.areas:
        a = ET.SubElement(el, _Q + "area")
        _text(a, "areaDesc", area.area_desc)
        for polygon in area.polygons:
            _text(a, "polygon", polygon)
        for circle in area.circles:
            _text(a, "circle", circle)
        _named(a, "geocode", area.geocodes)
        _text(a, "altitude", area.altitude)
        _text(a, "ceiling", area.ceiling)


def _text(parent: ET.Element, tag: str, value: str | None) -> None:
    if value is not None:
        ET.SubElement(parent, _Q + tag).text = value


def _named(parent: ET.Element, tag: str, values: tuple[NamedValue, ...]) -> None:
    for nv in values:
        el = ET.SubElement(parent, _Q + tag)
        _text(el, "valueName", nv.name)
        _text(el, "value", nv.value)


def parse_cap(xml: bytes | str) -> CapAlert:
    """Reads a CAP 1.2 message; raises CapError if it is not one or lacks a required element."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise CapError(f"not well-formed XML: {exc}") from exc
    if root.tag != _Q + "alert":
        raise CapError(f"not a CAP 1.2 alert: root element is {root.tag!r}")
    try:
        return CapAlert(
            identifier=_req(root, "identifier"), sender=_req(root, "sender"),
            sent=_time(_req(root, "sent")), status=_req(root, "status"),
            msg_type=_req(root, "msgType"), source=_opt(root, "source"),
            scope=_req(root, "scope"), restriction=_opt(root, "restriction"),
            addresses=_opt(root, "addresses"), codes=_all(root, "code"), note=_opt(root, "note"),
            references=_opt(root, "references"), incidents=_opt(root, "incidents"),
            infos=tuple(_parse_info(i) for i in root.findall(_Q + "info")),
        )
    except ValueError as exc:
        raise CapError(f"invalid CAP message: {exc}") from exc


def _parse_info(el: ET.Element) -> CapInfo:
    categories = _all(el, "category")
    if not categories:
        raise CapError("an <info> without <category>")
    return CapInfo(
        language=_opt(el, "language") or "en-US", categories=categories,
        event=_req(el, "event"), response_types=_all(el, "responseType"),
        urgency=_req(el, "urgency"), severity=_req(el, "severity"),
        certainty=_req(el, "certainty"), audience=_opt(el, "audience"),
        event_codes=_named_values(el, "eventCode"),
        effective=_opt_time(el, "effective"), onset=_opt_time(el, "onset"),
        expires=_opt_time(el, "expires"), sender_name=_opt(el, "senderName"),
        headline=_opt(el, "headline"), description=_opt(el, "description"),
        instruction=_opt(el, "instruction"), web=_opt(el, "web"), contact=_opt(el, "contact"),
        parameters=_named_values(el, "parameter"),
        areas=tuple(CapArea(area_desc=_req(a, "areaDesc"), polygons=_all(a, "polygon"),
                            circles=_all(a, "circle"), geocodes=_named_values(a, "geocode"),
                            altitude=_opt(a, "altitude"), ceiling=_opt(a, "ceiling"))
                    for a in el.findall(_Q + "area")),
    )


def _opt(el: ET.Element, tag: str) -> str | None:
    child = el.find(_Q + tag)
    return None if child is None else (child.text or "")


def _req(el: ET.Element, tag: str) -> str:
    value = _opt(el, tag)
    if value is None:
        raise CapError(f"<{el.tag.removeprefix(_Q)}> lacks its required <{tag}>")
    return value


def _all(el: ET.Element, tag: str) -> tuple[str, ...]:
    return tuple(c.text or "" for c in el.findall(_Q + tag))


def _named_values(el: ET.Element, tag: str) -> tuple[NamedValue, ...]:
    return tuple(NamedValue(_req(c, "valueName"), _req(c, "value"))
                 for c in el.findall(_Q + tag))


def _time(text: str) -> datetime:
    instant = datetime.fromisoformat(text.strip())
    if instant.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset")
    return instant


def _opt_time(el: ET.Element, tag: str) -> datetime | None:
    text = _opt(el, tag)
    return None if text is None else _time(text)


# --- Phare alerts as CAP messages -------------------------------------------------------
_CATEGORY = {"fire": "Fire", "flood": "Met"}
_SEVERITY = {Severity.CRITICAL: "Extreme", Severity.HIGH: "Severe", Severity.MEDIUM: "Moderate",
             Severity.LOW: "Minor", Severity.INFO: "Minor"}
_EVENT = {"fire": {"fr": "Incendie", "en": "Fire"}, "flood": {"fr": "Inondation", "en": "Flood"}}
_INSTRUCTIONS: dict[tuple[str, str], dict[texts.Lang, str]] = {
    ("fire", "any"): {
        "fr": "Évacuez le bâtiment par les issues de secours et appelez le 18 ou le 112.",
        "en": "Leave the building by the emergency exits and call 112."},
    ("flood", "Evacuate"): {
        "fr": "Quittez les zones basses et les bords du cours d'eau, ne vous engagez pas sur "
              "une route inondée, suivez les consignes des autorités.",
        "en": "Leave low-lying areas and river banks, do not drive on flooded roads, follow "
              "the authorities' instructions."},
    ("flood", "Prepare"): {
        "fr": "Mettez à l'abri vos biens en hauteur, évitez les abords du cours d'eau et "
              "tenez-vous informé.",
        "en": "Move belongings to higher ground, keep away from the river and stay informed."},
    ("flood", "Monitor"): {
        "fr": "Niveau d'eau en hausse : soyez vigilant aux abords du cours d'eau.",
        "en": "Water level rising: be careful near the river."},
    ("any", "AllClear"): {"fr": "Fin de l'alerte.", "en": "The alert is over."},
}
_LANG_TAGS: dict[texts.Lang, str] = {"fr": "fr-FR", "en": "en-GB"}
DEFAULT_RADIUS_KM = {"fire": 0.5, "flood": 2.0}


def msg_type_for(kind: TransitionKind) -> str:
    if kind in (TransitionKind.OPENED, TransitionKind.REOPENED):
        return "Alert"
    return "Cancel" if kind is TransitionKind.RESOLVED else "Update"


def area_for(alert: Alert, device: Device, lang: texts.Lang) -> CapArea:
    """The device's zone polygon from its metadata, else a circle around it."""
    desc = (f"Capteur « {device.name} », {texts.place_name(device.tenant_name)}" if lang == "fr"
            else f"Sensor “{device.name}”, {texts.place_name(device.tenant_name)}")
    polygon = _polygon(device.metadata.get("cap_polygon"))
    if polygon:
        return CapArea(desc, polygons=(polygon,))
    if device.lat is None or device.lon is None:
        return CapArea(desc)
    radius = device.metadata.get("cap_radius_km", DEFAULT_RADIUS_KM.get(alert.type, 1.0))
    if not isinstance(radius, int | float) or isinstance(radius, bool) or radius < 0:
        radius = DEFAULT_RADIUS_KM.get(alert.type, 1.0)
    return CapArea(desc, circles=(f"{device.lat:.5f},{device.lon:.5f} {radius:g}",))


def _polygon(points: Any) -> str | None:
    """'lat,lon lat,lon …' of a closed ring of at least 4 points, or None if unusable."""
    if not isinstance(points, list) or len(points) < 3:
        return None
    pairs = []
    for p in points:
        if (not isinstance(p, list | tuple) or len(p) != 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
                or not (-90 <= p[0] <= 90 and -180 <= p[1] <= 180)):
            return None
        pairs.append((float(p[0]), float(p[1])))
    if pairs[0] != pairs[-1]:
        pairs.append(pairs[0])
    if len(pairs) < 4:
        return None
    return " ".join(f"{lat:.5f},{lon:.5f}" for lat, lon in pairs)


def build(alert: Alert, device: Device, kind: TransitionKind, *, identifier: str,
          sent: datetime, sender: str, references: str | None) -> CapAlert:
    """The CAP message of a transition of a fire or flood alert (see the module docstring)."""
    msg_type = msg_type_for(kind)
    cancel = msg_type == "Cancel"
    severity = alert.severity
    if alert.type == "fire":
        urgency, certainty, response = "Immediate", "Likely", "Evacuate"
    else:
        urgency = "Immediate" if severity.rank >= Severity.HIGH.rank else "Expected"
        certainty = "Observed"
        response = {Severity.CRITICAL: "Evacuate", Severity.HIGH: "Prepare"}.get(severity, "Monitor")
    if cancel:
        urgency, response = "Past", "AllClear"
    infos = []
    for lang in texts.LANGS:
        message = alert.message if lang == "fr" else texts.render(
            alert.text_key, alert.params, lang, alert_type=alert.type)
        event = {"Alert": "opened", "Update": "severity_raised", "Cancel": "resolved"}[msg_type]
        headline = texts.subject(event, message, lang)
        instruction = _INSTRUCTIONS.get(("any", response)) or _INSTRUCTIONS.get(
            (alert.type, "any")) or _INSTRUCTIONS[(alert.type, response)]
        parameters = [NamedValue("PhareAlertId", str(alert.id)),
                      NamedValue("PhareDevice", f"{alert.tenant}/{alert.device_id}"),
                      NamedValue("PhareSeverity", severity.value),
                      NamedValue("PhareOccurrences", str(alert.occurrences))]
        if isinstance(alert.params.get("value"), int | float) and alert.type == "flood":
            parameters.append(NamedValue("WaterLevelCm", f"{alert.params['value']:g}"))
        infos.append(CapInfo(
            language=_LANG_TAGS[lang], categories=(_CATEGORY[alert.type],),
            event=_EVENT[alert.type][lang], response_types=(response,), urgency=urgency,
            severity=_SEVERITY[severity], certainty=certainty,
            onset=alert.reopened_at or alert.opened_at,
            sender_name=device.tenant_name, headline=headline[:160], description=message,
            instruction=instruction[lang], parameters=tuple(parameters),
            areas=(area_for(alert, device, lang),),
        ))
    return CapAlert(identifier=identifier, sender=sender, sent=sent, status="Actual",
                    msg_type=msg_type, scope="Public", references=references,
                    incidents=f"phare-{alert.tenant}-{alert.id}", infos=tuple(infos))


def issue(conn: psycopg.Connection, alert: Alert, kind: TransitionKind, now: datetime,
          settings: Settings, *, device: Device) -> CapAlert | None:
    """Builds and stores the CAP message of a transition (in the caller's transaction)."""
    msg_type = msg_type_for(kind)
    root = conn.execute(
        "select identifier, sent from cap_messages where alert_id = %s and msg_type = 'Alert' "
        "order by id desc limit 1", (alert.id,)).fetchone()
    if msg_type != "Alert" and root is None:
        if msg_type == "Cancel":
            return None  # nothing was announced, nothing to cancel
        msg_type, kind = "Alert", TransitionKind.OPENED
    row = conn.execute("select count(*) from cap_messages where alert_id = %s",
                       (alert.id,)).fetchone()
    number = int(row[0]) + 1 if row else 1
    sender = settings.cap_sender
    references = None
    if msg_type != "Alert" and root is not None:
        references = f"{sender},{root[0]},{cap_time(root[1].astimezone(LOCAL_TZ))}"
    sent = now.astimezone(LOCAL_TZ).replace(microsecond=0)
    message = build(alert, device, kind, identifier=f"phare-{alert.tenant}-{alert.id}-{number}",
                    sent=sent, sender=sender, references=references)
    conn.execute(
        "insert into cap_messages (tenant_id, alert_id, identifier, msg_type, sent, xml) "
        "values (%s, %s, %s, %s, %s, %s)",
        (alert.tenant_id, alert.id, message.identifier, message.msg_type, sent,
         to_xml(message).decode()),
    )
    return message
