"""Exports: devices, readings, alerts and latest values within a key's scope, for bulk formats."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

DEVICE_HEADER = ("tenant", "id", "kind", "name", "model", "lat", "lon", "dev_eui", "firmware",
                 "online", "last_seen", "created_at")
READING_HEADER = ("tenant", "device_id", "metric", "ts", "value")
# How far back "latest value" looks: a device silent for longer has none (keeps the scan small).
LATEST_WINDOW = timedelta(days=7)

_DEVICES = (
    "select t.slug as tenant, d.id, d.kind, d.name, d.model, "
    "st_y(d.location::geometry) as lat, st_x(d.location::geometry) as lon, d.dev_eui, "
    "d.firmware, d.online, d.last_seen, d.created_at, d.uid, d.metadata "
    "from devices d join tenants t on t.id = d.tenant_id "
    "where d.tenant_id = any(%(scope)s) and (%(kind)s::text is null or d.kind = %(kind)s) "
    "order by t.slug, d.id"
)


def list_devices(conn: psycopg.Connection, *, scope: frozenset[int],
                 kind: str | None = None) -> list[dict[str, Any]]:
    """Every device of `scope` (of `kind`), by tenant then id, with its position."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_DEVICES, {"scope": list(scope), "kind": kind}).fetchall()


def latest_readings(conn: psycopg.Connection, *, uids: list[int],
                    now: datetime) -> dict[int, dict[str, tuple[datetime, float]]]:
    """Each device's latest value of each metric, within `LATEST_WINDOW` before `now`."""
    rows = conn.execute(
        "select distinct on (device_uid, metric) device_uid, metric, ts, value from readings "
        "where device_uid = any(%s) and ts > %s and ts <= %s "
        "order by device_uid, metric, ts desc", (uids, now - LATEST_WINDOW, now)).fetchall()
    latest: dict[int, dict[str, tuple[datetime, float]]] = {}
    for uid, metric, ts, value in rows:
        latest.setdefault(uid, {})[metric] = (ts, value)
    return latest


def list_alerts(conn: psycopg.Connection, *, scope: frozenset[int], status: str | None,
                type: str | None) -> list[dict[str, Any]]:
    """The alerts of `scope`, newest first, with their device's kind and position."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select a.id, t.slug as tenant, d.id as device_id, d.kind, a.type, a.severity, "
            "a.status, a.message, a.opened_at, a.acknowledged_at, a.resolved_at, "
            "st_y(d.location::geometry) as lat, st_x(d.location::geometry) as lon "
            "from alerts a join tenants t on t.id = a.tenant_id "
            "join devices d on d.uid = a.device_uid "
            "where a.tenant_id = any(%(scope)s) "
            "and (%(status)s::text is null or a.status = %(status)s) "
            "and (%(type)s::text is null or a.type = %(type)s) "
            "order by a.opened_at desc, a.id desc",
            {"scope": list(scope), "status": status, "type": type}).fetchall()


def stream_readings(conn: psycopg.Connection, *, scope: frozenset[int], start: datetime,
                    end: datetime, tenant_id: int | None, device_id: str | None,
                    metric: str | None, batch: int = 5000) -> Iterator[tuple[Any, ...]]:
    """Readings of `scope` in [start, end), by device, metric and time, from a server-side
    cursor (the caller holds the transaction and its scope)."""
    with conn.cursor(name="phare_export_readings") as cur:
        cur.itersize = batch
        cur.execute(
            "select t.slug, d.id, r.metric, r.ts, r.value from readings r "
            "join devices d on d.uid = r.device_uid join tenants t on t.id = d.tenant_id "
            "where r.tenant_id = any(%(scope)s) and r.ts >= %(start)s and r.ts < %(end)s "
            "and (%(tenant)s::int is null or d.tenant_id = %(tenant)s) "
            "and (%(device)s::text is null or d.id = %(device)s) "
            "and (%(metric)s::text is null or r.metric = %(metric)s) "
            "order by t.slug, d.id, r.metric, r.ts",
            {"scope": list(scope), "start": start, "end": end, "tenant": tenant_id,
             "device": device_id, "metric": metric})
        yield from cur


# --- full export of a tenant (reversibility) -------------------------------------------------
# One file per table, `%(tenants)s` the tenant and those below it. Rows name their tenant by
# slug and their device by (tenant, id), the keys a restore elsewhere needs (database ids differ
# there); rows other rows point to (alerts, commands…) keep their id here, which those rows cite.
# No secrets: API keys without their hash, notification routes without their signing secret.
# tests/api/test_full_export.py fails when a tenant table is neither here nor in FULL_SKIPPED.
@dataclass(frozen=True, slots=True)
class FullTable:
    name: str            # the file is <name>.csv
    query: str
    about_fr: str        # one line of the archive's LISEZMOI
    large: bool = False  # may exceed 4 GiB (ZIP64)


FULL_TABLES: tuple[FullTable, ...] = (
    FullTable("tenants",
              "select x.slug, x.name, p.slug as parent, x.kind, x.created_at from tenants x "
              "left join tenants p on p.id = x.parent_id where x.id = any(%(tenants)s) "
              "order by x.id",
              "la collectivité et celles qui en dépendent (parent : slug de la collectivité "
              "au-dessus)"),
    FullTable("devices",
              "select t.slug as tenant, x.id, x.kind, x.name, x.model, "
              "st_y(x.location::geometry) as lat, st_x(x.location::geometry) as lon, x.dev_eui, "
              "x.lorawan_id, x.metadata, x.created_at, x.last_seen, x.online, x.firmware from "
              "devices x join tenants t on t.id = x.tenant_id "
              "where x.tenant_id = any(%(tenants)s) order by t.slug, x.id",
              "les équipements : position en WGS 84 (lat, lon), identifiants LoRaWAN (dev_eui, "
              "lorawan_id), métadonnées (circuits, politique d'éclairage, bâtiment…) en JSON"),
    FullTable("readings",
              "select t.slug as tenant, d.id as device_id, x.metric, x.ts, x.value "
              "from readings x join tenants t on t.id = x.tenant_id join devices d on d.uid = "
              "x.device_uid where x.tenant_id = any(%(tenants)s)",
              "toutes les mesures brutes conservées (une ligne par valeur)", large=True),
    FullTable("readings_hourly",
              "select t.slug as tenant, d.id as device_id, x.metric, x.bucket, x.avg, x.min, "
              "x.max, x.count, x.last, x.delta, x.computed_at "
              "from readings_hourly x join tenants t on t.id = x.tenant_id join devices d on d.uid = "
              "x.device_uid where x.tenant_id = any(%(tenants)s)",
              "agrégats horaires (heures UTC) : moyenne, min, max, nombre, dernière valeur, "
              "consommation de l'heure pour les index", large=True),
    FullTable("readings_daily",
              "select t.slug as tenant, d.id as device_id, x.metric, x.bucket, x.avg, x.min, "
              "x.max, x.count, x.last, x.delta, x.computed_at "
              "from readings_daily x join tenants t on t.id = x.tenant_id join devices d on d.uid = "
              "x.device_uid where x.tenant_id = any(%(tenants)s)",
              "agrégats journaliers (jours de Paris : bucket = début du jour local)",
              large=True),
    FullTable("events",
              "select t.slug as tenant, d.id as device_id, x.ts, x.type, x.active, x.detail, "
              "x.received_at from events x join tenants t on t.id = x.tenant_id join devices d on d.uid "
              "= x.device_uid where x.tenant_id = any(%(tenants)s) order by x.ts",
              "les événements signalés par les équipements (porte ouverte, fumée…)"),
    FullTable("alerts",
              "select x.id, t.slug as tenant, d.id as device_id, x.type, x.severity, x.status, "
              "x.source, x.conditions, x.message, x.text_key, x.params, x.opened_at, "
              "x.reopened_at, x.last_seen_at, x.occurrences, x.acknowledged_at, "
              "x.acknowledged_by, x.ack_comment, x.resolved_at, x.resolved_by, x.resolution, "
              "x.escalation_level, x.escalated_at, x.updated_at from alerts x join tenants t on t.id = "
              "x.tenant_id join devices d on d.uid = x.device_uid where x.tenant_id = any(%(tenants)s) "
              "order by x.id",
              "les alertes"),
    FullTable("alert_transitions",
              "select x.id, x.alert_id, t.slug as tenant, x.at, x.kind, x.from_status, "
              "x.to_status, x.from_severity, x.to_severity, x.actor, x.actor_key_id, x.comment, "
              "x.detail from alert_transitions x join tenants t on t.id = x.tenant_id where x.tenant_id "
              "= any(%(tenants)s) order by x.id",
              "l'historique de chaque alerte (ouverture, acquittement, escalade, résolution)"),
    FullTable("notification_log",
              "select x.id, t.slug as tenant, x.alert_id, x.route_id, x.event, x.channel, "
              "x.target, x.subject, x.body, x.status, x.attempts, x.error, x.created_at, "
              "x.next_attempt_at, x.sent_at from notification_log x join tenants t on t.id = x.tenant_id "
              "where x.tenant_id = any(%(tenants)s) order by x.id",
              "les notifications envoyées (courriel, webhook, MQTT) et leur sort"),
    FullTable("cap_messages",
              "select x.id, t.slug as tenant, x.alert_id, x.identifier, x.msg_type, x.sent, "
              "x.xml from cap_messages x join tenants t on t.id = x.tenant_id where x.tenant_id = "
              "any(%(tenants)s) order by x.id",
              "les messages CAP 1.2 émis pour les alertes feu et inondation"),
    FullTable("command_groups",
              "select x.id, t.slug as tenant, x.type, x.params, x.selector, x.source, "
              "x.priority, x.reason, x.requested_by, x.created_at "
              "from command_groups x join tenants t on t.id = x.tenant_id where x.tenant_id = "
              "any(%(tenants)s) order by x.created_at, x.id",
              "les demandes de commande adressées à plusieurs équipements"),
    FullTable("commands",
              "select x.id, t.slug as tenant, d.id as device_id, x.type, x.params, x.status, "
              "x.created_at, x.sent_at, x.expires_at, x.acked_at, x.detail, x.attempts, "
              "x.next_attempt_at, x.last_error, x.group_id, x.source, x.priority, "
              "x.requested_by, x.updated_at from commands x join tenants t on t.id = x.tenant_id join "
              "devices d on d.uid = x.device_uid where x.tenant_id = any(%(tenants)s) "
              "order by x.created_at, x.id",
              "les commandes envoyées aux équipements (allumage, gradation, programmes)"),
    FullTable("command_events",
              "select x.id, x.command_id, t.slug as tenant, x.at, x.event, x.status, x.attempt, "
              "x.detail from command_events x join tenants t on t.id = x.tenant_id where x.tenant_id = "
              "any(%(tenants)s) order by x.id",
              "l'historique de chaque commande (envoi, renvoi, accusé de réception…)"),
    FullTable("rejected_messages",
              "select x.id, t.slug as tenant, x.device_id, x.received_at, x.topic, x.reason, "
              "x.detail, x.payload, x.payload_size, x.payload_truncated, x.replayed_at "
              "from rejected_messages x join tenants t on t.id = x.tenant_id where x.tenant_id = "
              "any(%(tenants)s) order by x.id",
              "les messages refusés, avec la raison et le contenu reçu (payload en "
              "hexadécimal)"),
    FullTable("users",
              "select x.id, t.slug as tenant, x.email, x.name, x.role, x.created_at, "
              "x.disabled_at from users x join tenants t on t.id = x.tenant_id where x.tenant_id = "
              "any(%(tenants)s) order by x.id",
              "les utilisateurs et leur rôle (aucun mot de passe n'est stocké par Phare)"),
    FullTable("api_keys",
              "select x.id, t.slug as tenant, x.role, x.prefix, x.name, x.user_id, x.created_at, "
              "x.revoked_at from api_keys x join tenants t on t.id = x.tenant_id where x.tenant_id = "
              "any(%(tenants)s) order by x.id",
              "les clés d'API, sans la clé elle-même ni son empreinte : il faudra en créer de "
              "nouvelles"),
    FullTable("grants",
              "select x.id, p.slug as partner, p.name as partner_name, t.slug as tenant, x.kinds, "
              "x.expires_at, x.created_by, x.created_at from grants x "
              "join tenants p on p.id = x.partner_tenant_id join tenants t on t.id = x.tenant_id where "
              "x.tenant_id = any(%(tenants)s) order by x.id",
              "les accès accordés aux partenaires (délégataire de l'eau, SDIS…)"),
    FullTable("audit_log",
              "select x.id, x.at, t.slug as tenant, x.actor, x.key_id, x.user_id, x.action, "
              "x.target, x.detail from audit_log x join tenants t on t.id = x.tenant_id where "
              "x.tenant_id = any(%(tenants)s) order by x.id",
              "le journal d'audit : qui a changé quoi, quand"),
    FullTable("alert_policies",
              "select t.slug as tenant, x.escalate_after_s, x.reopen_window_s, x.max_escalation, "
              "x.updated_at from alert_policies x join tenants t on t.id = x.tenant_id where x.tenant_id "
              "= any(%(tenants)s) order by t.slug",
              "la politique d'alerte propre à la collectivité (délais d'escalade, réouverture)"),
    FullTable("notification_routes",
              "select x.id, t.slug as tenant, x.types, x.min_severity, x.channel, x.target, "
              "x.secret is not null as has_secret, x.escalation_level, x.lang, "
              "x.notify_resolved, x.enabled, x.created_at from notification_routes x join tenants t on "
              "t.id = x.tenant_id where x.tenant_id = any(%(tenants)s) "
              "order by x.id",
              "qui est prévenu de quoi (le secret de signature des webhooks n'est pas exporté)"),
    FullTable("lighting_policies",
              "select t.slug as tenant, x.dusk_offset_min, x.dawn_offset_min, x.evening_level, "
              "x.dim_at, x.dim_level, x.off_from, x.off_until, x.morning_level, x.safety_level, "
              "x.note, x.updated_at, x.updated_by from lighting_policies x "
              "join tenants t on t.id = x.tenant_id where x.tenant_id = any(%(tenants)s) "
              "order by t.slug",
              "la politique d'éclairage de la collectivité (heures locales, niveaux en %)"),
    FullTable("dark_zones",
              "select x.id, t.slug as tenant, x.name, st_asgeojson(x.area, 15) as area, "
              "x.level_pct, x.starts, x.ends, x.reason, x.created_at, x.updated_at, x.updated_by "
              "from dark_zones x join tenants t on t.id = x.tenant_id "
              "where x.tenant_id = any(%(tenants)s) order by x.id",
              "les zones sombres (trame noire) : le périmètre en GeoJSON (WGS 84), le niveau et "
              "les heures"),
    FullTable("ground_truth",
              "select x.id, x.run_id, x.scenario, x.seed, t.slug as tenant, x.device_id, x.type, "
              "x.starts_at, x.ends_at, x.params, x.created_at from ground_truth x join tenants t on t.id "
              "= x.tenant_id where x.tenant_id = any(%(tenants)s) "
              "order by x.id",
              "les défauts injectés par le simulateur (vide hors démonstration)"),
)
# Tenant tables deliberately left out, and why.
FULL_SKIPPED = {
    "alert_inbox": "a transient outbox between ingest and the rules engine, emptied within a second",
}


def copy_table(conn: psycopg.Connection, table: FullTable, *,
               tenants: list[int]) -> Generator[bytes, None, int]:
    """The table's rows as CSV, straight from PostgreSQL's COPY (a header, then RFC 4180
    records; NULL an empty cell, an empty text `""`; timestamps in UTC), in chunks; returns the
    number of rows (`rows = yield from copy_table(…)`)."""
    statement = sql.SQL("copy ({}) to stdout with (format csv, header)").format(
        sql.SQL(table.query))  # type: ignore[arg-type]
    with conn.cursor() as cur:
        with cur.copy(statement, {"tenants": tenants}) as copy:
            for chunk in copy:
                yield bytes(chunk)
        return cur.rowcount
