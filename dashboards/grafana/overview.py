"""Overview: the territory at a glance — devices, values, alerts, rejections, map."""

from __future__ import annotations

from alerts.model import Severity, Status
from dashboards.grafana.alert_panels import alerts_table
from dashboards.grafana.labels import KIND_COLORS, KIND_LABELS
from dashboards.grafana.model import (
    Dashboard,
    column,
    geomap,
    stat,
    table,
    thresholds,
    value_mappings,
)
from dashboards.grafana.operations import REJECTED_SCOPE, SILENT
from dashboards.grafana.sql import SCOPE, render, scope, tiered

DEVICES_BY_KIND = render(
    """
    select d.kind as "Famille", count(*) as "Équipements",
           count(*) filter (where {silent}) as "Muets"
    from devices d
    where {scope}
    group by 1
    order by 1""",
    silent=SILENT, scope=SCOPE)

# One row whatever the range: each branch's guard is also in its HAVING clause, so that the
# branches not taken return no row (an aggregate without GROUP BY returns one over no rows).
VALUES_STORED = tiered(
    raw="""
        select count(*)::bigint as "Valeurs reçues" from readings r
        where $__timeFilter(r.ts) and {scope} and {tier} having {tier}""",
    hourly="""
        select coalesce(sum(h.count), 0)::bigint from readings_hourly h
        where $__timeFilter(h.bucket) and {hourly_scope} and {tier} having {tier}""",
    daily="""
        select coalesce(sum(x.count), 0)::bigint from readings_daily x
        where $__timeFilter(x.bucket) and {daily_scope} and {tier} having {tier}""",
    scope=scope("r.tenant_id"), hourly_scope=scope("h.tenant_id"),
    daily_scope=scope("x.tenant_id"))

ACTIVE_ALERTS = render(
    """
    select count(*) as "Alertes actives",
           count(*) filter (where a.severity in ({serious})) as "Dont graves"
    from alerts a join devices d on d.uid = a.device_uid
    where a.status <> {resolved} and {scope}""",
    serious=[Severity.HIGH.value, Severity.CRITICAL.value], resolved=Status.RESOLVED.value,
    scope=SCOPE)

REJECTED = render(
    """
    select count(*) as "Messages rejetés" from rejected_messages m
    where $__timeFilter(m.received_at) and {scope}""",
    scope=REJECTED_SCOPE)

SILENT_COUNT = render(
    """
    select count(*) as "Équipements muets" from devices d where {silent} and {scope}""",
    silent=SILENT, scope=SCOPE)

MAP = render(
    """
    select st_y(d.location::geometry) as latitude, st_x(d.location::geometry) as longitude,
           d.name as "équipement", d.kind as famille, d.last_seen as "dernier message"
    from devices d
    where d.location is not null and {scope}""",
    scope=SCOPE)


def dashboard() -> Dashboard:
    kinds = value_mappings(KIND_LABELS, KIND_COLORS)
    return Dashboard(
        "overview", "Phare — Vue d'ensemble",
        "Le territoire en un coup d'œil : équipements, valeurs reçues, alertes, rejets, carte.",
        (
            stat("values-stored", "Valeurs reçues", VALUES_STORED, unit="short",
                 description="Valeurs enregistrées sur la période."),
            stat("active-alerts", "Alertes actives", ACTIVE_ALERTS,
                 field_thresholds=thresholds(("green", None), ("red", 1)),
                 description="Alertes ouvertes ou prises en compte, et parmi elles celles de "
                             "gravité élevée ou critique."),
            stat("silent-devices", "Équipements muets", SILENT_COUNT,
                 field_thresholds=thresholds(("green", None), ("orange", 1)),
                 description="Équipements jamais vus, déconnectés ou silencieux depuis trop "
                             "longtemps (détail : tableau de bord Exploitation)."),
            stat("rejected-messages", "Messages rejetés", REJECTED,
                 field_thresholds=thresholds(("green", None), ("orange", 1)),
                 description="Messages que l'ingestion n'a pas pu enregistrer sur la période."),
            table("devices-by-kind", "Équipements par famille", DEVICES_BY_KIND, width=12,
                  height=12, overrides=[column("Famille", mappings=kinds,
                                               **{"custom.cellOptions": {"type": "color-text"}})],
                  description="Nombre d'équipements de chaque famille, et combien sont muets ; "
                              "la couleur de chaque famille est celle de ses points sur la "
                              "carte."),
            geomap("devices-map", "Carte des équipements", MAP, color_field="famille",
                   # One threshold step: the colours are the mappings', whatever the value.
                   overrides=[column("famille", mappings=kinds,
                                     thresholds=thresholds(("dark-green", None)))],
                   description="Position des équipements enregistrés, en couleur par famille "
                               "(voir le tableau « Équipements par famille »)."),
            alerts_table("latest-alerts", "Alertes", None,
                         description="Alertes en cours, et celles ouvertes sur la période."),
        ),
    )
