"""Water networks: night noise of the acoustic loggers, minimum night flow, leak alerts."""

from __future__ import annotations

from datetime import timedelta

from alerts.model import AlertType
from dashboards.grafana.alert_panels import alerts_table
from dashboards.grafana.model import Dashboard, timeseries
from dashboards.grafana.sql import LOCAL_TIMEZONE, SCOPE, kind, metric, metric_series, tiered

ACOUSTIC = kind("acoustic_leak_sensor")
NOISE_MIN = metric(ACOUSTIC, "noise_min_db")
FLOW_METER = kind("water_flow_meter")
FLOW = metric(FLOW_METER, "flow_m3h")

# The night window of the minimum night flow, local time: [02:00, 04:00), when legitimate
# use is lowest; what still flows then is mostly leakage.
NIGHT_HOURS = (2, 3)

# Minimum night flow: per meter and night, the lowest hourly mean flow of the window (the
# usual definition). Raw readings are averaged per hour first, so both tiers agree.
MINIMUM_NIGHT_FLOW = tiered(
    raw="""
        select (n.night at time zone {tz}) as "time", n.name as metric, min(n.flow) as value
        from (select date_trunc('day', r.ts at time zone {tz}) as night, d.name,
                     date_trunc('hour', r.ts) as hour, avg(r.value) as flow
              from readings r join devices d on d.uid = r.device_uid
              where $__timeFilter(r.ts) and r.metric = {flow} and d.kind = {kind}
                and extract(hour from r.ts at time zone {tz}) in ({hours})
                and {scope} and {tier}
              group by 1, 2, 3) n
        group by 1, 2""",
    hourly="""
        select (date_trunc('day', h.bucket at time zone {tz}) at time zone {tz}) as "time",
               d.name as metric, min(h.avg) as value
        from readings_hourly h join devices d on d.uid = h.device_uid
        where $__timeFilter(h.bucket) and h.metric = {flow} and d.kind = {kind}
          and extract(hour from h.bucket at time zone {tz}) in ({hours})
          and {scope} and {tier}
        group by 1, 2""",
    order_by="1, 2", tz=LOCAL_TIMEZONE, flow=FLOW.name, kind=FLOW_METER.name,
    hours=NIGHT_HOURS, scope=SCOPE)

def dashboard() -> Dashboard:
    return Dashboard(
        "water", "Phare — Eau",
        "Réseaux d'eau potable : bruit nocturne des capteurs acoustiques, débit minimum de "
        "nuit des secteurs, alertes de fuite.",
        (
            timeseries("night-noise-per-sensor", "Bruit nocturne par capteur acoustique",
                       metric_series(ACOUSTIC, NOISE_MIN.name, agg="min"), unit="dB",
                       min_interval="1h", connect_gaps=timedelta(hours=36),  # one a night
                       description="Niveau le plus calme de la nuit mesuré par chaque "
                                   "capteur : une hausse durable signale une fuite proche."),
            timeseries("minimum-night-flow", "Débit minimum de nuit par secteur",
                       MINIMUM_NIGHT_FLOW, unit="suffix: m³/h", bars=True,
                       description="Par débitmètre de secteur et par nuit, le plus faible "
                                   "débit horaire moyen entre 2 h et 4 h (heure de Paris) : "
                                   "ce qui coule encore la nuit est surtout de la fuite."),
            alerts_table("leak-alerts", "Alertes de fuite", [AlertType.WATER_LEAK],
                         description="Alertes de fuite d'eau en cours, et celles ouvertes "
                                     "sur la période."),
        ),
        # A week by default: its panels are one bar per night (two days showed two).
        time_from="now-7d",
    )
