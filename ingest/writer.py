"""Writes batches of decoded messages to TimescaleDB in one transaction, with COPY.

Readings are copied straight into `readings`; a batch that holds a value already stored (a
resent or redelivered message: the (device, metric, ts) unique index refuses it) is copied
again through a temporary staging table and `insert ... on conflict do nothing`, so it is
stored once. The direct COPY costs PostgreSQL half as much as the staging merge, whose
speculative insertion checks the index twice; after a batch with duplicates the writer keeps
to the staging path for a while, since redeliveries come in runs.
LoRaWAN uplinks are matched to devices here (DevEUI first, then the network server's device
id) and decoded with the device model's codec and mapping (`ingest/lorawan.py`).
Events and the readings the alert rules act on also go to the alerts outbox, in the batch's
own transaction (`alerts/outbox.py`).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import psycopg

from alerts import outbox
from analytics.rollups import mark_dirty
from commands.acks import apply_ack
from devices.messages import CommandAck
from ingest.lorawan import uplink_values
from ingest.model import Decoded, Reason, Rejection
from ingest.registry import DeviceRef, LorawanKey, Registry

log = logging.getLogger(__name__)

# A rejected payload is kept whole up to this size (enough to replay it), else its start.
MAX_KEPT_PAYLOAD = 64 * 1024
EXCERPT = 4096
# Batches written through the staging table after one that held duplicates.
STAGED_AFTER_DUPLICATES = 20

_STAGE = (
    "create temporary table if not exists stage_readings "
    "(ts timestamptz, tenant_id integer, device_uid integer, metric text, value float8) "
    "on commit delete rows"
)
_COPY = (
    "copy stage_readings (ts, tenant_id, device_uid, metric, value) from stdin (format binary)"
)
_COPY_DIRECT = "copy readings (ts, tenant_id, device_uid, metric, value) from stdin (format binary)"
_COPY_TYPES = ["timestamptz", "int4", "int4", "text", "float8"]
_MERGE = (
    "insert into readings (ts, tenant_id, device_uid, metric, value) "
    "select ts, tenant_id, device_uid, metric, value from stage_readings "
    "on conflict do nothing"
)


@dataclass(slots=True)
class WriteResult:
    """What one batch did."""

    values_stored: int = 0
    values_duplicate: int = 0
    values_ignored: int = 0  # decoded LoRaWAN values that are not numbers (contract §5)
    events_stored: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


class Writer:
    """Owns one database connection and writes batches through it."""

    def __init__(self, conn: psycopg.Connection, registry: Registry | None = None) -> None:
        self.conn = conn
        self.registry = registry or Registry()
        self._staged_batches = 0  # batches left to write through the staging table
        conn.execute(_STAGE)
        conn.commit()

    def write(self, batch: list[Decoded]) -> WriteResult:
        """Stores a batch in one transaction.

        Raises psycopg.OperationalError when the database is unreachable (the caller retries
        the same batch). A batch that fails for another reason is written message by message,
        so one poison message is rejected alone and never blocks the others.
        """
        try:
            return self._write(batch)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            # `_write`'s transaction block has already rolled the batch back.
            log.warning("batch of %d failed (%s); writing message by message", len(batch), exc)
        result = WriteResult()
        for decoded in batch:
            try:
                one = self._write([decoded])
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                failed = Decoded(topic=decoded.topic, payload=decoded.payload,
                                 tenant=decoded.tenant, device_id=decoded.device_id,
                                 dev_eui=decoded.dev_eui, ns_device_id=decoded.ns_device_id)
                failed.reject(Reason.STORAGE_ERROR, f"the database refused it: {_first_line(exc)}")
                one = self._write([failed])
            _merge(result, one)
        return result

    def _write(self, batch: list[Decoded]) -> WriteResult:
        conn = self.conn
        result = WriteResult()
        with conn.transaction():
            keys = {(d.tenant, d.device_id) for d in batch if d.has_data and d.tenant and d.device_id}
            devices = self.registry.resolve(conn, keys)  # type: ignore[arg-type]
            # Even a message with nothing to store is matched, so that its rejection is
            # kept under the tenant of the device its topic names.
            lorawan_keys = {_lorawan_key(d) for d in batch if _is_lorawan(d)}
            lorawan = self.registry.resolve_lorawan(conn, lorawan_keys) if lorawan_keys else {}
            rows: list[tuple[datetime, int, int, str, float]] = []
            rejected: list[tuple[Decoded, Rejection, DeviceRef | None]] = []
            events: list[tuple[datetime, int, int, str, bool, str]] = []
            seen: list[tuple[int, Decoded]] = []
            for d in batch:
                ref: DeviceRef | None = None
                unknown: Rejection | None = None
                if _is_lorawan(d):
                    match = lorawan[_lorawan_key(d)]
                    if isinstance(match, DeviceRef):
                        ref = match
                    elif d.has_data:
                        unknown = Rejection(Reason.UNKNOWN_DEVICE, match)
                elif d.has_data:
                    ref = devices.get((d.tenant, d.device_id))  # type: ignore[arg-type]
                    if ref is None:
                        unknown = _unknown_device(conn, self.registry, d)
                rejected.extend((d, r, ref) for r in d.rejections)
                if unknown is not None:
                    rejected.append((d, unknown, None))
                if ref is None or not d.has_data:
                    continue
                rows.extend((ts, ref.tenant_id, ref.uid, m, v) for ts, m, v in d.values)
                for uplink in d.uplinks:
                    values, problems, ignored = uplink_values(uplink, ref.model)
                    rows.extend((ts, ref.tenant_id, ref.uid, m, v) for ts, m, v in values)
                    rejected.extend((d, r, ref) for r in problems)
                    result.values_ignored += ignored
                events.extend(
                    (e.ts, ref.tenant_id, ref.uid, e.type, e.active, orjson.dumps(e.detail).decode())
                    for e in d.events
                )
                seen.append((ref.uid, d))
                for ack in d.acks:
                    problem = self._apply_ack(ref, ack)
                    if problem:
                        rejected.append((d, problem, ref))
            if rows:
                result.values_stored = self._copy_readings(rows)
                if result.values_stored:  # rollups recompute the hours this batch touched
                    mark_dirty(conn, rows)
                result.values_duplicate = len(rows) - result.values_stored
            if events:
                with conn.cursor() as cur:
                    cur.executemany(
                        "insert into events (ts, tenant_id, device_uid, type, active, detail) "
                        "values (%s, %s, %s, %s, %s, %s::jsonb) on conflict do nothing",
                        events,
                    )
                result.events_stored = len(events)
            if rows or events:  # the alert rules' share of the batch, committed with it
                outbox.add(conn, rows, events, refs=(*devices.values(), *lorawan.values()))
            if seen:
                self._touch_devices(seen)
            if rejected:
                self._store_rejections(rejected)
                result.rejected.update(r.reason.value for _, r, _ in rejected)
        return result

    def _copy_readings(self, rows: list[tuple[datetime, int, int, str, float]]) -> int:
        """Stores rows, each (device, metric, ts) once; returns how many were new."""
        if self._staged_batches == 0:
            try:
                with self.conn.transaction():  # a savepoint: a duplicate undoes this COPY alone
                    with self.conn.cursor() as cur:
                        _copy_rows(cur, _COPY_DIRECT, rows)
                return len(rows)
            except psycopg.errors.UniqueViolation:
                self._staged_batches = STAGED_AFTER_DUPLICATES
        with self.conn.cursor() as cur:
            _copy_rows(cur, _COPY, rows)
            cur.execute(_MERGE)
            stored = cur.rowcount
        if stored < len(rows):
            self._staged_batches = STAGED_AFTER_DUPLICATES
        elif self._staged_batches:
            self._staged_batches -= 1
        return stored

    def _touch_devices(self, seen: list[tuple[int, Decoded]]) -> None:
        """Updates last_seen for every device heard, and online/firmware from status messages."""
        uids = sorted({uid for uid, _ in seen})
        self.conn.execute(
            "update devices set last_seen = now() where uid = any(%s)", (uids,)
        )
        for uid, d in seen:
            if d.status is not None:
                self.conn.execute(
                    "update devices set online = %s, firmware = coalesce(%s, firmware) "
                    "where uid = %s",
                    (d.status.online, d.status.fw, uid),
                )

    def _apply_ack(self, ref: DeviceRef, ack: CommandAck) -> Rejection | None:
        """Applies a command acknowledgement (commands/acks.py says what it does)."""
        problem = apply_ack(self.conn, device_uid=ref.uid, ack=ack, now=datetime.now(UTC))
        return None if problem is None else Rejection(Reason.INVALID_ACK, problem)

    def _store_rejections(self, rejected: list[tuple[Decoded, Rejection, DeviceRef | None]]) -> None:
        """Keeps rejected messages under their device's tenant when it is known."""
        slugs = {d.tenant for d, _, ref in rejected if d.tenant and ref is None}
        tenant_ids = self.registry.tenant_ids(self.conn, slugs)  # type: ignore[arg-type]
        rows = []
        for d, r, ref in rejected:
            payload = d.payload
            truncated = len(payload) > MAX_KEPT_PAYLOAD
            tenant_id: int | None
            if ref is not None:
                tenant_id, device_id = ref.tenant_id, ref.id or d.device_id
            else:
                tenant_id = tenant_ids.get(d.tenant) if d.tenant else None
                device_id = d.device_id or d.ns_device_id or d.dev_eui
            rows.append((
                tenant_id, device_id, d.topic[:1024], r.reason.value, r.detail[:2000],
                payload[:EXCERPT] if truncated else payload, len(payload), truncated,
            ))
        with self.conn.cursor() as cur:
            cur.executemany(
                "insert into rejected_messages (tenant_id, device_id, topic, reason, detail, "
                "payload, payload_size, payload_truncated) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )


def _unknown_device(conn: psycopg.Connection, registry: Registry, d: Decoded) -> Rejection:
    if d.tenant not in registry.tenant_ids(conn, {d.tenant}):  # type: ignore[arg-type]
        return Rejection(Reason.UNKNOWN_DEVICE, f"tenant '{d.tenant}' does not exist")
    return Rejection(
        Reason.UNKNOWN_DEVICE,
        f"device '{d.device_id}' is not registered in tenant '{d.tenant}'",
    )


def _is_lorawan(d: Decoded) -> bool:
    """An uplink from a network server: named by DevEUI or device id, not by a tenant."""
    return d.tenant is None and (d.dev_eui is not None or d.ns_device_id is not None)


def _lorawan_key(d: Decoded) -> LorawanKey:
    return (d.dev_eui.upper() if d.dev_eui else None, d.ns_device_id)


def _copy_rows(cur: psycopg.Cursor, statement: str,
               rows: list[tuple[datetime, int, int, str, float]]) -> None:
    with cur.copy(statement) as copy:
        copy.set_types(_COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def _merge(total: WriteResult, one: WriteResult) -> None:
    total.values_stored += one.values_stored
    total.values_duplicate += one.values_duplicate
    total.values_ignored += one.values_ignored
    total.events_stored += one.events_stored
    total.rejected.update(one.rejected)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
