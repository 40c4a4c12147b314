"""ChirpStack v4 events (contract §1.5): `application/{app_id}/device/{dev_eui}/event/{event}`.

`up`: values from `object` (the device profile's codec), or, without one, from the raw
`data` (base64) and `fPort` that the device model's codec decodes once the device is known;
time from `time`. `status` (the device's answer to DevStatusReq): `batteryLevel` becomes
`battery_pct`, unless the device reports it cannot measure it or runs on external power;
the link `margin` is not stored. Every other event (join, ack, txack, log, location,
integration) is none of ingest's business. The MQTT integration must use its JSON
marshaler (the default); protobuf payloads are rejected as invalid JSON.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from ingest import lorawan
from ingest.formats._fields import MAX_FUTURE, FieldError, _short, loads
from ingest.formats.base import Format
from ingest.model import Decoded, Reason, Rejection, Uplink

TOPIC_RE = re.compile(
    r"^application/(?P<app>[^/+#]+)/device/(?P<dev_eui>[^/+#]+)/event/(?P<event>[^/+#]+)$"
)
_EVENTS = ("up", "status")


def decode(match: re.Match[str], payload: bytes, now: datetime,
           max_future: timedelta = MAX_FUTURE) -> list[Decoded]:
    """Decodes an `up` or `status` event (or a backlog array of them); [] for other events."""
    event = match["event"]
    if event not in _EVENTS:
        return []
    topic_eui: str | None = None
    try:
        topic_eui = lorawan.dev_eui(match["dev_eui"], "the topic's DevEUI")
        doc = loads(payload)
    except FieldError as exc:
        hint = " (is ChirpStack's MQTT integration set to JSON?)" \
            if exc.reason is Reason.INVALID_JSON else ""
        return [lorawan.rejected(match.string, payload, topic_eui, None,
                                 Rejection(exc.reason, f"{exc}{hint}"))]
    one = _up if event == "up" else _status
    return lorawan.per_device(match.string, payload, doc, (topic_eui, None),
                              lambda item: one(item, topic_eui, now, max_future))


def _device(item: Any, topic_eui: str | None) -> tuple[str | None, str | None, dict[str, Any]]:
    if not isinstance(item, dict):
        raise FieldError(Reason.INVALID_READING, f"expected a JSON object, got {_short(item)}")
    info = item.get("deviceInfo")
    info = info if isinstance(info, dict) else {}
    eui = lorawan.dev_eui(info.get("devEui"), "'deviceInfo.devEui'") or topic_eui
    name = info.get("deviceName") if isinstance(info.get("deviceName"), str) else None
    return eui, name, item


def _time(item: dict[str, Any], now: datetime, max_future: timedelta) -> datetime:
    if item.get("time") is None:
        return now  # ChirpStack always sets it; an event replayed by hand may not
    return lorawan.ns_time(item["time"], "time", now, max_future)


def _up(item: Any, topic_eui: str | None, now: datetime,
        max_future: timedelta) -> tuple[str | None, str | None, list[Uplink]]:
    eui, name, event = _device(item, topic_eui)
    ts = _time(event, now, max_future)
    fields = event.get("object")
    uplink = Uplink(
        ts=ts,
        f_port=lorawan.f_port(event.get("fPort"), "fPort"),
        fields=fields if isinstance(fields, dict) and fields else None,
        frm_payload=lorawan.frame(event.get("data"), "data"),
    )
    signal = lorawan.radio(ts, event.get("rxInfo"))
    return eui, name, [uplink] + ([signal] if signal else [])


def _status(item: Any, topic_eui: str | None, now: datetime,
            max_future: timedelta) -> tuple[str | None, str | None, list[Uplink]]:
    eui, name, event = _device(item, topic_eui)
    battery = event.get("batteryLevel")
    if (event.get("batteryLevelUnavailable") or event.get("externalPowerSource")
            or battery is None):
        return eui, name, []
    if isinstance(battery, bool) or not isinstance(battery, int | float):
        raise FieldError(Reason.INVALID_VALUE,
                         f"'batteryLevel' must be a number, got {_short(battery)}")
    ts = _time(event, now, max_future)
    return eui, name, [Uplink(ts=ts, f_port=None, fields={"battery_pct": battery},
                              frm_payload=None)]


FORMAT = Format(
    name="chirpstack",
    subscriptions=("application/+/device/+/event/+",),
    topic_re=TOPIC_RE,
    decode=decode,
)
