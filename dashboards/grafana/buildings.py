"""Public buildings: daily energy against outdoor temperature and degree days, CO2, baseload."""

from __future__ import annotations

from psycopg import sql

from dashboards.grafana.model import Dashboard, column, thresholds, timeseries
from dashboards.grafana.sql import LOCAL_TIMEZONE, SCOPE, kind, metric, metric_series, render, tiered

BUILDING = kind("building_meter")
ELECTRICITY = metric(BUILDING, "electricity_kwh")
GAS = metric(BUILDING, "gas_kwh")
POWER = metric(BUILDING, "power_w")
CO2 = metric(BUILDING, "co2_ppm")
HAZARD = kind("hazard_detector")
OUTDOOR_TEMPERATURE = metric(HAZARD, "temperature_c")

# Heating degree days (DJU), Météo-France's method: per day, max(0, 18 - (Tmin + Tmax) / 2)
# with 18 °C the base of French energy statistics.
DJU_BASE_C = 18.0

# Outdoor thermometers: any device whose metadata says `"outdoor": true`, and the flood
# sensors (level probes on streams, water sensors at low points), which stand outdoors.
OUTDOOR = sql.SQL(
    "(d.metadata -> 'outdoor' = 'true'::jsonb or (d.kind = {} and d.metadata ->> 'sensor' in ({})))"
).format(sql.Literal(HAZARD.name), sql.SQL(", ").join(map(sql.Literal, ("water_level", "water_spot"))))

# Daily rollups only: one row per building and local day, whatever the range.
ENERGY_VS_WEATHER = render(
    """
    with energy as (
        select x.bucket, sum(x.delta) filter (where x.metric = {electricity}) as electricity,
               sum(x.delta) filter (where x.metric = {gas}) as gas
        from readings_daily x join devices d on d.uid = x.device_uid
        where $__timeFilter(x.bucket) and x.metric in ({electricity}, {gas})
          and d.kind = {building} and {scope}
        group by 1),
    weather as (
        select x.bucket, avg(x.avg) as outdoor,
               avg(greatest(0, {base} - (x.min + x.max) / 2)) as dju
        from readings_daily x join devices d on d.uid = x.device_uid
        where $__timeFilter(x.bucket) and x.metric = {temperature} and {outdoor} and {scope}
        group by 1)
    select coalesce(e.bucket, w.bucket) as "time", e.electricity as "Électricité",
           e.gas as "Gaz", w.outdoor as "Température extérieure", w.dju as "Degrés-jours"
    from energy e full join weather w on w.bucket = e.bucket
    order by 1""",
    electricity=ELECTRICITY.name, gas=GAS.name, building=BUILDING.name, scope=SCOPE,
    base=DJU_BASE_C, temperature=OUTDOOR_TEMPERATURE.name, outdoor=OUTDOOR)

# Baseload: per building and local day, the lowest hourly mean power (what stays on when
# nobody is in: ventilation, servers, fridges, forgotten heaters).
BASELOAD = tiered(
    raw="""
        select (b.day at time zone {tz}) as "time", b.name as metric, min(b.power) as value
        from (select date_trunc('day', r.ts at time zone {tz}) as day, d.name,
                     date_trunc('hour', r.ts) as hour, avg(r.value) as power
              from readings r join devices d on d.uid = r.device_uid
              where $__timeFilter(r.ts) and r.metric = {power} and d.kind = {building}
                and {scope} and {tier}
              group by 1, 2, 3) b
        group by 1, 2""",
    hourly="""
        select (date_trunc('day', h.bucket at time zone {tz}) at time zone {tz}) as "time",
               d.name as metric, min(h.avg) as value
        from readings_hourly h join devices d on d.uid = h.device_uid
        where $__timeFilter(h.bucket) and h.metric = {power} and d.kind = {building}
          and {scope} and {tier}
        group by 1, 2""",
    order_by="1, 2", tz=LOCAL_TIMEZONE, power=POWER.name, building=BUILDING.name, scope=SCOPE)

_RIGHT_AXIS = {"custom.axisPlacement": "right", "custom.drawStyle": "line",
               "custom.fillOpacity": 0, "custom.lineWidth": 2}


def dashboard() -> Dashboard:
    return Dashboard(
        "buildings", "Phare — Bâtiments",
        "Bâtiments publics : énergie par jour face à la météo, qualité de l'air, talon de "
        "consommation.",
        (
            timeseries(
                "daily-energy-vs-outdoor-temperature",
                "Énergie par jour, température extérieure et degrés-jours",
                ENERGY_VS_WEATHER, unit="kwatth", bars=True, width=24,
                overrides=[
                    column("Température extérieure", unit="celsius", **_RIGHT_AXIS),
                    column("Degrés-jours", unit="none", decimals=1,
                           **{**_RIGHT_AXIS, "custom.lineStyle": {"fill": "dash", "dash": [10, 10]}}),
                ],
                description=f"Électricité et gaz consommés par jour (heure de Paris) par "
                            f"l'ensemble des bâtiments, face à la température extérieure "
                            f"moyenne et aux degrés-jours de chauffage (base "
                            f"{DJU_BASE_C:.0f} °C, méthode Météo-France) des sondes "
                            f"extérieures de la collectivité."),
            timeseries("co2", "CO2 dans les bâtiments",
                       metric_series(BUILDING, CO2.name), unit="ppm", min_interval="15m",
                       field_thresholds=thresholds(("green", None), ("orange", 800),
                                                   ("red", 1500)),
                       description="Concentration moyenne en CO2 : au-delà de 800 ppm il faut "
                                   "aérer, au-delà de 1 500 ppm sans attendre (repères du "
                                   "Haut Conseil de la santé publique)."),
            timeseries("baseload", "Talon de consommation électrique",
                       BASELOAD, unit="watt", bars=True,
                       description="Par bâtiment et par jour, la plus faible puissance "
                                   "moyenne sur une heure : ce qui reste allumé quand "
                                   "personne n'est là."),
        ),
        # A week by default: its panels are one bar per day (two days showed two).
        time_from="now-7d",
    )
