"""Key figures of a tenant and its sub-tenants: lighting and buildings energy, water, alerts.

Every figure comes with its unit and its `basis` (how it was computed). The factors
(€/kWh, kg CO2/kWh, €/m³) are parameters with defaults documented in `Factors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from astral import Observer, sun
from psycopg import sql
from psycopg.rows import dict_row

from api.models import AlertCount, AlertKpis, KpiFigure, KpiParameter, KpiSection

PARIS = ZoneInfo("Europe/Paris")
# Where a cabinet without a position is assumed to be for its nights (centre of mainland France).
FRANCE_CENTRE = (46.6, 2.4)
LEAK_RATE_KEYS = ("lost_m3_per_day", "volume_lost_m3_per_day")
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Factors:
    """Conversion factors; each is a query parameter of `GET /kpis` of the same name."""

    # A municipal electricity price, taxes included (order of magnitude of 2024-2025 contracts).
    eur_per_kwh: float = 0.20
    # French grid electricity, average mix (ADEME Base Empreinte, ~2023: 0.052 kg CO2e/kWh).
    kg_co2_per_kwh: float = 0.052
    # Water production and distribution cost (order of magnitude of French tariffs).
    eur_per_m3: float = 2.0

    def public(self) -> dict[str, KpiParameter]:
        return {
            "eur_per_kwh": KpiParameter(value=self.eur_per_kwh, unit="€/kWh",
                                        source="configurable; default: a typical municipal "
                                        "electricity price, taxes included"),
            "kg_co2_per_kwh": KpiParameter(value=self.kg_co2_per_kwh, unit="kg CO2e/kWh",
                                           source="configurable; default: French grid mix, "
                                           "ADEME Base Empreinte (about 2023)"),
            "eur_per_m3": KpiParameter(value=self.eur_per_m3, unit="€/m³",
                                       source="configurable; default: a typical French "
                                       "drinking-water price"),
        }


def _fig(value: float | None, unit: str, basis: str) -> KpiFigure:
    return KpiFigure(value=None if value is None else round(value, 6), unit=unit, basis=basis)


def subtree(conn: psycopg.Connection, *, tenant_id: int, scope: frozenset[int]) -> list[int]:
    """The tenant and those below it, as far as `scope` goes."""
    rows = conn.execute("select s from tenant_subtree(%s) s where s = any(%s)",
                        (tenant_id, list(scope))).fetchall()
    return [int(r[0]) for r in rows]


# --- energy ----------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def night_hours(lat: float, lon: float, day: date) -> float:
    """Hours from sunset of `day` to sunrise of the next day at (lat, lon)."""
    observer = Observer(latitude=lat, longitude=lon)
    sunset = sun.sunset(observer, date=day, tzinfo=UTC)
    sunrise = sun.sunrise(observer, date=day + timedelta(days=1), tzinfo=UTC)
    return (sunrise - sunset).total_seconds() / 3600


def nominal_power_w(metadata: Mapping[str, Any]) -> float | None:
    """A cabinet's full power from its metadata: `installed_w`, else `luminaires` × `luminaire_w`
    (or `watts`); None when the metadata says neither."""
    installed = metadata.get("installed_w")
    if isinstance(installed, int | float) and installed > 0:
        return float(installed)
    count, watts = metadata.get("luminaires"), metadata.get("luminaire_w", metadata.get("watts"))
    if isinstance(count, int | float) and isinstance(watts, int | float) and count > 0 and watts > 0:
        return float(count) * float(watts)
    return None


def _daily_deltas(conn: psycopg.Connection, *, tenants: list[int], kind: str, metric: str,
                  start: datetime, end: datetime) -> dict[int, dict[str, Any]]:
    """Per device of `kind`: position, metadata, and its daily deltas of `metric`."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select d.uid, st_y(d.location::geometry) as lat, st_x(d.location::geometry) as lon, "
            "d.metadata, r.bucket, r.delta from devices d join readings_daily r "
            "on r.device_uid = d.uid and r.metric = %s and r.bucket >= %s and r.bucket < %s "
            "where d.tenant_id = any(%s) and d.kind = %s and r.delta is not null "
            "order by d.uid, r.bucket", (metric, start, end, tenants, kind)).fetchall()
    devices: dict[int, dict[str, Any]] = {}
    for row in rows:
        device = devices.setdefault(row["uid"], {"lat": row["lat"], "lon": row["lon"],
                                                 "metadata": row["metadata"] or {}, "days": []})
        device["days"].append((row["bucket"].astimezone(PARIS).date(), row["delta"]))
    return devices


def _money_and_carbon(prefix: str, kwh: float | None, what: str,
                      f: Factors) -> dict[str, KpiFigure]:
    return {
        f"{prefix}_eur": _fig(None if kwh is None else kwh * f.eur_per_kwh, "€",
                              f"{what} × eur_per_kwh ({f.eur_per_kwh} €/kWh)"),
        f"{prefix}_t_co2": _fig(None if kwh is None else kwh * f.kg_co2_per_kwh / 1000, "t CO2e",
                                f"{what} × kg_co2_per_kwh ({f.kg_co2_per_kwh} kg CO2e/kWh) / 1000"),
    }


def lighting(conn: psycopg.Connection, *, tenants: list[int], start: datetime, end: datetime,
             factors: Factors) -> KpiSection:
    """Measured lighting energy against running every cabinet at full power all night."""
    cabinets = _daily_deltas(conn, tenants=tenants, kind="lighting_cabinet", metric="energy_kwh",
                             start=start, end=end)
    measured = sum(delta for c in cabinets.values() for _, delta in c["days"])
    baseline = measured_rated = 0.0
    rated = 0
    for c in cabinets.values():
        power = nominal_power_w(c["metadata"])
        if power is None:
            continue
        rated += 1
        lat, lon = (c["lat"], c["lon"]) if c["lat"] is not None else FRANCE_CENTRE
        for day, delta in c["days"]:
            baseline += power / 1000 * night_hours(round(lat, 2), round(lon, 2), day)
            measured_rated += delta
    note = None
    if not cabinets:
        note = "no daily energy of lighting cabinets in the period"
    elif rated == 0:
        note = ("no cabinet has its nominal power in its metadata (`installed_w`, or "
                "`luminaires` and `luminaire_w`): the baseline and savings are unknown")
    elif rated < len(cabinets):
        note = (f"{len(cabinets) - rated} of {len(cabinets)} cabinets have no nominal power in "
                "their metadata: they are left out of the baseline and savings")
    saved = baseline - measured_rated if rated else None
    days_basis = ("for each day a cabinet reported (a daily delta of its energy index)")
    figures = {
        "cabinets_reporting": _fig(len(cabinets), "cabinets", "lighting cabinets with at least "
                                   "one daily energy delta in the period"),
        "cabinets_rated": _fig(rated, "cabinets", "of those, cabinets whose metadata gives their "
                               "nominal power"),
        "energy_measured_kwh": _fig(measured, "kWh", "sum of the daily deltas of the cabinets' "
                                    "energy index (energy_kwh, readings_daily)"),
        "energy_baseline_kwh": _fig(baseline if rated else None, "kWh",
                                    "sum over rated cabinets of nominal power (kW) × hours from "
                                    "sunset to next sunrise at the cabinet, " + days_basis),
        "energy_saved_kwh": _fig(saved, "kWh", "energy_baseline_kwh − measured energy of the "
                                 "rated cabinets over the same days"),
        **_money_and_carbon("cost", measured, "energy_measured_kwh", factors),
        **_money_and_carbon("saved", saved, "energy_saved_kwh", factors),
    }
    return KpiSection(figures=figures, note=note)


def buildings(conn: psycopg.Connection, *, tenants: list[int], start: datetime, end: datetime,
              factors: Factors) -> KpiSection:
    """Buildings' measured electricity against their reference consumption, if they have one."""
    meters = _daily_deltas(conn, tenants=tenants, kind="building_meter",
                           metric="electricity_kwh", start=start, end=end)
    measured = sum(delta for m in meters.values() for _, delta in m["days"])
    baseline = measured_ref = 0.0
    referenced = 0
    for m in meters.values():
        per_day = m["metadata"].get("baseline_kwh_per_day")
        if not isinstance(per_day, int | float):
            continue
        referenced += 1
        baseline += per_day * len(m["days"])
        measured_ref += sum(delta for _, delta in m["days"])
    note = None
    if not meters:
        note = "no daily electricity of building meters in the period"
    elif referenced < len(meters):
        note = (f"{len(meters) - referenced} of {len(meters)} building meters have no "
                "`baseline_kwh_per_day` in their metadata: left out of the baseline and savings")
    saved = baseline - measured_ref if referenced else None
    figures = {
        "meters_reporting": _fig(len(meters), "meters", "building meters with at least one "
                                 "daily electricity delta in the period"),
        "energy_measured_kwh": _fig(measured if meters else None, "kWh",
                                    "sum of the daily deltas of the meters' electricity index "
                                    "(electricity_kwh, readings_daily); gas is not included"),
        "energy_baseline_kwh": _fig(baseline if referenced else None, "kWh",
                                    "sum over meters of metadata baseline_kwh_per_day × days "
                                    "reported"),
        "energy_saved_kwh": _fig(saved, "kWh", "energy_baseline_kwh − measured energy of the "
                                 "same meters"),
        **_money_and_carbon("cost", measured if meters else None, "energy_measured_kwh",
                            factors),
        **_money_and_carbon("saved", saved, "energy_saved_kwh", factors),
    }
    return KpiSection(figures=figures, note=note)


# --- water -----------------------------------------------------------------------------------
def _leak_rate(params: Mapping[str, Any]) -> float | None:
    for key in LEAK_RATE_KEYS:
        value = params.get(key)
        if isinstance(value, int | float):
            return float(value)
    return None


def water(conn: psycopg.Connection, *, tenants: list[int], start: datetime, end: datetime,
          factors: Factors) -> KpiSection:
    """Water lost to leaks in the period, and saved by repairing them."""
    rows = conn.execute(
        "select opened_at, resolved_at, params from alerts where type = 'water_leak' "
        "and tenant_id = any(%s) and opened_at < %s "
        "and (resolved_at is null or resolved_at >= %s)", (tenants, end, start)).fetchall()
    lost = avoided = 0.0
    estimated = repaired = 0
    for opened_at, resolved_at, params in rows:
        rate = _leak_rate(params or {})
        if rate is None:
            continue
        estimated += 1
        leak_end = min(resolved_at or end, end)
        lost += rate * max(0.0, (leak_end - max(opened_at, start)).total_seconds() / DAY_S)
        if resolved_at is not None and resolved_at < end:
            repaired += 1
            avoided += rate * (end - resolved_at).total_seconds() / DAY_S
    note = None
    if len(rows) > estimated:
        note = (f"{len(rows) - estimated} of {len(rows)} leaks have no estimated flow "
                "(acoustic detections): they are counted but not in the volumes")
    figures = {
        "leaks": _fig(len(rows), "leaks", "water_leak alerts active at some time in the period"),
        "leaks_estimated": _fig(estimated, "leaks", "of those, leaks whose alert gives the volume "
                                "lost a day (lost_m3_per_day, from the district meters' night "
                                "flow)"),
        "leaks_repaired": _fig(repaired, "leaks", "estimated leaks whose alert was resolved in "
                               "the period"),
        "volume_lost_m3": _fig(lost, "m³", "sum over leaks of lost_m3_per_day × days from "
                               "detection (alert opened) to repair (alert resolved) or the end of "
                               "the period, within the period"),
        "volume_avoided_m3": _fig(avoided, "m³", "sum over repaired leaks of lost_m3_per_day × "
                                  "days from repair to the end of the period: what the leak would "
                                  "have lost had it run on (a lower bound: it ignores the time an "
                                  "undetected leak would have run before the period)"),
        "lost_eur": _fig(lost * factors.eur_per_m3, "€",
                         f"volume_lost_m3 × eur_per_m3 ({factors.eur_per_m3} €/m³)"),
        "avoided_eur": _fig(avoided * factors.eur_per_m3, "€",
                            f"volume_avoided_m3 × eur_per_m3 ({factors.eur_per_m3} €/m³)"),
    }
    return KpiSection(figures=figures, note=note)


# --- alerts ----------------------------------------------------------------------------------
def alert_kpis(conn: psycopg.Connection, *, tenants: list[int], start: datetime,
               end: datetime) -> AlertKpis:
    """Alerts opened in the period: counts, and median times to acknowledge and to resolve."""
    window = sql.SQL("tenant_id = any(%(t)s) and opened_at >= %(start)s and opened_at < %(end)s")
    args = {"t": tenants, "start": start, "end": end}
    counts = conn.execute(
        sql.SQL("select type, status, count(*) from alerts where {} "
                "group by type, status order by type, status").format(window), args).fetchall()
    medians = conn.execute(
        sql.SQL("select percentile_cont(0.5) within group (order by extract(epoch from "
                "acknowledged_at - opened_at)) filter (where acknowledged_at is not null), "
                "percentile_cont(0.5) within group (order by extract(epoch from "
                "resolved_at - opened_at)) filter (where resolved_at is not null) from alerts "
                "where {}").format(window), args).fetchone()
    ack_s, resolve_s = medians if medians else (None, None)
    total = sum(int(n) for _, _, n in counts)
    return AlertKpis(
        counts=[AlertCount(type=t, status=s, count=int(n)) for t, s, n in counts],
        figures={
            "opened": _fig(total, "alerts", "alerts opened in the period"),
            "median_time_to_acknowledge_min": _fig(
                None if ack_s is None else float(ack_s) / 60, "min",
                "median of acknowledged_at − opened_at over the period's acknowledged alerts"),
            "median_time_to_resolve_min": _fig(
                None if resolve_s is None else float(resolve_s) / 60, "min",
                "median of resolved_at − opened_at over the period's resolved alerts (cleared "
                "by their condition or by hand)"),
        })
