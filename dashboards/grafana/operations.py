"""Operations: ingest rate, rejected messages, silent devices, scheduled job runs."""

from __future__ import annotations

from psycopg import sql

from dashboards.grafana.labels import JOB_STATUS_COLORS, JOB_STATUS_LABELS, KIND_LABELS
from dashboards.grafana.model import Dashboard, column, table, timeseries, value_mappings
from dashboards.grafana.sql import OPERATOR_SELECTED, SCOPE, case_by_kind, render, scope, tiered

# How often each kind reports (the simulated fleet's rhythm, and the usual one of such
# devices: acoustic loggers send their night summary once a day).
REPORT_INTERVAL = {
    "lighting_cabinet": "10 minutes",
    "acoustic_leak_sensor": "1 day",
    "water_flow_meter": "15 minutes",
    "hazard_detector": "15 minutes",
    "building_meter": "15 minutes",
}
DEFAULT_REPORT_INTERVAL = "15 minutes"  # a kind the catalogue adds later
# Silent after this many missed reports: the default of PHARE_ALERTS_OFFLINE_MISSED_REPORTS,
# so that the dashboard and the device_offline alerts agree.
MISSED_REPORTS = 3

# A device is silent when it never sent anything, said it went offline (its last will), or
# sent nothing for MISSED_REPORTS of its kind's reporting intervals.
SILENT = sql.SQL(
    "(d.last_seen is null or d.online is false "
    "or d.last_seen < now() - {missed} * coalesce({interval}, {default}::interval))"
).format(missed=sql.Literal(MISSED_REPORTS),
         interval=case_by_kind(REPORT_INTERVAL, cast="interval"),
         default=sql.Literal(DEFAULT_REPORT_INTERVAL))

# Rejected messages of the selected tenants, and, for the platform operator, those whose topic
# named no known tenant (the API's rule).
REJECTED_SCOPE = sql.SQL("({} or (m.tenant_id is null and {}))").format(
    scope("m.tenant_id"), OPERATOR_SELECTED)

# Values stored per minute, by the readings' own timestamps (a backlog counts at the time it
# was measured). Hourly and daily rollups count the values of their bucket.
INGEST_RATE = tiered(
    raw="""
        select $__timeGroupAlias(r.ts, $__interval),
               count(*) / ($__interval_ms / 60000.0) as "Valeurs par minute"
        from readings r
        where $__timeFilter(r.ts) and {scope} and {tier}
        group by 1""",
    hourly="""
        select $__timeGroupAlias(h.bucket, $__interval),
               sum(h.count) / (greatest($__interval_ms, 3600000) / 60000.0)
        from readings_hourly h
        where $__timeFilter(h.bucket) and {hourly_scope} and {tier}
        group by 1""",
    daily="""
        select $__time(x.bucket), sum(x.count) / 1440.0
        from readings_daily x
        where $__timeFilter(x.bucket) and {daily_scope} and {tier}
        group by 1""",
    scope=scope("r.tenant_id"), hourly_scope=scope("h.tenant_id"),
    daily_scope=scope("x.tenant_id"))

REJECTED_BY_REASON = render(
    """
    select $__timeGroupAlias(m.received_at, $__interval), m.reason as metric, count(*) as value
    from rejected_messages m
    where $__timeFilter(m.received_at) and {scope}
    group by 1, 2
    order by 1, 2""",
    scope=REJECTED_SCOPE)

REJECTED_LATEST = render(
    """
    select m.received_at as "Reçu le", m.reason as "Motif", m.device_id as "Équipement",
           m.topic as "Topic", m.detail as "Détail",
           case when m.replayed_at is null then 'en attente' else 'rejoué' end as "Suite"
    from rejected_messages m
    where $__timeFilter(m.received_at) and {scope}
    order by m.received_at desc
    limit 200""",
    scope=REJECTED_SCOPE)

SILENT_DEVICES = render(
    """
    select d.name as "Équipement", d.kind as "Famille", t.name as "Collectivité",
           d.last_seen as "Dernier message",
           case when d.last_seen is null then 'jamais vu'
                when d.online is false then 'déconnecté'
                else 'silencieux' end as "État"
    from devices d join tenants t on t.id = d.tenant_id
    where {silent} and {scope}
    order by d.last_seen nulls first, d.name
    limit 500""",
    silent=SILENT, scope=SCOPE)

# Platform-wide: jobs work for every tenant at once, their runs belong to none.
JOB_RUNS = render(
    """
    select j.job as "Tâche", max(j.started_at) as "Dernier lancement",
           (array_agg(j.status order by j.started_at desc))[1] as "Dernier statut",
           count(*) as "Lancements", count(*) filter (where j.status = {failed}) as "Échecs",
           sum(j.rows) as "Lignes",
           avg(extract(epoch from j.finished_at - j.started_at)) as "Durée moyenne",
           (array_agg(j.error order by j.started_at desc)
                filter (where j.error is not null))[1] as "Dernière erreur"
    from job_runs j
    where $__timeFilter(j.started_at)
    group by 1
    order by 1""",
    failed="failed")


def dashboard() -> Dashboard:
    return Dashboard(
        "operations", "Phare — Exploitation",
        "Santé de la plateforme : débit d'ingestion, messages rejetés, équipements muets, "
        "tâches planifiées.",
        (
            timeseries("ingest-rate", "Valeurs reçues par minute", INGEST_RATE, unit="short",
                       min_interval="1m",
                       description="Valeurs enregistrées par minute, à l'heure de leur "
                                   "mesure (un arriéré renvoyé compte à l'heure où il a été "
                                   "mesuré)."),
            timeseries("rejected-by-reason", "Messages rejetés par motif",
                       REJECTED_BY_REASON, unit="short", bars=True, min_interval="1m",
                       description="Messages (ou parties de message) que l'ingestion n'a pas "
                                   "pu enregistrer, par motif."),
            table("silent-devices", "Équipements muets", SILENT_DEVICES, width=12,
                  overrides=[column("Famille", mappings=value_mappings(KIND_LABELS))],
                  description=f"Équipements jamais vus, déconnectés, ou sans message depuis "
                              f"{MISSED_REPORTS} fois leur intervalle d'émission habituel."),
            table("rejected-latest", "Derniers messages rejetés", REJECTED_LATEST, width=12,
                  description="Les 200 derniers rejets de la période, avec leur motif ; "
                              "« phare rejected replay » les rejoue une fois la cause "
                              "corrigée."),
            table("job-runs", "Tâches planifiées", JOB_RUNS, platform_wide=True,
                  overrides=[column("Dernier statut",
                                    mappings=value_mappings(JOB_STATUS_LABELS, JOB_STATUS_COLORS),
                                    **{"custom.cellOptions": {"type": "color-text"}}),
                             column("Durée moyenne", unit="s", decimals=1)],
                  description="Lancements des tâches de « phare worker » (agrégats, "
                              "rétention…) sur la période : communs à toute la plateforme, "
                              "ils ne dépendent pas de la collectivité choisie."),
        ),
    )
