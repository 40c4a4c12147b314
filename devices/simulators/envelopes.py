"""Other envelopes of simulated devices' messages: LoRaWAN network servers, SenML.

Each encoder here is a `runner.Encoder` (`run(..., encode=tts_v3())`): it turns what a device
publishes, a (Channel, payload) pair, into the (topic, bytes) message that the platform would
receive if the device were behind The Things Stack v3 or ChirpStack v4, or spoke SenML
(contract §1.1, §1.5). `runner.native` remains Phare's own envelope.

LoRaWAN (`tts_v3`, `chirpstack_v4`):

- Identity. A LoRaWAN device needs a DevEUI: `dev_eui_for(device)` derives it from the tenant
  and device id (a hash, so it is the same in every run and on every machine), with the
  *locally administered* bit set so it can never be the IEEE-assigned EUI of a real device
  registered on the same platform. The network server's device id (`lorawan_id_for`) is
  `eui-{deveui}`, The Things Stack console's own default: always a valid TTS id, and unique
  in an application that holds the devices of several tenants. `lorawan_spec(device)` is the
  registration body with both added.
- Values. A reading becomes one uplink. The radio levels (`rssi_dbm`, `snr_db`) are not in
  the payload of a LoRaWAN device: they go where network servers put them, the gateway's
  reception metadata, which ingest reads back as `rssi_dbm`/`snr_db`. A device without radio
  levels of its own (a wired one in native mode) is given stable levels derived from its
  DevEUI. The other values are:
  * for a model with a codec (Milesight EM300-SLD, EM500-SWL): the frame the codec's `encode`
    writes, with the fields the model maps to the catalogue; values the device model has no
    channel for are not sent (the real device does not measure them). If the model is in
    `raw_models` (by default every model with a codec) only the raw frame is sent
    (`frm_payload` / `data`), as a network server without a payload formatter does, and
    ingest decodes it with the same codec; otherwise the network server's formatter output
    is included too (`decoded_payload` / `object`: the codec's `decode` of the frame).
  * for any other model: decoded values under their catalogue names, as a payload formatter
    written for the device would give them, and a frame in a compact binary form (one byte:
    the value's position in the kind's catalogue, then an IEEE-754 float32, big-endian), so
    that sizes, airtimes and data rates are plausible. Phare never decodes that frame.
- Time. A network server stamps an uplink when it receives it: the device's timestamp
  becomes the application server's `received_at` (TTS, top level) and `time` (ChirpStack),
  written with nanoseconds like theirs, so ingest stores the reading at the time the device
  gave it. Gateway and network-server times are a little earlier.
- Events. LoRaWAN devices report alarms as fields of an uplink: an event becomes an uplink
  (FPort 2 for the simulators' own models) with one boolean field, the event type, true when
  the condition starts ("door_open": true), except "water" and "smoke", which are the
  catalogue's `water_detected` and `smoke_alarm`. Its detail is not sent. A model with a codec
  sends what its codec can carry at that moment (its leak state, its battery level).
  A backlog (a list of readings or events) becomes a JSON array of uplinks, which ingest
  accepts; a network server would publish them one by one.
- Status. A LoRaWAN device has no MQTT session, and so no status message nor last will.
  An "online" status (at start-up, and when a device comes back after an outage) is the
  moment it (re)joins: with The Things Stack it becomes a join-accept message (`.../join`,
  which ingest does not subscribe to) and starts a new session (frame counter back to 0,
  new DevAddr); with ChirpStack it becomes the `status` event of the device's answer to the
  network server's DevStatusReq, with its battery level (`batteryLevel`, which ingest stores
  as battery_pct) or `externalPowerSource`, dated a few seconds before the status (so that
  it never shares its time with a reading). An "offline" status (the broker's last will of a
  native device) has no LoRaWAN equivalent: the platform only notices the silence. As the
  runner publishes one message for each status, it becomes an empty message on the device's
  `join` topic, which ingest ignores (with The Things Stack it also clears the retained
  join-accept of the session that ended).
- Commands: these encoders write uplinks only. Lighting cabinets still receive commands and
  acknowledge them on their native topics (the runner does that itself, whatever `encode`).
- Everything that looks random (identifiers, radio, gateway counters) is derived from a hash
  of the device and its frame counter: a seeded fleet gives the same bytes in every run.

SenML (`senml`): a reading (or a backlog) becomes an RFC 8428 pack on the device's native
`senml` topic; events, status and acknowledgements stay on their native topics (SenML has
no such messages).
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from devices import models
from devices.catalogue import KINDS, Channel
from devices.codecs import CODECS, Codec, milesight
from devices.messages import Event, MetricValue, Reading, Status

from .base import Payload, SimDevice
from .runner import native

__all__ = ["ChirpStackV4", "SenML", "TheThingsStackV3", "chirpstack_v4", "dev_eui_for",
           "lorawan_id_for", "lorawan_spec", "senml", "senml_unit", "tts_v3"]

# --- identity ----------------------------------------------------------------------------


def dev_eui_for(device: SimDevice) -> str:
    """The device's DevEUI: 16 upper-case hex digits, from its tenant and id alone.

    A hash, so the same device has the same DevEUI in every run (whatever the fleet seed) and
    two devices have different ones (62 hashed bits: a collision among a million devices is
    about one chance in ten million). The first byte has the locally-administered bit set and
    the multicast bit clear: no vendor-assigned DevEUI of a real device can be equal to it.
    """
    digest = bytearray(_digest("dev-eui", device.tenant, device.device_id, size=8))
    digest[0] = (digest[0] & 0xFC) | 0x02
    return digest.hex().upper()


def lorawan_id_for(device: SimDevice) -> str:
    """The network server's device id: `eui-` and the DevEUI in lower case (TTS's default)."""
    return f"eui-{dev_eui_for(device).lower()}"


def lorawan_spec(device: SimDevice) -> dict[str, Any]:
    """The device's registration body (`POST /api/v1/devices`) with `dev_eui` and `lorawan_id`."""
    return {**device.spec, "dev_eui": dev_eui_for(device), "lorawan_id": lorawan_id_for(device)}


# --- LoRa radio (EU863-870) ----------------------------------------------------------------
# Uplink channels of a European gateway: index -> frequency (Hz). The first three are the
# mandatory join channels (radio 1, 868.5 MHz centre), the others radio 0 (867.5 MHz centre).
EU868_CHANNELS = (868_100_000, 868_300_000, 868_500_000, 867_100_000, 867_300_000,
                  867_500_000, 867_700_000, 867_900_000)
BANDWIDTH = 125_000
# Largest FRMPayload at each spreading factor (LoRaWAN Regional Parameters, EU863-870).
MAX_FRM_PAYLOAD = {7: 222, 8: 222, 9: 115, 10: 51, 11: 51, 12: 51}
# Demodulation floor (SNR, dB) per spreading factor, for DevStatusAns' margin.
SNR_FLOOR = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}

PORT_READINGS = 1  # FPorts of the simulators' own models
PORT_EVENTS = 2
# Events that are the onset of a boolean catalogue metric.
EVENT_METRICS = {"water": "water_detected", "smoke": "smoke_alarm"}


@dataclass(frozen=True, slots=True)
class _Radio:
    rssi: int
    snr: float
    sf: int
    channel: int

    @property
    def frequency(self) -> int:
        return EU868_CHANNELS[self.channel]

    @property
    def dr(self) -> int:
        return 12 - self.sf  # EU868: DR0 = SF12 ... DR5 = SF7


def airtime_us(frm_payload_bytes: int, sf: int) -> int:
    """Time on air (µs) of a LoRaWAN uplink: 125 kHz, coding rate 4/5, explicit header, CRC.

    Semtech's formula (AN1200.13); the PHY payload adds 13 bytes (MHDR, FHDR, FPort, MIC).
    """
    pl = 13 + frm_payload_bytes
    de = 1 if sf >= 11 else 0  # low data rate optimisation
    n = 8 + max(math.ceil((8 * pl - 4 * sf + 28 + 16) / (4 * (sf - 2 * de))) * 5, 0)
    # (12.25 preamble symbols + n) x 2^SF / 125 kHz, in µs: (49 + 4n) x 2^SF x 2.
    return (49 + 4 * n) * 2**sf * 2


def _spreading_factor(rssi: float, frame_bytes: int) -> int:
    """What ADR settles on for a link this strong, fast enough to carry the frame."""
    sf = 7
    for floor in (-100, -105, -110, -115, -120):
        if rssi > floor:
            break
        sf += 1
    while sf > 7 and frame_bytes > MAX_FRM_PAYLOAD[sf]:
        sf -= 1
    return sf


# --- what both network servers share -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Uplink:
    ts: datetime        # the device's time: when the network server has it
    f_port: int
    f_cnt: int
    frame: bytes
    decoded: dict[str, Any] | None  # the payload formatter's output; None: raw only
    radio: _Radio


@dataclass(frozen=True, slots=True)
class _Profile:
    """How one device goes over LoRaWAN."""

    dev_eui: str
    lorawan_id: str
    model: models.DeviceModel | None
    codec: Codec | None
    raw: bool
    base_rssi: float  # the link's usual level, which sets the spreading factor


def _codec_models() -> frozenset[str]:
    return frozenset(name for name, m in models.MODELS.items() if m.codec and m.codec in CODECS)


class _NetworkServer:
    """Turns readings and events into uplinks; subclasses write their network server's JSON."""

    def __init__(self, raw_models: Collection[str] | None) -> None:
        decodable = _codec_models()
        if isinstance(raw_models, str):
            raise TypeError("raw_models is a collection of model names, not one name")
        self.raw_models = decodable if raw_models is None else frozenset(
            m.strip().lower() for m in raw_models)
        unknown = self.raw_models - decodable
        if unknown:
            raise ValueError(f"raw_models {sorted(unknown)} have no codec in Phare, which could not "
                             f"decode their raw uplinks: only {sorted(decodable)} have one")
        self._profiles: dict[tuple[str, str], _Profile] = {}
        self._f_cnt: dict[tuple[str, str], int] = {}
        self._session: dict[tuple[str, str], int] = {}

    def _profile(self, device: SimDevice) -> _Profile:
        key = (device.tenant, device.device_id)
        profile = self._profiles.get(key)
        if profile is None:
            spec = models.get(device.model)
            codec = CODECS.get(spec.codec) if spec is not None and spec.codec else None
            eui = dev_eui_for(device)
            if device.rssi_dbm is not None:
                base = device.rssi_dbm
            else:  # a device wired in native mode: a stable link level of its own
                base = -80.0 - 32.0 * _fraction("link", eui)
            profile = _Profile(eui, lorawan_id_for(device), spec, codec,
                               raw=spec is not None and spec.name in self.raw_models,
                               base_rssi=base)
            self._profiles[key] = profile
        return profile

    def _next_f_cnt(self, device: SimDevice) -> int:
        key = (device.tenant, device.device_id)
        f_cnt = self._f_cnt.get(key, 0)
        self._f_cnt[key] = f_cnt + 1
        return f_cnt

    def _new_session(self, device: SimDevice) -> None:
        key = (device.tenant, device.device_id)
        self._session[key] = self._session.get(key, 0) + 1
        self._f_cnt[key] = 0

    def session(self, device: SimDevice) -> int:
        return self._session.get((device.tenant, device.device_id), 0)

    def uplinks(self, device: SimDevice, channel: Channel, item: Payload) -> list[_Uplink]:
        """The uplinks of a reading, an event, or a backlog of them."""
        if channel is Channel.TELEMETRY:
            readings = item if isinstance(item, list) else [item]
            return [self._reading(device, r) for r in readings if isinstance(r, Reading)]
        if channel is Channel.EVENT:
            events = item if isinstance(item, list) else [item]
            return [self._event(device, e) for e in events if isinstance(e, Event)]
        raise ValueError(f"a {channel.value} message has no LoRaWAN uplink")

    def _reading(self, device: SimDevice, reading: Reading) -> _Uplink:
        values = dict(reading.metrics)
        rssi, snr = values.pop("rssi_dbm", None), values.pop("snr_db", None)
        return self._uplink(device, reading.ts, values, PORT_READINGS, rssi, snr)

    def _event(self, device: SimDevice, event: Event) -> _Uplink:
        values: dict[str, MetricValue] = {EVENT_METRICS.get(event.type, event.type): event.active}
        profile = self._profile(device)
        if profile.codec is not None and device.battery_pct is not None:
            values["battery_pct"] = round(device.battery_pct, 1)
        return self._uplink(device, event.ts, values, PORT_EVENTS, None, None)

    def _uplink(self, device: SimDevice, ts: datetime, values: dict[str, MetricValue], port: int,
                rssi: MetricValue | None, snr: MetricValue | None) -> _Uplink:
        profile = self._profile(device)
        f_cnt = self._next_f_cnt(device)
        decoded: dict[str, Any] | None
        if profile.codec is None or profile.model is None:
            frame, decoded = _sim_frame(device.kind, values), dict(values)
        else:
            port = _codec_port(profile.codec)
            fields = _codec_fields(profile.model, values)
            frame = profile.codec.encode(fields)
            if not frame:
                raise ValueError(f"{device.tenant}/{device.device_id}: its model "
                                 f"{profile.model.name} carries none of {sorted(values)}")
            decoded = None if profile.raw else profile.codec.decode(port, frame)
        salt = (profile.dev_eui, self.session(device), f_cnt)
        if rssi is None or isinstance(rssi, bool):
            rssi = profile.base_rssi + 5.0 * (_fraction("rssi", *salt) - 0.5)
        if snr is None or isinstance(snr, bool):
            snr = min(12.0, (float(rssi) + 120) / 3 + 3.0 * (_fraction("snr", *salt) - 0.5))
        radio = _Radio(rssi=round(rssi), snr=round(float(snr), 1),
                       sf=_spreading_factor(profile.base_rssi, len(frame)),
                       channel=int(_fraction("channel", *salt) * len(EU868_CHANNELS)))
        return _Uplink(ts, port, f_cnt, frame, decoded, radio)


def _codec_port(codec: Codec) -> int:
    port = getattr(codec, "f_port", None)
    if isinstance(port, int):
        return port
    if isinstance(codec, milesight.MilesightCodec):
        return milesight.F_PORT
    raise ValueError(f"codec {codec.name} does not say which FPort its frames use")


def _codec_fields(model: models.DeviceModel, values: Mapping[str, MetricValue]) -> dict[str, Any]:
    """The device's values under its codec's field names; those it has no field for are left out."""
    fields_of = {metric: name for name, metric in model.metrics.items()}
    out: dict[str, Any] = {}
    for metric, value in values.items():
        name = fields_of.get(metric)
        if name is None:
            continue
        if name in model.states:  # a number the decoder gives as a text: 1.0 -> "leak"
            texts = [text for text, number in model.states[name].items() if number == float(value)]
            if not texts:
                continue
            out[name] = texts[0]
        else:
            out[name] = value
    return out


def _sim_frame(kind: str, values: Mapping[str, MetricValue]) -> bytes:
    """The simulators' own frame: per value, its position in the kind's catalogue, float32."""
    catalogue = KINDS[kind]
    positions = {name: i for i, name in enumerate(
        [m.name for m in catalogue.metrics] + list(catalogue.event_types))}
    out = bytearray()
    for name, value in values.items():
        if name in positions:
            out += struct.pack(">Bf", positions[name], float(value))
    return bytes(out)


# --- The Things Stack v3 -------------------------------------------------------------------
class TheThingsStackV3(_NetworkServer):
    """ApplicationUp messages of The Things Stack v3's MQTT integration."""

    def __init__(self, app_id: str = "phare-sim", ns_tenant: str | None = None,
                 raw_models: Collection[str] | None = None, *, cluster: str = "eu1") -> None:
        super().__init__(raw_models)
        for name, value in (("app_id", app_id), ("ns_tenant", ns_tenant)):
            if value is not None and (not value or any(c in value for c in "/+#@")):
                raise ValueError(f"{name} {value!r} cannot be part of an MQTT topic")
        self.app_id = app_id
        self.ns_tenant = ns_tenant
        if ns_tenant is None:  # The Things Network, or an open-source deployment
            self.network = {"net_id": "000013", "tenant_id": "ttn", "cluster_id": cluster,
                            "cluster_address": f"{cluster}.cloud.thethings.network"}
        else:
            self.network = {"net_id": "000013", "tenant_id": ns_tenant, "cluster_id": cluster,
                            "cluster_address": f"{ns_tenant}.{cluster}.cloud.thethings.industries"}

    def topic(self, device: SimDevice, event: str = "up") -> str:
        app = self.app_id if self.ns_tenant is None else f"{self.app_id}@{self.ns_tenant}"
        return f"v3/{app}/devices/{lorawan_id_for(device)}/{event}"

    def __call__(self, device: SimDevice, channel: Channel, item: Payload) -> tuple[str, bytes]:
        if channel is Channel.STATUS:
            status = _status(item)
            if not status.online:  # no LoRaWAN message: see the module's docstring
                return self.topic(device, "join"), b""
            return self.topic(device, "join"), orjson.dumps(self._join(device, status))
        docs = [self._up(device, u) for u in self.uplinks(device, channel, item)]
        return self.topic(device), orjson.dumps(docs if isinstance(item, list) else docs[0])

    def _ids(self, device: SimDevice) -> dict[str, Any]:
        profile = self._profile(device)
        return {"device_id": profile.lorawan_id,
                "application_ids": {"application_id": self.app_id},
                "dev_eui": profile.dev_eui,
                "join_eui": _join_eui(profile),
                "dev_addr": _dev_addr(0x26000000, profile.dev_eui, self.session(device))}

    def _session_key_id(self, device: SimDevice) -> str:
        profile = self._profile(device)
        return _b64(_digest("session", profile.dev_eui, self.session(device), size=16))

    def _join(self, device: SimDevice, status: Status) -> dict[str, Any]:
        self._new_session(device)
        eui = self._profile(device).dev_eui
        ns = _ns(status.ts)
        ns_received = ns - 180_000_000 - int(40_000_000 * _fraction("join", eui, ns))
        return {
            "end_device_ids": self._ids(device),
            "correlation_ids": _correlation_ids(ns, eui, "join", ns_received),
            "received_at": _rfc3339(ns),
            "join_accept": {"session_key_id": self._session_key_id(device),
                            "received_at": _rfc3339(ns_received)},
        }

    def _up(self, device: SimDevice, uplink: _Uplink) -> dict[str, Any]:
        profile = self._profile(device)
        times = _times(uplink, profile.dev_eui)
        radio = uplink.radio
        gateway = _gateway_eui(device.tenant)
        message: dict[str, Any] = {"session_key_id": self._session_key_id(device),
                                   "f_port": uplink.f_port}
        if uplink.f_cnt:  # proto3 JSON leaves zeros out
            message["f_cnt"] = uplink.f_cnt
        if uplink.frame:
            message["frm_payload"] = _b64(uplink.frame)
        if uplink.decoded is not None:
            message["decoded_payload"] = uplink.decoded
        message["rx_metadata"] = [{
            "gateway_ids": {"gateway_id": f"eui-{gateway.lower()}", "eui": gateway},
            "time": _rfc3339(times.gateway, digits=6),
            "timestamp": times.concentrator,
            "rssi": radio.rssi,
            "channel_rssi": radio.rssi,
            "snr": radio.snr,
            "frequency_offset": str(int(_fraction("offset", *times.salt) * 4000) - 2000),
            "uplink_token": _b64(_digest("token", *times.salt, size=57)),
            "channel_index": radio.channel,
            "received_at": _rfc3339(times.gateway_received),
        }]
        message["settings"] = {
            "data_rate": {"lora": {"bandwidth": BANDWIDTH, "spreading_factor": radio.sf,
                                   "coding_rate": "4/5"}},
            "frequency": str(radio.frequency),
            "timestamp": times.concentrator,
            "time": _rfc3339(times.gateway, digits=6),
        }
        message["received_at"] = _rfc3339(times.network_received)
        message["consumed_airtime"] = _duration(airtime_us(len(uplink.frame), radio.sf))
        message["locations"] = {"user": {"latitude": round(device.lat, 6),
                                         "longitude": round(device.lon, 6),
                                         "source": "SOURCE_REGISTRY"}}
        message["network_ids"] = dict(self.network)
        return {
            "end_device_ids": self._ids(device),
            "correlation_ids": _correlation_ids(times.app, profile.dev_eui, "up",
                                                times.network_received),
            "received_at": _rfc3339(times.app),
            "uplink_message": message,
        }


def tts_v3(app_id: str = "phare-sim", ns_tenant: str | None = None,
           raw_models: Collection[str] | None = None) -> TheThingsStackV3:
    """The Things Stack v3 uplinks on `v3/{app_id}[@{ns_tenant}]/devices/{lorawan_id}/up`.

    `ns_tenant`: The Things Stack Cloud's tenant (None: The Things Network or open source).
    `raw_models`: models whose uplinks carry only the raw frame (default: all with a codec).
    """
    return TheThingsStackV3(app_id, ns_tenant, raw_models)


# --- ChirpStack v4 -------------------------------------------------------------------------
class ChirpStackV4(_NetworkServer):
    """`up` and `status` events of ChirpStack v4's MQTT integration (JSON marshaler)."""

    def __init__(self, application_id: str | None = None, *, application_name: str = "phare-sim",
                 tenant_name: str = "ChirpStack", raw_models: Collection[str] | None = None) -> None:
        super().__init__(raw_models)
        if application_id is not None and (not application_id
                                           or any(c in application_id for c in "/+#")):
            raise ValueError(f"application_id {application_id!r} cannot be part of an MQTT topic")
        self.application_id = application_id
        self.application_name = application_name
        self.tenant_name = tenant_name
        self.tenant_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"phare-sim:chirpstack:{tenant_name}"))

    def application_of(self, device: SimDevice) -> str:
        """The application's id: the one given, else one application per Phare tenant."""
        if self.application_id is not None:
            return self.application_id
        return str(uuid.uuid5(uuid.NAMESPACE_URL,
                              f"phare-sim:chirpstack:{self.tenant_name}:{device.tenant}"))

    def topic(self, device: SimDevice, event: str = "up") -> str:
        eui = dev_eui_for(device).lower()
        return f"application/{self.application_of(device)}/device/{eui}/event/{event}"

    def __call__(self, device: SimDevice, channel: Channel, item: Payload) -> tuple[str, bytes]:
        if channel is Channel.STATUS:
            status = _status(item)
            if not status.online:  # no LoRaWAN message: see the module's docstring
                return self.topic(device, "join"), b""
            return self.topic(device, "status"), orjson.dumps(self._status(device, status))
        docs = [self._up(device, u) for u in self.uplinks(device, channel, item)]
        return self.topic(device), orjson.dumps(docs if isinstance(item, list) else docs[0])

    def _device_info(self, device: SimDevice) -> dict[str, Any]:
        profile = self._profile(device)
        model = profile.model.name if profile.model is not None else device.model
        return {
            "tenantId": self.tenant_id,
            "tenantName": self.tenant_name,
            "applicationId": self.application_of(device),
            "applicationName": (self.application_name if self.application_id is not None
                                else f"{self.application_name} {device.tenant}"),
            "deviceProfileId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"phare-sim:profile:{model}")),
            "deviceProfileName": profile.model.label if profile.model is not None else model,
            "deviceName": profile.lorawan_id,
            "devEui": profile.dev_eui.lower(),
            "tags": {"phare_tenant": device.tenant, "phare_device": device.device_id},
        }

    def _status(self, device: SimDevice, status: Status) -> dict[str, Any]:
        profile = self._profile(device)
        # The answer to the DevStatusReq sent with the join accept: seconds before the
        # device's first reading, which would otherwise share its time (and battery_pct).
        ns = _ns(status.ts) - 2_000_000_000 - int(6e9 * _fraction("status", profile.dev_eui, status.ts))
        sf = _spreading_factor(profile.base_rssi, 0)
        snr = min(12.0, (profile.base_rssi + 120) / 3)
        doc: dict[str, Any] = {
            "deduplicationId": _uuid("dedup-status", profile.dev_eui, ns),
            "time": _rfc3339(ns, zulu=False),
            "deviceInfo": self._device_info(device),
            "margin": max(-32, min(31, round(snr - SNR_FLOOR[sf]))),
        }
        if device.battery_pct is None:
            doc["externalPowerSource"] = True
        else:  # DevStatusAns: 1 (empty) to 254 (full), which ChirpStack gives as a percentage
            level = max(1, min(254, round(device.battery_pct * 254 / 100)))
            doc["batteryLevel"] = round(level * 100 / 254, 2)
        return doc

    def _up(self, device: SimDevice, uplink: _Uplink) -> dict[str, Any]:
        profile = self._profile(device)
        times = _times(uplink, profile.dev_eui)
        radio = uplink.radio
        doc: dict[str, Any] = {
            "deduplicationId": _uuid("dedup", *times.salt),
            "time": _rfc3339(times.app, zulu=False),
            "deviceInfo": self._device_info(device),
            "devAddr": _dev_addr(0, profile.dev_eui, self.session(device)).lower(),
            "adr": True,
            "dr": radio.dr,
            "fCnt": uplink.f_cnt,
            "fPort": uplink.f_port,
            "confirmed": False,
            "data": _b64(uplink.frame),
        }
        if uplink.decoded is not None:
            doc["object"] = uplink.decoded
        doc["rxInfo"] = [{
            "gatewayId": _gateway_eui(device.tenant).lower(),
            "uplinkId": int.from_bytes(_digest("uplink-id", *times.salt, size=4), "big"),
            "time": _rfc3339(times.gateway, digits=6, zulu=False),
            "rssi": radio.rssi,
            "snr": radio.snr,
            "channel": radio.channel,
            "rfChain": 1 if radio.channel < 3 else 0,
            "location": {},
            "context": _b64(times.concentrator.to_bytes(4, "big")),
            "metadata": {"region_common_name": "EU868", "region_config_id": "eu868"},
            "crcStatus": "CRC_OK",
        }]
        doc["txInfo"] = {"frequency": radio.frequency,
                         "modulation": {"lora": {"bandwidth": BANDWIDTH,
                                                 "spreadingFactor": radio.sf,
                                                 "codeRate": "CR_4_5"}}}
        return doc


def chirpstack_v4(application_id: str | None = None, *, application_name: str = "phare-sim",
                  tenant_name: str = "ChirpStack",
                  raw_models: Collection[str] | None = None) -> ChirpStackV4:
    """ChirpStack v4 events on `application/{application_id}/device/{dev_eui}/event/{up|status}`.

    `application_id`: ChirpStack's application (a UUID); None gives each Phare tenant an
    application of its own, with a stable id. `raw_models`: as for `tts_v3`.
    """
    return ChirpStackV4(application_id, application_name=application_name,
                        tenant_name=tenant_name, raw_models=raw_models)


# --- SenML ---------------------------------------------------------------------------------
# Catalogue units -> SenML units (RFC 8428 §12.1, RFC 8798) that ingest's SenML decoder maps
# back to the same metric names. "m³/h" and "bar" have none (no SenML unit, or none ingest
# maps back): their records carry no unit, the metric's name says it.
SENML_UNITS = {"W": "W", "kWh": "kWh", "V": "V", "A": "A", "lx": "lx", "dB": "dB", "dBm": "dBm",
               "°C": "Cel", "m³": "m3", "cm": "cm", "ppm": "ppm", "%": "%", "": "/"}
SENML_METRIC_UNITS = {"battery_pct": "%EL", "humidity_pct": "%RH", "occupancy": "count"}


def senml_unit(kind: str, metric: str) -> str | None:
    """The SenML unit of a catalogue metric; None when it is sent without one."""
    if metric in SENML_METRIC_UNITS:
        return SENML_METRIC_UNITS[metric]
    catalogue = {m.name: m.unit for m in KINDS[kind].metrics} if kind in KINDS else {}
    unit = catalogue.get(metric)
    return SENML_UNITS.get(unit) if unit is not None else None


class SenML:
    """Readings as SenML packs on `phare/v1/{tenant}/{device_id}/senml`; the rest native."""

    def __call__(self, device: SimDevice, channel: Channel, item: Payload) -> tuple[str, bytes]:
        if channel is not Channel.TELEMETRY:
            return native(device, channel, item)
        readings = [r for r in (item if isinstance(item, list) else [item]) if isinstance(r, Reading)]
        return device.topic(Channel.SENML), orjson.dumps(self.pack(device, readings))

    def pack(self, device: SimDevice, readings: list[Reading]) -> list[dict[str, Any]]:
        """One pack: base name (the device's EUI-64 URN) and base time (the latest reading),
        then a record per value, its time relative to the base time."""
        if not readings:
            raise ValueError("a SenML pack needs at least one reading")
        latest = max(r.ts for r in readings)
        records: list[dict[str, Any]] = []
        for reading in sorted(readings, key=lambda r: r.ts):
            offset = round((reading.ts - latest).total_seconds(), 6)
            for name, value in reading.metrics.items():
                record: dict[str, Any] = {"n": name}
                unit = None if isinstance(value, bool) else senml_unit(device.kind, name)
                if unit is not None:
                    record["u"] = unit
                if offset:
                    record["t"] = offset
                record["vb" if isinstance(value, bool) else "v"] = value
                records.append(record)
        bt = (latest - _EPOCH) / timedelta(seconds=1)
        records[0] = {"bn": f"urn:dev:mac:{dev_eui_for(device).lower()}:", "bt": bt, **records[0]}
        return records


def senml() -> SenML:
    """SenML (RFC 8428) packs of readings on the device's native `senml` topic."""
    return SenML()


# --- small helpers ---------------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _status(item: Payload) -> Status:
    if not isinstance(item, Status):
        raise ValueError(f"a status message holds a Status, not {type(item).__name__}")
    return item


@dataclass(frozen=True, slots=True)
class _Times:
    """The times of one uplink (ns since the epoch), from the gateway to the application."""

    app: int                # application server: the device's own timestamp
    network_received: int
    gateway_received: int
    gateway: int            # the gateway's clock (µs precision)
    concentrator: int       # the gateway's 32-bit µs counter
    salt: tuple[Any, ...]


def _times(uplink: _Uplink, eui: str) -> _Times:
    """Gateway, network server and application times: a few hundred ms end to end."""
    app = _ns(uplink.ts)
    salt = (eui, app, uplink.f_cnt)
    network = app - 150_000_000 - int(100_000_000 * _fraction("as", *salt))
    gateway_received = network - 25_000_000 - int(15_000_000 * _fraction("ns", *salt))
    gateway = (gateway_received - 1_000_000 - int(2_000_000 * _fraction("gs", *salt))) // 1000 * 1000
    start = int.from_bytes(_digest("concentrator", eui, size=4), "big")
    return _Times(app, network, gateway_received, gateway, (start + gateway // 1000) % 2**32, salt)


def _digest(*parts: Any, size: int) -> bytes:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=size).digest()


def _fraction(*parts: Any) -> float:
    """A number in [0, 1) that depends only on `parts`."""
    return int.from_bytes(_digest(*parts, size=7), "big") / 2**56


def _ns(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ValueError("times must carry a UTC offset")
    return (ts - _EPOCH) // timedelta(microseconds=1) * 1000


def _rfc3339(ns: int, *, digits: int = 9, zulu: bool = True) -> str:
    """RFC 3339 in UTC with `digits` fractional digits: TTS writes `Z`, ChirpStack `+00:00`."""
    seconds, fraction = divmod(ns, 10**9)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction:09d}"[: len(text) + 1 + digits] + ("Z" if zulu else "+00:00")


def _duration(us: int) -> str:
    """A protobuf JSON duration: seconds with 3, 6 or 9 fractional digits and an `s`."""
    seconds, fraction = divmod(us, 10**6)
    text = f"{fraction:06d}"
    return f"{seconds}.{text[:3] if text.endswith('000') else text}s"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _uuid(*parts: Any) -> str:
    return str(uuid.UUID(bytes=_digest(*parts, size=16), version=4))


def _ulid(ms: int, *parts: Any) -> str:
    """A ULID (TTS correlation ids): 48 bits of milliseconds, 80 bits from `parts`."""
    value = (ms << 80) | int.from_bytes(_digest("ulid", *parts, size=10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def _correlation_ids(app_ns: int, eui: str, what: str, network_ns: int) -> list[str]:
    ms, net_ms = app_ns // 10**6, network_ns // 10**6
    conn_ms = net_ms - net_ms % 86_400_000  # the gateway's connection: since midnight
    return [
        f"as:up:{_ulid(ms, eui, what, 'as', app_ns)}",
        f"gs:conn:{_ulid(conn_ms, 'conn', conn_ms)}",
        f"gs:up:host:{_ulid(conn_ms, 'host', conn_ms)}",
        f"gs:uplink:{_ulid(net_ms, eui, what, 'gs', app_ns)}",
        f"ns:uplink:{_ulid(net_ms, eui, what, 'ns', app_ns)}",
        f"rpc:/ttn.lorawan.v3.GsNs/HandleUplink:{_ulid(net_ms, eui, what, 'gsns', app_ns)}",
        f"rpc:/ttn.lorawan.v3.NsAs/HandleUplink:{_ulid(net_ms, eui, what, 'nsas', app_ns)}",
    ]


def _gateway_eui(tenant: str) -> str:
    """The gateway that hears a tenant's devices (one a commune), locally administered."""
    digest = bytearray(_digest("gateway", tenant, size=8))
    digest[0] = (digest[0] & 0xFC) | 0x02
    return digest.hex().upper()


def _dev_addr(prefix: int, eui: str, session: int) -> str:
    """A DevAddr of the network's NetID block (TTN 0x26000000/7, ChirpStack's default 0/7)."""
    suffix = int.from_bytes(_digest("dev-addr", eui, session, size=4), "big") & 0x01FFFFFF
    return f"{prefix | suffix:08X}"


def _join_eui(profile: _Profile) -> str:
    if profile.codec is not None and isinstance(profile.codec, milesight.MilesightCodec):
        return "24E124C0002A0001"  # Milesight's factory AppEUI
    return "0000000000000000"

