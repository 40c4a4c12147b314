"""Which devices and tenants exist: cached lookups for the writer, never in the MQTT thread."""

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


class Registry:
    """Resolves (tenant slug, device id) to registered devices, with a cache.

    Known devices are cached for the life of the process; unknown ones for one second,
    so that a flood from an unregistered device costs one query a second, not one a message.
    """

    def __init__(self) -> None:
        self._devices: dict[tuple[str, str], DeviceRef] = {}
        self._tenants: dict[str, int] = {}
        self._unknown: dict[tuple[str, str], float] = {}

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
                "select t.slug, d.id, d.uid, d.tenant_id, d.kind "
                "from unnest(%s::text[], %s::text[]) k(slug, id) "
                "join tenants t on t.slug = k.slug "
                "join devices d on d.tenant_id = t.id and d.id = k.id",
                ([k[0] for k in missing], [k[1] for k in missing]),
            ).fetchall()
            for slug, device_id, uid, tenant_id, kind in rows:
                self._devices[(slug, device_id)] = DeviceRef(uid, tenant_id, kind)
                self._tenants[slug] = tenant_id
            for k in missing:
                if k not in self._devices:
                    self._unknown[k] = now + NEGATIVE_TTL_S
            if len(self._unknown) > 100_000:  # garbage topics must not grow memory forever
                self._unknown = {k: v for k, v in self._unknown.items() if v > now}
        return {k: self._devices[k] for k in keys if k in self._devices}

    def tenant_ids(self, conn: psycopg.Connection, slugs: set[str]) -> dict[str, int]:
        """The ids of the existing tenants among `slugs`."""
        missing = [s for s in slugs if s not in self._tenants]
        if missing:
            for slug, tenant_id in conn.execute(
                "select slug, id from tenants where slug = any(%s)", (missing,)
            ):
                self._tenants[slug] = tenant_id
        return {s: self._tenants[s] for s in slugs if s in self._tenants}
