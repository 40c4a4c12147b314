"""Which devices and tenants exist: cached lookups for the writer, never in the MQTT thread.

Native messages name their device by (tenant slug, device id); LoRaWAN uplinks by DevEUI
and the network server's device id, matched by DevEUI first, then by device id (contract §5).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

# A device registered through the API must be accepted within 2 s (contract §5).
NEGATIVE_TTL_S = 1.0


@dataclass(frozen=True, slots=True)
class DeviceRef:
    uid: int
    tenant_id: int
    kind: str
    id: str = ""               # the device id within its tenant
    model: str | None = None   # devices.models name: how its LoRaWAN uplinks are decoded


LorawanKey = tuple[str | None, str | None]  # (DevEUI upper-case, network-server device id)


class Registry:
    """Resolves (tenant slug, device id) to registered devices, with a cache.

    Known devices are cached for the life of the process; unknown ones for one second,
    so that a flood from an unregistered device costs one query a second, not one a message.
    """

    def __init__(self) -> None:
        self._devices: dict[tuple[str, str], DeviceRef] = {}
        self._tenants: dict[str, int] = {}
        self._unknown: dict[tuple[str, str], float] = {}
        self._lorawan: dict[LorawanKey, DeviceRef] = {}
        self._lorawan_unknown: dict[LorawanKey, tuple[float, str]] = {}  # (until, why)

    def resolve(
        self, conn: psycopg.Connection, keys: set[tuple[str, str]]
    ) -> dict[tuple[str, str], DeviceRef]:
        """The registered devices among `keys` (tenant slug, device id)."""
        now = time.monotonic()
        missing = [
            k for k in keys
            if k not in self._devices and self._unknown.get(k, 0.0) <= now
        ]
        if missing:
            rows = conn.execute(
                "select t.slug, d.id, d.uid, d.tenant_id, d.kind, d.model "
                "from unnest(%s::text[], %s::text[]) k(slug, id) "
                "join tenants t on t.slug = k.slug "
                "join devices d on d.tenant_id = t.id and d.id = k.id",
                ([k[0] for k in missing], [k[1] for k in missing]),
            ).fetchall()
            for slug, device_id, uid, tenant_id, kind, model in rows:
                self._devices[(slug, device_id)] = DeviceRef(uid, tenant_id, kind, device_id, model)
                self._tenants[slug] = tenant_id
            for k in missing:
                if k not in self._devices:
                    self._unknown[k] = now + NEGATIVE_TTL_S
            if len(self._unknown) > 100_000:  # garbage topics must not grow memory forever
                self._unknown = {k: v for k, v in self._unknown.items() if v > now}
        return {k: self._devices[k] for k in keys if k in self._devices}

    def resolve_lorawan(
        self, conn: psycopg.Connection, keys: set[LorawanKey]
    ) -> dict[LorawanKey, DeviceRef | str]:
        """For each (DevEUI, network-server device id): its device, or why none matches.

        The DevEUI decides when it is registered. Otherwise the device id decides, if exactly
        one device was registered with it and no other DevEUI (a device registered with
        another DevEUI is another device).
        """
        now = time.monotonic()
        missing = [
            k for k in keys
            if k not in self._lorawan and self._lorawan_unknown.get(k, (0.0, ""))[0] <= now
        ]
        if missing:
            euis = sorted({k[0] for k in missing if k[0]})
            ns_ids = sorted({k[1] for k in missing if k[1]})
            rows = conn.execute(
                "select d.dev_eui, d.lorawan_id, d.uid, d.tenant_id, d.kind, d.id, d.model "
                "from devices d where d.dev_eui = any(%s) or d.lorawan_id = any(%s)",
                (euis, ns_ids),
            ).fetchall()
            by_eui: dict[str, DeviceRef] = {}
            by_ns_id: dict[str, list[tuple[str | None, DeviceRef]]] = {}
            for eui, ns_id, uid, tenant_id, kind, device_id, model in rows:
                ref = DeviceRef(uid, tenant_id, kind, device_id, model)
                if eui:
                    by_eui[eui] = ref
                if ns_id:
                    by_ns_id.setdefault(ns_id, []).append((eui, ref))
            for key in missing:
                match = _match(key, by_eui, by_ns_id)
                if isinstance(match, DeviceRef):
                    self._lorawan[key] = match
                else:
                    self._lorawan_unknown[key] = (now + NEGATIVE_TTL_S, match)
            if len(self._lorawan_unknown) > 100_000:
                self._lorawan_unknown = {
                    k: v for k, v in self._lorawan_unknown.items() if v[0] > now
                }
        return {k: self._lorawan.get(k) or self._lorawan_unknown[k][1] for k in keys}

    def tenant_ids(self, conn: psycopg.Connection, slugs: set[str]) -> dict[str, int]:
        """The ids of the existing tenants among `slugs`."""
        missing = [s for s in slugs if s not in self._tenants]
        if missing:
            for slug, tenant_id in conn.execute(
                "select slug, id from tenants where slug = any(%s)", (missing,)
            ):
                self._tenants[slug] = tenant_id
        return {s: self._tenants[s] for s in slugs if s in self._tenants}


def _match(key: LorawanKey, by_eui: dict[str, DeviceRef],
           by_ns_id: dict[str, list[tuple[str | None, DeviceRef]]]) -> DeviceRef | str:
    """The device of an uplink's identifiers, or a sentence saying why there is none."""
    eui, ns_id = key
    if eui and eui in by_eui:
        return by_eui[eui]
    named = by_ns_id.get(ns_id, []) if ns_id else []
    candidates = [ref for registered_eui, ref in named if eui is None or registered_eui is None]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        return (f"network-server device id '{ns_id}' is registered for {len(candidates)} "
                "devices: register the DevEUI to tell them apart"
                + (f" (the uplink's DevEUI {eui} is registered for none)" if eui else ""))
    if eui and ns_id:
        why = f"no device is registered with DevEUI {eui} or network-server device id '{ns_id}'"
        if named:
            why += (f" (a device has network-server device id '{ns_id}', but another DevEUI: "
                    "it is another device)")
        return why
    if eui:
        return f"no device is registered with DevEUI {eui} (the uplink names no device id)"
    if ns_id:
        return (f"no device is registered with network-server device id '{ns_id}' "
                "(the uplink has no DevEUI)")
    return "the uplink names neither a DevEUI nor a device id"
