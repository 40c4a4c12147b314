"""Fire and flood: water levels against their vigilance thresholds, smoke alarms, hazard events."""

from __future__ import annotations

from psycopg import sql

from alerts.model import AlertType
from alerts.texts import FLOOD_LEVELS
from dashboards.grafana.alert_panels import alerts_table
from dashboards.grafana.labels import EVENT_LABELS, EVENT_STATE_LABELS
from dashboards.grafana.model import (
    Dashboard,
    Target,
    column,
    series_matching,
    state_timeline,
    table,
    timeseries,
    value_mappings,
)
from dashboards.grafana.sql import SCOPE, kind, metric, metric_series, render

HAZARD = kind("hazard_detector")
WATER_LEVEL = metric(HAZARD, "water_level_cm")
SMOKE_ALARM = metric(HAZARD, "smoke_alarm")

# Vigicrues colours, lowest first. Each probe's levels are in its metadata, set when it is
# registered: {"thresholds_cm": {"yellow": 120, "orange": 160, "red": 210}}.
VIGILANCE_COLORS = {"yellow": "yellow", "orange": "orange", "red": "red"}
THRESHOLD_INFIX = " — seuil "  # series "<probe> — seuil jaune": one flat line per probe and level

_LEVELS = sql.SQL(", ").join(
    sql.SQL("({}, {})").format(sql.Literal(level), sql.Literal(FLOOD_LEVELS[level]["fr"]))
    for level in VIGILANCE_COLORS)

# Each probe's thresholds, as flat series across the range beside its level.
THRESHOLDS = render(
    """
    select s.at as "time", d.name || {infix} || l.label as metric,
           (d.metadata -> 'thresholds_cm' ->> l.level)::double precision as value
    from devices d
    cross join (values {levels}) l(level, label)
    cross join (values ($__timeFrom()::timestamptz), ($__timeTo()::timestamptz)) s(at)
    where d.kind = {kind} and jsonb_typeof(d.metadata -> 'thresholds_cm' -> l.level) = 'number'
      and {scope}
    order by 1, 2""",
    infix=THRESHOLD_INFIX, levels=_LEVELS, kind=HAZARD.name, scope=SCOPE)

EVENTS = render(
    """
    select e.ts as "Heure", d.name as "Détecteur", e.type as "Événement",
           case when e.active then {started} else {ended} end as "État"
    from events e join devices d on d.uid = e.device_uid
    where $__timeFilter(e.ts) and d.kind = {kind} and e.type in ({types}) and {scope}
    order by e.ts desc
    limit 500""",
    kind=HAZARD.name, types=HAZARD.event_types, scope=SCOPE,
    started=EVENT_STATE_LABELS["true"], ended=EVENT_STATE_LABELS["false"])

SMOKE_STATES = value_mappings({"0": "Normal", "1": "Alarme fumée"}, {"0": "green", "1": "red"})


def dashboard() -> Dashboard:
    levels = timeseries(
        "water-levels", "Hauteurs d'eau et seuils de vigilance",
        metric_series(HAZARD, WATER_LEVEL.name, agg="max"), unit="suffix: cm",
        min_interval="10m", extra_targets=[Target(THRESHOLDS, ref_id="B")],
        overrides=[series_matching(f"{THRESHOLD_INFIX}{FLOOD_LEVELS[level]['fr']}$",
                                   color={"mode": "fixed", "fixedColor": color},
                                   **{"custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
                                      "custom.fillOpacity": 0})
                   for level, color in VIGILANCE_COLORS.items()],
        description="Hauteur d'eau maximale de chaque sonde, et ses seuils jaune, orange et "
                    "rouge (en pointillés) tels qu'enregistrés avec la sonde.")
    return Dashboard(
        "hazards", "Phare — Incendie et inondation",
        "Risques : hauteurs d'eau et seuils de vigilance, alarmes fumée, événements des "
        "détecteurs, alertes incendie et inondation.",
        (
            levels,
            state_timeline("smoke-alarms", "Alarmes fumée",
                           metric_series(HAZARD, SMOKE_ALARM.name, agg="max"),
                           mappings=SMOKE_STATES, min_interval="5m",
                           description="État de chaque détecteur de fumée : en rouge, les "
                                       "périodes d'alarme."),
            table("hazard-events", "Événements des détecteurs", EVENTS, width=12,
                  overrides=[column("Événement", mappings=value_mappings(EVENT_LABELS))],
                  description="Fumée, chaleur, présence d'eau, tests, piles faibles, "
                              "ouvertures signalés par les détecteurs."),
            alerts_table("hazard-alerts", "Alertes incendie et inondation",
                         [AlertType.FIRE, AlertType.FLOOD], width=12,
                         description="Alertes incendie et inondation en cours, et celles "
                                     "ouvertes sur la période."),
        ),
    )

