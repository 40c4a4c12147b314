"""SenML JSON packs (RFC 8428) on a device's native topic `phare/v1/{tenant}/{device}/senml`.

A pack is resolved as RFC 8428 §4.6 says (`resolve`): base name, time, unit, value and sum
applied, times below 2**28 taken relative to the time Phare received the pack, records in
chronological order. Each resolved record then becomes a metric of the topic's device:

- Its name is the record's name relative to the device, i.e. without the base name in
  effect (or, for a name with no base, without a leading `urn:dev:{type}:{id}` device
  URN), with characters metric names do not allow (`:`, `/`) replaced by `_`.
- The SenML unit gives the metric its unit suffix, the way catalogue names carry theirs
  (`voltage` in `V` -> `voltage_v`); a record named by its unit alone, or by a common
  name of that quantity, gets the catalogue's name (`%RH` -> `humidity_pct`,
  `temp` in `Cel` -> `temperature_c`). See `UNITS`. A unit not in the table is appended
  as it is written (`m/s` -> `_m_s`); no value is converted.
- `v` is stored as a number, `vb` as 1/0. `vs` (text) and `vd` (binary data) are not
  numbers: each such record is rejected with the reason `invalid_value`, like a text
  metric in a native reading (contract §1.2), so the operator sees what was not stored.
- A sum (`s`, plus `bs`) is stored as `{metric}_sum`; `ut` (update time) is not stored.

Per RFC 8428 §4.4 a pack with a field ending in `_` (must-understand), or a version
(`bver`) above 10, is rejected whole. Any other bad record is rejected alone. A record
of base fields only (a header some devices send) sets the bases and holds no value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from devices.catalogue import METRIC_NAME_RE
from ingest.formats._fields import MAX_FUTURE, FieldError, _short, loads
from ingest.model import Decoded, Reason, Rejection

VERSION = 10              # the SenML version RFC 8428 defines, and the newest Phare reads
RELATIVE_LIMIT = 2**28    # resolved times below this are seconds relative to "now"
SENML_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-:./_]*$")
DEVICE_URN_RE = re.compile(r"^urn:dev:[A-Za-z0-9]+:[^:/]+[:/]?")
_VALUE_FIELDS = ("v", "vs", "vb", "vd")
_REGULAR_FIELDS = ("n", "u", *_VALUE_FIELDS, "s", "t", "ut")


@dataclass(frozen=True, slots=True)
class UnitName:
    suffix: str                         # appended to a record's own name: voltage + V -> voltage_v
    alone: str | None = None            # the metric of a record named by this unit alone
    aliases: frozenset[str] = frozenset()  # own names that mean `alone`: temp + Cel -> temperature_c


def _unit(suffix: str, alone: str | None = None, *aliases: str) -> UnitName:
    return UnitName(suffix, alone, frozenset(aliases))


# SenML units (RFC 8428 §12.1, RFC 8798) -> how a metric named with them is spelt.
UNITS: dict[str, UnitName] = {
    "Cel": _unit("_c", "temperature_c", "temp", "temperature"),
    "%RH": _unit("_pct", "humidity_pct", "hum", "humidity", "rh"),
    "%EL": _unit("_pct", "battery_pct", "bat", "batt", "battery"),
    "%": _unit("_pct"),
    "W": _unit("_w", "power_w", "power"),
    "kW": _unit("_kw"),
    "Wh": _unit("_wh"),
    "kWh": _unit("_kwh", "energy_kwh", "energy"),
    "V": _unit("_v", "voltage_v", "voltage"),
    "A": _unit("_a", "current_a", "current"),
    "lx": _unit("_lux", "illuminance_lux", "illuminance", "lux"),
    "m3": _unit("_m3", "volume_m3", "volume"),
    "l": _unit("_l"),
    "Pa": _unit("_pa", "pressure_pa", "pressure"),
    "hPa": _unit("_hpa"),
    "dB": _unit("_db"),
    "dBm": _unit("_dbm", "rssi_dbm", "rssi"),
    "ppm": _unit("_ppm"),
    "m": _unit("_m"),
    "cm": _unit("_cm"),
    "mm": _unit("_mm"),
    "s": _unit("_s"),
    "Hz": _unit("_hz"),
    "lat": _unit("_deg", "latitude_deg", "lat", "latitude"),
    "lon": _unit("_deg", "longitude_deg", "lon", "longitude"),
    "count": _unit(""),
    "/": _unit(""),
}


@dataclass(frozen=True, slots=True)
class Record:
    """A resolved SenML record (RFC 8428 §4.6), and where it was in its pack."""

    index: int
    base_name: str
    name: str
    unit: str | None
    time: float                 # seconds since the epoch
    value_field: str | None     # "v", "vs", "vb" or "vd"; None for a sum alone
    value: float | str | bool | None
    sum: float | None = None
    update_time: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The record in the RFC's resolved form (as printed in RFC 8428 §5.1.4)."""
        out: dict[str, Any] = {"n": self.name}
        if self.unit is not None:
            out["u"] = self.unit
        out["t"] = self.time
        if self.value_field is not None:
            out[self.value_field] = self.value
        if self.sum is not None:
            out["s"] = self.sum
        if self.update_time is not None:
            out["ut"] = self.update_time
        return out


def decode(decoded: Decoded, payload: bytes, now: datetime,
           max_future: timedelta = MAX_FUTURE) -> None:
    """Adds a SenML pack's values (and rejected records) to a native message of one device."""
    try:
        records, problems = resolve(loads(payload), now.timestamp())
    except FieldError as exc:
        decoded.reject(exc.reason, str(exc))
        return
    decoded.rejections.extend(problems)
    for record in records:
        try:
            ts = _datetime(record.time, now, max_future)
            metric = metric_name(record)
            if record.value_field is not None:
                decoded.values.append((ts, metric, _number(record, metric)))
            if record.sum is not None:
                decoded.values.append((ts, f"{metric}_sum", record.sum))
        except FieldError as exc:
            decoded.reject(exc.reason, f"record {record.index}: {exc}")


def resolve(pack: Any, now: float) -> tuple[list[Record], list[Rejection]]:
    """The records of a pack, resolved and in chronological order, and the bad ones' reasons.

    Raises FieldError when the whole pack must be refused (RFC 8428 §4.4).
    """
    if not isinstance(pack, list):
        raise FieldError(Reason.INVALID_READING,
                         f"a SenML pack is a JSON array of records, got {_short(pack)}")
    _check_pack(pack)
    base: dict[str, Any] = {"bn": "", "bt": 0.0, "bu": None, "bv": 0.0, "bs": None}
    records: list[Record] = []
    problems: list[Rejection] = []
    for index, item in enumerate(pack):
        if not isinstance(item, dict):
            problems.append(Rejection(Reason.INVALID_READING,
                                      f"record {index}: expected a JSON object, got {_short(item)}"))
            continue
        try:
            _apply_base(base, item)
        except FieldError as exc:
            # Every later record would be resolved against a wrong base: none is stored.
            problems.append(Rejection(exc.reason, f"record {index}: {exc}; records {index} to "
                                                  f"{len(pack) - 1} are not stored"))
            break
        if not any(label in item for label in _REGULAR_FIELDS):
            continue  # base fields alone: a header for the records that follow
        try:
            records.append(_resolve_record(index, item, base, now))
        except FieldError as exc:
            problems.append(Rejection(exc.reason, f"record {index}: {exc}"))
    records.sort(key=lambda r: r.time)
    return records, problems


def metric_name(record: Record) -> str:
    """The name a record's value is stored under, for the device the pack is about."""
    name = record.name
    if record.base_name and name.startswith(record.base_name):
        name = name[len(record.base_name):]
    else:
        name = DEVICE_URN_RE.sub("", name, count=1)
    own = re.sub(r"[^A-Za-z0-9_.-]", "_", name.lstrip(":/"))
    unit = record.unit
    spelt = UNITS.get(unit) if unit is not None else None
    if not own:
        if spelt is not None and spelt.alone:
            return spelt.alone
        what = f"unit {unit!r}, which names no metric" if unit else "no unit"
        raise FieldError(Reason.INVALID_METRIC_NAME,
                         f"'{record.name}' names the device, not a measurement, and has {what}: "
                         "give the record a name ('n')")
    if spelt is not None and own.lower() in spelt.aliases:
        return spelt.alone or own
    suffix = spelt.suffix if spelt is not None else _suffix(unit)
    metric = own if own.lower().endswith(suffix.lower()) else own + suffix
    if not METRIC_NAME_RE.match(metric):
        raise FieldError(Reason.INVALID_METRIC_NAME,
                         f"'{record.name}' gives the metric name {metric!r}, which is not valid "
                         "(a letter first, then at most 63 letters, digits, '_', '.', '-')")
    return metric


def _check_pack(pack: list[Any]) -> None:
    versions = {item["bver"] for item in pack if isinstance(item, dict) and "bver" in item}
    for version in versions:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise FieldError(Reason.INVALID_READING,
                             f"'bver' must be a positive integer, got {_short(version)}")
        if version > VERSION:
            raise FieldError(Reason.UNSUPPORTED_FORMAT,
                             f"SenML version {version} is newer than version {VERSION}, the "
                             "one Phare reads: pack not stored (RFC 8428 §4.4)")
    if len(versions) > 1:
        raise FieldError(Reason.INVALID_READING,
                         f"records of one pack must share one version, got {sorted(versions)}")
    for index, item in enumerate(pack):
        if isinstance(item, dict):
            for label in item:
                if label.endswith("_"):
                    raise FieldError(
                        Reason.UNSUPPORTED_FORMAT,
                        f"record {index}: field '{label}' must be understood (RFC 8428 §4.4) "
                        "and Phare does not know it: pack not stored",
                    )


def _apply_base(base: dict[str, Any], item: dict[str, Any]) -> None:
    if "bn" in item:
        base["bn"] = _text(item, "bn")
    if "bu" in item:
        base["bu"] = _text(item, "bu")
    for label in ("bt", "bv", "bs"):
        if label in item:
            base[label] = _num(item, label)


def _resolve_record(index: int, item: dict[str, Any], base: dict[str, Any],
                    now: float) -> Record:
    name = base["bn"] + (_text(item, "n") if "n" in item else "")
    if not name:
        raise FieldError(Reason.INVALID_METRIC_NAME, "no name: neither 'bn' nor 'n' is given")
    if not SENML_NAME_RE.match(name):
        raise FieldError(Reason.INVALID_METRIC_NAME, f"name {_short(name)} is not a SenML name "
                         "(letters, digits and - : . / _, a letter or digit first)")
    present = [f for f in _VALUE_FIELDS if f in item]
    if len(present) > 1 or (not present and "s" not in item):
        raise FieldError(Reason.INVALID_READING,
                         "a record holds exactly one of 'v', 'vs', 'vb', 'vd' (or only a sum 's'), "
                         f"got {', '.join(present) or 'none'}")
    value_field = present[0] if present else None
    value: float | str | bool | None = None
    if value_field == "v":
        value = _num(item, "v") + base["bv"]
    elif value_field == "vb":
        if not isinstance(item["vb"], bool):
            raise FieldError(Reason.INVALID_VALUE, f"'vb' must be true or false, got "
                             f"{_short(item['vb'])}")
        value = item["vb"]
    elif value_field is not None:
        value = _text(item, value_field)
    total = None
    if "s" in item or base["bs"] is not None:
        total = (_num(item, "s") if "s" in item else 0.0) + (base["bs"] or 0.0)
    time = base["bt"] + (_num(item, "t") if "t" in item else 0.0)
    if time < RELATIVE_LIMIT:
        time = now + time
    return Record(
        index=index, base_name=base["bn"], name=name,
        unit=_text(item, "u") if "u" in item else base["bu"],
        time=time, value_field=value_field, value=value, sum=total,
        update_time=_num(item, "ut") if "ut" in item else None,
    )


def _number(record: Record, metric: str) -> float:
    if record.value_field == "vb":
        return 1.0 if record.value else 0.0
    if record.value_field == "v":
        assert isinstance(record.value, float)
        return record.value
    kind = "text ('vs')" if record.value_field == "vs" else "binary data ('vd')"
    raise FieldError(Reason.INVALID_VALUE, f"metric '{metric}': {kind} {_short(record.value)} "
                     "is not stored: Phare stores numbers and booleans")


def _datetime(seconds: float, now: datetime, max_future: timedelta) -> datetime:
    try:
        ts = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise FieldError(Reason.INVALID_TS, f"time {seconds!r} is out of range") from None
    if ts - now > max_future:
        raise FieldError(Reason.FUTURE_TS, f"time {ts.isoformat()} is more than "
                         f"{int(max_future.total_seconds() // 60)} minutes in the future")
    return ts


def _num(item: dict[str, Any], label: str) -> float:
    raw = item[label]
    if not isinstance(raw, bool) and isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
        if math.isfinite(value):
            return value
    reason = (Reason.INVALID_TS if label in ("t", "bt")
              else Reason.INVALID_VALUE if label in ("v", "s", "bv", "bs")
              else Reason.INVALID_READING)
    raise FieldError(reason, f"'{label}' must be a finite number, got {_short(raw)}")


def _text(item: dict[str, Any], label: str) -> str:
    raw = item[label]
    if not isinstance(raw, str):
        raise FieldError(Reason.INVALID_READING, f"'{label}' must be a string, got {_short(raw)}")
    return raw


def _suffix(unit: str | None) -> str:
    """A unit outside `UNITS`, as a metric-name suffix: 'm/s' -> '_m_s'."""
    if not unit:
        return ""
    text = re.sub(r"[^a-z0-9]+", "_", unit.lower()).strip("_")
    return f"_{text}" if text else ""
