"""The Things Stack v3 uplinks (contract §1.5): `v3/{app}[@{ns tenant}]/devices/{dev}/up`.

Values come from `uplink_message.decoded_payload` (the network server's payload formatter),
or, without one, from the raw `frm_payload` that the device model's codec decodes once the
device is known. Time is the top-level `received_at`; an older message without it falls
back to `uplink_message.received_at`, then to the time Phare received it. A JSON array of
uplinks (a backlog) is accepted; each device's uplinks make one `Decoded`.
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
    r"^v3/(?P<app>[^/@+#]+)(?:@(?P<ns_tenant>[^/+#]+))?/devices/(?P<ns_device>[^/+#]+)/up$"
)


def decode(match: re.Match[str], payload: bytes, now: datetime,
           max_future: timedelta = MAX_FUTURE) -> list[Decoded]:
    """Decodes an uplink message, or a backlog array of them."""
    topic_device = match["ns_device"]
    try:
        doc = loads(payload)
    except FieldError as exc:
        return [lorawan.rejected(match.string, payload, None, topic_device,
                                 Rejection(exc.reason, str(exc)))]
    return lorawan.per_device(
        match.string, payload, doc, (None, topic_device),
        lambda item: _uplink(item, topic_device, now, max_future),
    )


def _uplink(item: Any, topic_device: str, now: datetime,
            max_future: timedelta) -> tuple[str | None, str | None, list[Uplink]]:
    if not isinstance(item, dict):
        raise FieldError(Reason.INVALID_READING, f"expected a JSON object, got {_short(item)}")
    ids = item.get("end_device_ids")
    if not isinstance(ids, dict):
        raise FieldError(Reason.INVALID_READING, "'end_device_ids' is missing")
    eui = lorawan.dev_eui(ids.get("dev_eui"), "'end_device_ids.dev_eui'")
    device_id = ids.get("device_id") if isinstance(ids.get("device_id"), str) else topic_device
    message = item.get("uplink_message")
    if not isinstance(message, dict):
        raise FieldError(Reason.INVALID_READING,
                         "'uplink_message' is missing: not an uplink of The Things Stack v3")
    if item.get("received_at") is not None:
        ts = lorawan.ns_time(item["received_at"], "received_at", now, max_future)
    elif message.get("received_at") is not None:
        ts = lorawan.ns_time(message["received_at"], "uplink_message.received_at", now,
                             max_future)
    else:
        ts = now
    fields = message.get("decoded_payload")
    uplink = Uplink(
        ts=ts,
        f_port=lorawan.f_port(message.get("f_port"), "uplink_message.f_port"),
        # An empty object is a formatter that decoded nothing: as if there were none.
        fields=fields if isinstance(fields, dict) and fields else None,
        frm_payload=lorawan.frame(message.get("frm_payload"), "uplink_message.frm_payload"),
    )
    signal = lorawan.radio(ts, message.get("rx_metadata"))
    return eui, device_id, [uplink] + ([signal] if signal else [])


FORMAT = Format(
    name="tts",
    subscriptions=("v3/+/devices/+/up",),
    topic_re=TOPIC_RE,
    decode=decode,
)
