"""LoRaWAN uplinks: what network servers' JSON shares, and from an uplink to stored values.

The network-server formats (`ingest/formats/tts.py`, `chirpstack.py`) turn a message into
`Uplink`s before the device is known; once the writer has resolved the device, and so its
model, `uplink_values` decodes raw frames with the model's codec and names the values
(contract §1.5, §5).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from devices import models
from devices.catalogue import METRIC_NAME_RE
from devices.codecs import CODECS, CodecError
from ingest.formats._fields import FieldError, _short
from ingest.model import Decoded, Reason, Rejection, Uplink

DEV_EUI_RE = re.compile(r"^[0-9A-Fa-f]{16}$")
HISTORY = "history"      # decoded field holding timestamped records (Milesight's convention)
TIMESTAMP = "timestamp"  # epoch seconds of one history record
# A history record may not be stamped later than the uplink carrying it, give or take clocks.
HISTORY_MAX_AHEAD = timedelta(minutes=10)

Value = tuple[datetime, str, float]


# --- what network-server formats share ---------------------------------------------------
def dev_eui(raw: Any, where: str) -> str | None:
    """A DevEUI in upper case, None when absent; FieldError when it is not 16 hex digits."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not DEV_EUI_RE.match(raw):
        raise FieldError(Reason.INVALID_READING,
                         f"{where} {_short(raw)} is not a DevEUI (16 hexadecimal digits)")
    return raw.upper()


def ns_time(raw: Any, name: str, now: datetime, max_future: timedelta) -> datetime:
    """A network server's RFC 3339 time, not too far in the future.

    Both servers write nanoseconds; Python (3.11+) reads them and keeps the microseconds.
    """
    if not isinstance(raw, str):
        raise FieldError(Reason.INVALID_TS, f"'{name}' must be an RFC 3339 time, got {_short(raw)}")
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        raise FieldError(Reason.INVALID_TS, f"'{name}' {_short(raw)} is not an RFC 3339 time") from None
    if ts.tzinfo is None:
        raise FieldError(Reason.INVALID_TS, f"'{name}' {_short(raw)} has no UTC offset")
    if ts - now > max_future:
        raise FieldError(Reason.FUTURE_TS, f"'{name}' {_short(raw)} is more than "
                         f"{int(max_future.total_seconds() // 60)} minutes in the future")
    return ts


def frame(raw: Any, name: str) -> bytes | None:
    """The bytes of a base64 FRMPayload, None when absent."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise FieldError(Reason.INVALID_READING, f"'{name}' must be base64 text, got {_short(raw)}")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(Reason.INVALID_READING, f"'{name}' {_short(raw)} is not base64") from None


def f_port(raw: Any, name: str) -> int | None:
    """A LoRaWAN FPort (0-255), None when absent."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 255:
        raise FieldError(Reason.INVALID_READING, f"'{name}' must be 0-255, got {_short(raw)}")
    return raw


def radio(ts: datetime, rx: Any) -> Uplink | None:
    """The first gateway's signal (rssi_dbm, snr_db) as an uplink of its own, if given.

    Kept apart from the device's values so that it is stored even when the frame itself
    cannot be decoded: the device was heard, and how well is worth knowing.
    """
    if not isinstance(rx, list) or not rx or not isinstance(rx[0], dict):
        return None
    fields = {metric: rx[0][key] for key, metric in (("rssi", "rssi_dbm"), ("snr", "snr_db"))
              if _is_number(rx[0].get(key))}
    return Uplink(ts=ts, f_port=None, fields=fields, frm_payload=None) if fields else None


def per_device(topic: str, payload: bytes, doc: Any, topic_ids: tuple[str | None, str | None],
               one: Callable[[Any], tuple[str | None, str | None, list[Uplink]]]) -> list[Decoded]:
    """One `Decoded` per device of a message (one uplink object, or a backlog array of them).

    `one` reads an item into (DevEUI, network-server device id, uplinks) or raises FieldError:
    a bad item is rejected with its index, and its neighbours are kept (contract §5).
    `topic_ids` (DevEUI, device id) name the device of the topic, for those rejections.
    """
    items = doc if isinstance(doc, list) else [doc]
    by_device: dict[tuple[str | None, str | None], Decoded] = {}
    problems: list[Rejection] = []
    for index, item in enumerate(items):
        where = f"item {index}: " if isinstance(doc, list) else ""
        try:
            eui, device_id, uplinks = one(item)
        except FieldError as exc:
            problems.append(Rejection(exc.reason, f"{where}{exc}"))
            continue
        if not uplinks:
            continue
        decoded = by_device.get((eui, device_id))
        if decoded is None:
            decoded = by_device[(eui, device_id)] = Decoded(
                topic=topic, payload=payload, dev_eui=eui, ns_device_id=device_id)
        decoded.uplinks.extend(uplinks)
    out = list(by_device.values())
    if problems:
        # Told once: with the message's only device (so under its tenant), else on their own.
        if len(out) != 1:
            out.append(rejected(topic, payload, *topic_ids))
        out[-1].rejections.extend(problems)
    return out


def rejected(topic: str, payload: bytes, eui: str | None, ns_device_id: str | None,
             *problems: Rejection) -> Decoded:
    """A message of a network server that holds nothing to store, with why."""
    return Decoded(topic=topic, payload=payload, dev_eui=eui, ns_device_id=ns_device_id,
                   rejections=list(problems))


# --- from an uplink of a known device to values --------------------------------------------
def uplink_values(uplink: Uplink, model: str | None) -> tuple[list[Value], list[Rejection], int]:
    """The values of an uplink of a device of `model`: (values, rejections, values ignored).

    Raw frames are decoded with the model's codec; without one the uplink is rejected as
    `not_decoded`. Fields are named as the model maps them, nested objects flattened with
    '.', booleans stored as 1/0; texts (and other non-numbers) are ignored and counted.
    """
    spec = models.get(model)
    rejections: list[Rejection] = []
    fields = uplink.fields
    if fields is None:
        if not uplink.frm_payload or uplink.f_port == 0:
            return [], [], 0  # no application data (FPort 0 carries MAC commands)
        fields, problem = _decode_frame(uplink, model, spec)
        if problem is not None:
            rejections.append(problem)
    values: list[Value] = []
    ignored = 0
    for name, raw in _flatten(fields):
        if name == HISTORY and isinstance(raw, list):
            for index, record in enumerate(raw):
                try:
                    ts, record_fields = _history_record(record, uplink.ts)
                except FieldError as exc:
                    rejections.append(Rejection(exc.reason, f"history record {index}: {exc}"))
                    continue
                for field_name, field_raw in _flatten(record_fields):
                    ignored += _add(values, rejections, ts, field_name, field_raw, spec)
            continue
        ignored += _add(values, rejections, uplink.ts, name, raw, spec)
    return values, rejections, ignored


def _decode_frame(uplink: Uplink, model: str | None,
                  spec: models.DeviceModel | None) -> tuple[dict[str, Any], Rejection | None]:
    codec = CODECS.get(spec.codec) if spec and spec.codec else None
    if codec is None:
        known = ", ".join(sorted(m.name for m in models.MODELS.values() if m.codec))
        who = f"its model '{model}' has" if model else "the device has no model, so it has"
        return {}, Rejection(
            Reason.NOT_DECODED,
            f"uplink on FPort {uplink.f_port} came without decoded values and {who} no codec "
            f"in Phare: add a payload formatter on the network server, or register the device "
            f"with a model Phare decodes ({known})",
        )
    assert uplink.frm_payload is not None
    try:
        return codec.decode(uplink.f_port, uplink.frm_payload), None
    except CodecError as exc:
        return exc.partial, Rejection(
            Reason.NOT_DECODED, f"{exc} (frame {uplink.frm_payload.hex()})"
        )


def _history_record(record: Any, uplink_ts: datetime) -> tuple[datetime, dict[str, Any]]:
    if not isinstance(record, dict):
        raise FieldError(Reason.INVALID_READING, f"expected an object, got {_short(record)}")
    seconds = record.get(TIMESTAMP)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise FieldError(Reason.INVALID_TS,
                         f"'{TIMESTAMP}' must be epoch seconds, got {_short(seconds)}")
    try:
        ts = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise FieldError(Reason.INVALID_TS, f"'{TIMESTAMP}' {seconds} is out of range") from None
    if ts - uplink_ts > HISTORY_MAX_AHEAD:
        raise FieldError(Reason.FUTURE_TS, f"'{TIMESTAMP}' {seconds} is later than the uplink "
                         "that carries it")
    return ts, {k: v for k, v in record.items() if k != TIMESTAMP}


def _add(values: list[Value], rejections: list[Rejection], ts: datetime, name: str, raw: Any,
         spec: models.DeviceModel | None) -> int:
    """Appends one field's value; returns 1 when it is ignored (not a number)."""
    if spec is not None:
        if isinstance(raw, str) and name in spec.states:
            raw = spec.states[name].get(raw, raw)
        name = spec.metrics.get(name, name)
    if isinstance(raw, bool):
        value = 1.0 if raw else 0.0
    elif _is_number(raw):
        value = float(raw)
    else:
        return 1
    if not METRIC_NAME_RE.match(name):
        rejections.append(Rejection(Reason.INVALID_METRIC_NAME,
                                    f"metric name {_short(name)} is not valid"))
        return 0
    values.append((ts, name, value))
    return 0


def _flatten(fields: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested objects' fields as 'outer.inner'; the `history` list is kept whole."""
    out: list[tuple[str, Any]] = []
    for key, raw in fields.items():
        name = f"{prefix}{key}"
        if isinstance(raw, dict):
            out.extend(_flatten(raw, f"{name}."))
        else:
            out.append((name, raw))
    return out


def _is_number(raw: Any) -> bool:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return False
    try:
        return math.isfinite(raw)
    except OverflowError:  # an int too large for a float
        return False
