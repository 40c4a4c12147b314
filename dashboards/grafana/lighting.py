"""Public lighting: power and energy of the cabinets, dimming, cabinets lit in daylight, faults."""

from __future__ import annotations

from dashboards.grafana.labels import EVENT_LABELS, EVENT_STATE_LABELS
from dashboards.grafana.model import Dashboard, column, table, timeseries, value_mappings
from dashboards.grafana.sql import SCOPE, kind, metric, metric_series, render, tiered

CABINET = kind("lighting_cabinet")
POWER = metric(CABINET, "power_w")
ENERGY = metric(CABINET, "energy_kwh")
DIMMING = metric(CABINET, "dimming_pct")
OUTPUT_ON = metric(CABINET, "output_on")
AMBIENT = metric(CABINET, "ambient_lux")

# Above this ambient light it is plainly day: a lit cabinet is burning for nothing (sunset
# itself is ~400 lx; overcast midday is over 10,000 lx).
DAYLIGHT_LUX = 1000.0

ENERGY_PER_DAY = render(
    """
    select $__time(x.bucket), d.name as metric, sum(x.delta) as value
    from readings_daily x join devices d on d.uid = x.device_uid
    where $__timeFilter(x.bucket) and x.metric = {energy} and d.kind = {kind} and {scope}
    group by 1, 2
    order by 1, 2""",
    energy=ENERGY.name, kind=CABINET.name, scope=SCOPE)

# Hours in which a cabinet was seen lit in daylight. Raw: clock hours holding a sample with
# the output on and the ambient light above the threshold. Hourly rollups: hours lit at some
# point (max of output_on) whose darkest moment was still daylight (min of ambient_lux).
ON_IN_DAYLIGHT = tiered(
    raw="""
        select d.name as "Armoire", count(distinct date_trunc('hour', o.ts)) as "Heures",
               max(o.ts) as "Dernière fois"
        from readings o
        join readings l on l.device_uid = o.device_uid and l.ts = o.ts and l.metric = {ambient}
        join devices d on d.uid = o.device_uid
        where $__timeFilter(o.ts) and o.metric = {on} and o.value > 0 and l.value >= {lux}
          and d.kind = {kind} and {scope} and {tier}
        group by 1""",
    hourly="""
        select d.name as "Armoire", count(*) as "Heures", max(o.bucket) as "Dernière fois"
        from readings_hourly o
        join readings_hourly l on l.device_uid = o.device_uid and l.bucket = o.bucket
                              and l.metric = {ambient}
        join devices d on d.uid = o.device_uid
        where $__timeFilter(o.bucket) and o.metric = {on} and o.max > 0 and l.min >= {lux}
          and d.kind = {kind} and {scope} and {tier}
        group by 1""",
    order_by='2 desc, 1', ambient=AMBIENT.name, on=OUTPUT_ON.name, lux=DAYLIGHT_LUX,
    kind=CABINET.name, scope=SCOPE)

FAULTS = render(
    """
    select e.ts as "Heure", d.name as "Armoire", e.type as "Événement",
           case when e.active then {started} else {ended} end as "État"
    from events e join devices d on d.uid = e.device_uid
    where $__timeFilter(e.ts) and d.kind = {kind} and e.type in ({types}) and {scope}
    order by e.ts desc
    limit 500""",
    kind=CABINET.name, types=CABINET.event_types, scope=SCOPE,
    started=EVENT_STATE_LABELS["true"], ended=EVENT_STATE_LABELS["false"])


def dashboard() -> Dashboard:
    return Dashboard(
        "lighting", "Phare — Éclairage public",
        "Armoires d'éclairage : puissance, énergie, gradation, allumages de jour et défauts.",
        (
            timeseries("power-per-cabinet", "Puissance par armoire",
                       metric_series(CABINET, POWER.name), unit="watt", min_interval="10m",
                       description="Puissance active moyenne de chaque armoire."),
            timeseries("energy-per-day", "Énergie par jour",
                       ENERGY_PER_DAY, unit="kwatth", bars=True,
                       description="Consommation de chaque armoire par jour (heure de Paris), "
                                   "d'après les index de son compteur (cumuls journaliers)."),
            timeseries("dimming-levels", "Niveau de gradation",
                       metric_series(CABINET, DIMMING.name), unit="percent",
                       min_interval="10m",
                       description="Niveau d'éclairement commandé (0 à 100 %), moyenne par "
                                   "intervalle."),
            table("on-in-daylight", "Armoires allumées en plein jour", ON_IN_DAYLIGHT,
                  width=12,
                  description=f"Heures pendant lesquelles une armoire était allumée alors "
                              f"que la lumière ambiante dépassait {DAYLIGHT_LUX:.0f} lx : "
                              f"horloge déréglée, cellule défaillante ou forçage oublié."),
            table("cabinet-faults", "Défauts d'armoire", FAULTS,
                  overrides=[column("Événement", mappings=value_mappings(EVENT_LABELS))],
                  description="Événements signalés par les armoires : porte ouverte, "
                              "disjonction, lampe en panne, coupure d'alimentation."),
        ),
    )
