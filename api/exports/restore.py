"""Restore a full export (api/exports/archive.py) into a Phare database: `phare import tenant`.

All or nothing, in one transaction, as the database owner: the archive's checksums are checked
first; every file is loaded by COPY into a temporary table of text columns, then inserted with
its natural keys resolved in the target (tenant slug, device id) and new database ids, the rows
that point to others (alert history, notifications, CAP messages, API key holders) following
through id maps. What the archive does not hold is not restored: API keys (there is no hash to
restore them from; issue new ones), webhook secrets (routes that had one come back disabled,
to be given a new secret).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql

from api.exports.archive import FORMAT, FORMAT_VERSION, MANIFEST
from phare.db import migration_files
from phare.errors import PhareError
from phare.tenancy import Actor, audit


class RestoreError(PhareError):
    """The archive cannot be restored here (the message says why)."""


# What each file becomes, in the order they are loaded. `imp` is the file's temporary table
# (every column text); `t` the target's tenant of the row, `d` its device.
_INSERTS: dict[str, str] = {
    "devices": "insert into devices (tenant_id, id, kind, name, model, location, dev_eui, lorawan_id, "
               "metadata, created_at, last_seen, online, firmware) select t.id, x.id, x.kind, x.name, "
               "x.model, case when x.lat is null then null else st_makepoint(x.lon::float8, "
               "x.lat::float8)::geography end, x.dev_eui, x.lorawan_id, x.metadata::jsonb, "
               "x.created_at::timestamptz, x.last_seen::timestamptz, x.online::boolean, x.firmware from "
               "imp x join tenants t on t.slug = x.tenant",
    "readings": "insert into readings (ts, tenant_id, device_uid, metric, value) select x.ts::timestamptz, "
                "t.id, d.uid, x.metric, x.value::float8 from imp x join tenants t on t.slug = x.tenant "
                "join devices d on d.tenant_id = t.id and d.id = x.device_id",
    "readings_hourly": "insert into readings_hourly (tenant_id, device_uid, metric, bucket, avg, min, max, "
                       "count, last, delta, computed_at) select t.id, d.uid, x.metric, "
                       "x.bucket::timestamptz, x.avg::float8, x.min::float8, x.max::float8, "
                       "x.count::integer, x.last::float8, x.delta::float8, x.computed_at::timestamptz from "
                       "imp x join tenants t on t.slug = x.tenant join devices d on d.tenant_id = t.id and "
                       "d.id = x.device_id",
    "readings_daily": "insert into readings_daily (tenant_id, device_uid, metric, bucket, avg, min, max, "
                      "count, last, delta, computed_at) select t.id, d.uid, x.metric, "
                      "x.bucket::timestamptz, x.avg::float8, x.min::float8, x.max::float8, "
                      "x.count::integer, x.last::float8, x.delta::float8, x.computed_at::timestamptz from "
                      "imp x join tenants t on t.slug = x.tenant join devices d on d.tenant_id = t.id and "
                      "d.id = x.device_id",
    "events": "insert into events (ts, tenant_id, device_uid, type, active, detail, received_at) select "
              "x.ts::timestamptz, t.id, d.uid, x.type, x.active::boolean, x.detail::jsonb, "
              "x.received_at::timestamptz from imp x join tenants t on t.slug = x.tenant join devices d on "
              "d.tenant_id = t.id and d.id = x.device_id",
    "alerts": "insert into alerts (id, tenant_id, device_uid, type, severity, status, source, conditions, "
              "message, text_key, params, opened_at, reopened_at, last_seen_at, occurrences, "
              "acknowledged_at, acknowledged_by, ack_comment, resolved_at, resolved_by, resolution, "
              "escalation_level, escalated_at, updated_at) overriding system value select m.new, t.id, "
              "d.uid, x.type, x.severity, x.status, x.source, x.conditions::text[], x.message, x.text_key, "
              "x.params::jsonb, x.opened_at::timestamptz, x.reopened_at::timestamptz, "
              "x.last_seen_at::timestamptz, x.occurrences::integer, x.acknowledged_at::timestamptz, "
              "x.acknowledged_by, x.ack_comment, x.resolved_at::timestamptz, x.resolved_by, x.resolution, "
              "x.escalation_level::integer, x.escalated_at::timestamptz, x.updated_at::timestamptz from "
              "imp x join map_alerts m on m.old = x.id::bigint join tenants t on t.slug = x.tenant join "
              "devices d on d.tenant_id = t.id and d.id = x.device_id",
    "alert_transitions": "insert into alert_transitions (alert_id, tenant_id, at, kind, from_status, "
                         "to_status, from_severity, to_severity, actor, comment, detail) select m.new, "
                         "t.id, x.at::timestamptz, x.kind, x.from_status, x.to_status, x.from_severity, "
                         "x.to_severity, x.actor, x.comment, x.detail::jsonb from imp x join map_alerts m "
                         "on m.old = x.alert_id::bigint join tenants t on t.slug = x.tenant order by "
                         "x.id::bigint",
    "notification_log": "insert into notification_log (tenant_id, alert_id, route_id, event, channel, "
                        "target, subject, body, status, attempts, error, created_at, next_attempt_at, "
                        "sent_at) select t.id, m.new, r.new, x.event, x.channel, x.target, x.subject, "
                        "x.body, x.status, x.attempts::integer, x.error, x.created_at::timestamptz, "
                        "x.next_attempt_at::timestamptz, x.sent_at::timestamptz from imp x join map_alerts "
                        "m on m.old = x.alert_id::bigint left join map_routes r on r.old = "
                        "x.route_id::bigint join tenants t on t.slug = x.tenant order by x.id::bigint",
    "cap_messages": "insert into cap_messages (tenant_id, alert_id, identifier, msg_type, sent, xml) "
                    "select t.id, m.new, x.identifier, x.msg_type, x.sent::timestamptz, x.xml from imp x "
                    "join map_alerts m on m.old = x.alert_id::bigint join tenants t on t.slug = x.tenant "
                    "order by x.id::bigint",
    "command_groups": "insert into command_groups (id, tenant_id, type, params, selector, source, "
                      "priority, reason, created_at) select x.id::uuid, t.id, x.type, x.params::jsonb, "
                      "x.selector::jsonb, x.source, x.priority::smallint, x.reason, "
                      "x.created_at::timestamptz from imp x join tenants t on t.slug = x.tenant",
    "commands": "insert into commands (id, tenant_id, device_uid, type, params, status, created_at, "
                "sent_at, expires_at, acked_at, detail, attempts, next_attempt_at, last_error, group_id, "
                "source, priority, updated_at) select x.id::uuid, t.id, d.uid, x.type, x.params::jsonb, "
                "x.status, x.created_at::timestamptz, x.sent_at::timestamptz, x.expires_at::timestamptz, "
                "x.acked_at::timestamptz, x.detail::jsonb, x.attempts::integer, "
                "x.next_attempt_at::timestamptz, x.last_error, x.group_id::uuid, x.source, "
                "x.priority::smallint, x.updated_at::timestamptz from imp x join tenants t on t.slug = "
                "x.tenant join devices d on d.tenant_id = t.id and d.id = x.device_id",
    "command_events": "insert into command_events (command_id, tenant_id, at, event, status, attempt, "
                      "detail) select x.command_id::uuid, t.id, x.at::timestamptz, x.event, x.status, "
                      "x.attempt::integer, x.detail::jsonb from imp x join tenants t on t.slug = x.tenant "
                      "order by x.id::bigint",
    "rejected_messages": "insert into rejected_messages (tenant_id, device_id, received_at, topic, reason, "
                         "detail, payload, payload_size, payload_truncated, replayed_at) select t.id, "
                         "x.device_id, x.received_at::timestamptz, x.topic, x.reason, x.detail, "
                         "x.payload::bytea, x.payload_size::integer, x.payload_truncated::boolean, "
                         "x.replayed_at::timestamptz from imp x join tenants t on t.slug = x.tenant order "
                         "by x.id::bigint",
    "users": "insert into users (id, tenant_id, email, name, role, created_at, disabled_at) overriding "
             "system value select m.new, t.id, x.email, x.name, x.role, x.created_at::timestamptz, "
             "x.disabled_at::timestamptz from imp x join map_users m on m.old = x.id::bigint join tenants "
             "t on t.slug = x.tenant",
    "grants": "insert into grants (partner_tenant_id, tenant_id, kinds, expires_at, created_by, "
              "created_at) select p.id, t.id, x.kinds::text[], x.expires_at::timestamptz, x.created_by, "
              "x.created_at::timestamptz from imp x join tenants p on p.slug = x.partner join tenants t on "
              "t.slug = x.tenant order by x.id::bigint",
    "audit_log": "insert into audit_log (at, tenant_id, actor, user_id, action, target, detail) select "
                 "x.at::timestamptz, t.id, x.actor, u.new, x.action, x.target, x.detail::jsonb from imp x "
                 "left join map_users u on u.old = x.user_id::bigint join tenants t on t.slug = x.tenant "
                 "order by x.id::bigint",
    "alert_policies": "insert into alert_policies (tenant_id, escalate_after_s, reopen_window_s, "
                      "max_escalation, updated_at) select t.id, x.escalate_after_s::integer, "
                      "x.reopen_window_s::integer, x.max_escalation::integer, x.updated_at::timestamptz "
                      "from imp x join tenants t on t.slug = x.tenant",
    # Without its secret, a webhook route cannot sign: it comes back disabled.
    "notification_routes": "insert into notification_routes (id, tenant_id, types, min_severity, channel, "
                           "target, escalation_level, lang, notify_resolved, enabled, created_at) "
                           "overriding system value select m.new, t.id, x.types::text[], x.min_severity, "
                           "x.channel, x.target, x.escalation_level::integer, x.lang, "
                           "x.notify_resolved::boolean, x.enabled::boolean and not x.has_secret::boolean, "
                           "x.created_at::timestamptz from imp x join map_routes m on m.old = x.id::bigint "
                           "join tenants t on t.slug = x.tenant",
    "lighting_policies": "insert into lighting_policies (tenant_id, dusk_offset_min, dawn_offset_min, "
                         "evening_level, dim_at, dim_level, off_from, off_until, morning_level, "
                         "safety_level, note, updated_at, updated_by) select t.id, "
                         "x.dusk_offset_min::smallint, x.dawn_offset_min::smallint, "
                         "x.evening_level::smallint, x.dim_at::time, x.dim_level::smallint, "
                         "x.off_from::time, x.off_until::time, x.morning_level::smallint, "
                         "x.safety_level::smallint, x.note, x.updated_at::timestamptz, x.updated_by "
                         "from imp x join tenants t on t.slug = x.tenant",
    "dark_zones": "insert into dark_zones (tenant_id, name, area, level_pct, starts, ends, reason, "
                  "created_at, updated_at, updated_by) select t.id, x.name, "
                  "st_setsrid(st_geomfromgeojson(x.area), 4326), x.level_pct::smallint, "
                  "x.starts::time, x.ends::time, x.reason, x.created_at::timestamptz, "
                  "x.updated_at::timestamptz, x.updated_by from imp x "
                  "join tenants t on t.slug = x.tenant order by x.id::bigint",
    "ground_truth": "insert into ground_truth (run_id, scenario, seed, tenant_id, device_id, type, "
                    "starts_at, ends_at, params, created_at) select x.run_id::uuid, x.scenario, "
                    "x.seed::bigint, t.id, x.device_id, x.type, x.starts_at::timestamptz, "
                    "x.ends_at::timestamptz, x.params::jsonb, x.created_at::timestamptz from imp x join "
                    "tenants t on t.slug = x.tenant order by x.id::bigint",
}
# Old ids of rows other rows point to, mapped to ids taken from the target's sequences.
_MAPS = {"alerts": ("map_alerts", "alerts"), "users": ("map_users", "users"),
         "notification_routes": ("map_routes", "notification_routes")}
# Loaded first (others point to them), then the rest in the archive's order.
_FIRST = ("devices", "users", "notification_routes", "alerts", "command_groups", "commands")
NOT_RESTORED = {"api_keys": "no key hash is exported: issue new keys"}


@dataclass
class Restored:
    """What a restore wrote: rows per table, and what it could not bring back."""

    root: str
    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _check(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(zf.read(MANIFEST))
    except (KeyError, ValueError) as exc:
        raise RestoreError(f"not a Phare export: no readable {MANIFEST}") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise RestoreError(f"not a Phare export of format {FORMAT} v{FORMAT_VERSION}")
    if manifest["schema_version"] > migration_files()[-1][0]:
        raise RestoreError(f"the archive comes from a newer Phare (schema "
                           f"{manifest['schema_version']}): upgrade this one first")
    for f in manifest["files"]:
        digest = hashlib.sha256()
        with zf.open(f["name"]) as member:
            while block := member.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != f["sha256"]:
            raise RestoreError(f"{f['name']} is damaged (its SHA-256 is not the manifest's)")
    return manifest


def _stage(conn: psycopg.Connection, member: IO[bytes]) -> list[str]:
    """The CSV member in temporary table `imp` (text columns); returns its columns."""
    header = next(csv.reader([member.readline().decode("utf-8")]))
    conn.execute("drop table if exists imp")
    conn.execute(sql.SQL("create temporary table imp ({}) on commit drop").format(
        sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in header)))
    with conn.cursor() as cur, cur.copy("copy imp from stdin with (format csv)") as copy:
        while block := member.read(1 << 20):
            copy.write(block)
    return header


def restore(conn: psycopg.Connection, path: Path, *, parent: str | None = None,
            progress: Callable[[str, int], None] | None = None) -> Restored:
    """Restores the archive at `path` in one transaction; RestoreError if it cannot."""
    with zipfile.ZipFile(path) as zf:
        manifest = _check(zf)
        files = {f["table"]: f for f in manifest["files"]}
        result = Restored(root=manifest["tenant"]["slug"])
        try:
            with conn.transaction():
                _tenants(conn, zf, result, parent)
                order = [*_FIRST, *(t for t in files if t not in _FIRST)]
                for table in order:
                    if table == "tenants":
                        continue
                    if table in NOT_RESTORED:
                        result.notes.append(f"{table}: {files[table]['rows']} not restored, "
                                            f"{NOT_RESTORED[table]}")
                        continue
                    if table not in _INSERTS:
                        raise RestoreError(f"this Phare cannot restore {table}.csv")
                    with zf.open(files[table]["name"]) as member:
                        _stage(conn, member)
                    if table in _MAPS:
                        name, source = _MAPS[table]
                        conn.execute(sql.SQL(
                            "create temporary table {} on commit drop as select x.id::bigint "
                            "as old, nextval(pg_get_serial_sequence(%s, 'id')) as new from imp x "
                            "order by x.id::bigint").format(sql.Identifier(name)), (source,))
                    rows = conn.execute(sql.SQL(_INSERTS[table])).rowcount  # type: ignore[arg-type]
                    if rows != files[table]["rows"]:
                        raise RestoreError(f"{table}: {rows} rows restored of "
                                           f"{files[table]['rows']} (rows whose tenant, device "
                                           "or partner the archive does not hold?)")
                    result.rows[table] = rows
                    if progress is not None:
                        progress(table, rows)
                disabled = conn.execute("select count(*) from notification_routes r "
                                        "join tenants t on t.id = r.tenant_id "
                                        "where t.slug = %s and not r.enabled",
                                        (result.root,)).fetchone()
                tenant_id = conn.execute("select id from tenants where slug = %s",
                                         (result.root,)).fetchone()
                assert tenant_id is not None
                audit(conn, Actor.cli(), tenant_id=tenant_id[0], action="tenant.import",
                      target=result.root, detail={"file": str(path), "rows": result.rows})
        except psycopg.errors.UniqueViolation as exc:
            raise RestoreError(f"already here: {exc.diag.message_detail or exc}") from exc
        except psycopg.Error as exc:
            raise RestoreError(f"the archive does not fit this database: {exc}") from exc
    if disabled and disabled[0]:
        result.notes.append("notification routes: webhooks that had a signing secret are "
                            "disabled until given a new one")
    return result


def _tenants(conn: psycopg.Connection, zf: zipfile.ZipFile, result: Restored,
             parent: str | None) -> None:
    """The tenants, parents first; the root under `parent`, or its old parent if this
    database has it, or at the top. Partners named by grants are created if absent."""
    rows = list(csv.DictReader(io.TextIOWrapper(zf.open("tenants.csv"), "utf-8")))
    slugs = {r["slug"] for r in rows}
    taken = [r[0] for r in conn.execute("select slug from tenants where slug = any(%s)",
                                        (list(slugs),))]
    if taken:
        raise RestoreError(f"tenant(s) {', '.join(sorted(taken))} already exist here")
    if parent is not None and conn.execute("select 1 from tenants where slug = %s",
                                           (parent,)).fetchone() is None:
        raise RestoreError(f"no tenant '{parent}' to restore under")
    placed: set[str] = set()
    while len(placed) < len(rows):
        ready = [r for r in rows if r["slug"] not in placed
                 and (r["slug"] == result.root or r["parent"] in placed)]
        if not ready:
            raise RestoreError("tenants.csv is not a tree under the exported tenant")
        for r in ready:
            up = r["parent"] or None
            if r["slug"] == result.root:
                known = up and conn.execute("select 1 from tenants where slug = %s",
                                            (up,)).fetchone()
                up = parent or (up if known else None)
            conn.execute("insert into tenants (slug, name, parent_id, kind, created_at) "
                         "values (%s, %s, (select id from tenants where slug = %s), %s, %s)",
                         (r["slug"], r["name"], up, r["kind"], r["created_at"]))
            placed.add(r["slug"])
    result.rows["tenants"] = len(rows)
    grants = csv.DictReader(io.TextIOWrapper(zf.open("grants.csv"), "utf-8"))
    for g in grants:
        created = conn.execute(
            "insert into tenants (slug, name, kind) values (%s, %s, 'partner') "
            "on conflict (slug) do nothing returning id", (g["partner"], g["partner_name"]))
        if created.fetchone() is not None:
            result.notes.append(f"partner {g['partner']} created for its grant")
