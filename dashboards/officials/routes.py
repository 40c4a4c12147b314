"""`GET /elus/{tenant}`: a tenant's key figures, décret tertiaire trajectories and map, in French.

The figures are those of `GET /api/v1/kpis`: the page calls the same route function
(`api.routes.kpis.read_kpis`) with the same parameters, so both always agree.

Officials open a link (in an e-mail, a council's intranet) rather than send an
`Authorization` header, so the page takes the API key as `?key=` and keeps it in an
HttpOnly, SameSite=Strict cookie limited to `/elus`; without a valid key it shows a small
form that asks for one (sent as `?key=` too: nothing is stored server-side). The page
sends no Referer, so the key in its address does not leak to other sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import psycopg
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from alerts.texts import type_label
from analytics import energy
from api.deps import RawConn
from api.models import KpisPublic
from api.queries import exports as export_q
from api.queries import kpis as kpi_q
from api.routes.kpis import read_kpis
from dashboards.officials import fr
from phare.tenancy import Permission, Principal, principal_for_key, set_scope

HERE = Path(__file__).resolve().parent
COOKIE = "phare_elus_key"
COOKIE_MAX_AGE = 30 * 86_400
OPEN_STATUSES = ("open", "acknowledged")
# A building's yearly energy: these daily rollups (kWh deltas) added together.
BUILDING_METRICS = ("electricity_kwh", "gas_kwh")

router = APIRouter(prefix="/elus", tags=["officials"], include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(number=fr.number, quantity=fr.quantity, day=fr.day,
                             percent=fr.percent, alert_type=type_label)


@dataclass(frozen=True, slots=True)
class Shown:
    """A figure of the KPIs shown on the page: its place in the KPIs, label, unit, decimals."""

    section: str
    name: str
    label: str
    unit: str
    decimals: int = 0

    @property
    def kpi(self) -> str:
        return f"{self.section}.{self.name}"


def _energy(section: str) -> list[Shown]:
    return [
        Shown(section, "energy_saved_kwh", "Énergie économisée", "kWh", 1),
        Shown(section, "saved_eur", "Dépense évitée", "€"),
        Shown(section, "saved_t_co2", "Émissions évitées", "t CO₂e", 3),
        Shown(section, "energy_measured_kwh", "Énergie consommée (mesurée)", "kWh", 1),
        Shown(section, "energy_baseline_kwh", "Consommation de référence", "kWh", 1),
        Shown(section, "cost_eur", "Coût de l'énergie consommée", "€"),
    ]


SECTIONS: dict[str, tuple[str, list[Shown]]] = {
    "lighting": ("Éclairage public", _energy("lighting")),
    "buildings": ("Bâtiments publics (électricité)", _energy("buildings")),
    "water": ("Eau : fuites détectées", [
        Shown("water", "leaks", "Fuites actives sur la période", "fuite(s)"),
        Shown("water", "leaks_repaired", "Fuites réparées", "fuite(s)"),
        Shown("water", "volume_lost_m3", "Eau perdue", "m³", 1),
        Shown("water", "lost_eur", "Valeur de l'eau perdue", "€"),
        Shown("water", "volume_avoided_m3", "Pertes évitées par les réparations", "m³", 1),
        Shown("water", "avoided_eur", "Valeur des pertes évitées", "€"),
    ]),
    "alerts": ("Alertes traitées", [
        Shown("alerts", "opened", "Alertes ouvertes sur la période", "alerte(s)"),
        Shown("alerts", "median_time_to_acknowledge_min", "Délai médian de prise en charge",
              "min"),
        Shown("alerts", "median_time_to_resolve_min", "Délai médian de résolution", "min"),
    ]),
}
KIND_LABELS = {
    "lighting_cabinet": "armoire d'éclairage", "building_meter": "compteur de bâtiment",
    "water_meter": "compteur d'eau", "flood_sensor": "capteur de crue",
}
STATUS_LABELS = {"open": "ouverte", "acknowledged": "prise en charge", "resolved": "résolue"}


def kpi_value(kpis: KpisPublic, shown: Shown) -> float | None:
    section = getattr(kpis, shown.section)
    return section.figures[shown.name].value


def _login(request: Request, tenant: str, message: str, status_code: int) -> Response:
    return templates.TemplateResponse(request, "login.html", {"tenant": tenant,
                                                              "message": message},
                                      status_code=status_code)


def _principal(conn: psycopg.Connection, key: str | None) -> Principal | None:
    return principal_for_key(conn, key) if key else None


def decret(conn: psycopg.Connection, uid: int) -> dict[str, Any]:
    """A building's décret tertiaire status from its daily energy (not climate-corrected), or
    the number of days measured when no complete reference year exists."""
    rows = conn.execute(
        "select bucket, sum(delta) from readings_daily where device_uid = %s and metric = any(%s) "
        "and delta is not null group by bucket order by bucket",
        (uid, list(BUILDING_METRICS))).fetchall()
    if not rows:
        return {"status": None, "days": 0}
    days = pd.DatetimeIndex([b.astimezone(fr.PARIS).date() for b, _ in rows])
    kwh = pd.Series([float(v) for _, v in rows], index=days).groupby(level=0).sum()
    zeros = pd.Series(0.0, index=kwh.index)
    # No degree days here: the trajectory is on measured energy, without climate correction.
    years = energy.yearly(kwh, zeros, zeros)
    return {"status": energy.decret_status(years, hdd_normal=0.0), "days": len(kwh)}


@router.get("/{tenant}", response_class=HTMLResponse)
def overview(
    request: Request,
    conn: RawConn,
    tenant: str,
    key: Annotated[str | None, Query(description="an API key (kept in a cookie)")] = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Annotated[str | None, Query()] = None,
    print_: Annotated[bool, Query(alias="print")] = False,
) -> Response:
    """The overview page of `tenant` and the tenants below it."""
    principal = _principal(conn, key or request.cookies.get(COOKIE))
    if principal is None:
        message = "Clé d'accès invalide ou révoquée." if key or request.cookies.get(COOKIE) \
            else "Cette page demande une clé d'accès."
        return _login(request, tenant, message, 401)
    if not principal.can(Permission.READ_DATA):
        return _login(request, tenant, "Cette clé ne permet pas de lire les données.", 403)
    try:
        with conn.transaction():
            set_scope(conn, principal)
            kpis = read_kpis(conn, principal, tenant=tenant, from_=from_, to=to)
            context = _context(conn, principal, kpis)
    except HTTPException as exc:
        return _login(request, tenant, f"Page indisponible : {exc.detail}.", exc.status_code)
    context.update(print=print_, from_=from_, to=to)
    response = templates.TemplateResponse(request, "overview.html", context)
    response.headers["Referrer-Policy"] = "no-referrer"
    if key:
        response.set_cookie(COOKIE, key, max_age=COOKIE_MAX_AGE, path="/elus", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
    return response


def _context(conn: psycopg.Connection, principal: Principal,
             kpis: KpisPublic) -> dict[str, Any]:
    row = conn.execute("select id, name from tenants where slug = %s", (kpis.tenant,)).fetchone()
    assert row is not None  # read_kpis found it in scope
    scope = frozenset(kpi_q.subtree(conn, tenant_id=int(row[0]), scope=principal.scope))
    devices = export_q.list_devices(conn, scope=scope)
    alerts = [a for status in OPEN_STATUSES
              for a in export_q.list_alerts(conn, scope=scope, status=status, type=None)]
    buildings = [{"device": d, **decret(conn, int(d["uid"]))} for d in devices
                 if d["kind"] == "building_meter"]
    sections = [{"id": sid, "title": title,
                 "figures": [{"shown": s, "value": kpi_value(kpis, s)} for s in shown]}
                for sid, (title, shown) in SECTIONS.items()]
    points = {
        "devices": [{"lat": d["lat"], "lon": d["lon"], "name": d["name"] or d["id"],
                     "kind": KIND_LABELS.get(d["kind"], d["kind"])}
                    for d in devices if d["lat"] is not None],
        "alerts": [{"lat": a["lat"], "lon": a["lon"],
                    "type": type_label(a["type"]),
                    "status": STATUS_LABELS.get(a["status"], a["status"]),
                    "device": a["device_id"]} for a in alerts if a["lat"] is not None],
    }
    return {"kpis": kpis, "tenant_name": row[1], "sections": sections, "buildings": buildings,
            "alerts": alerts, "devices": devices, "points": points,
            "status_labels": STATUS_LABELS, "kind_labels": KIND_LABELS,
            "period_end": kpis.to - timedelta(seconds=1), "targets": energy.DECRET_TARGETS,
            "generated": datetime.now(fr.PARIS)}


def mount(app: FastAPI) -> None:
    """Adds the pages and their static files (Leaflet, CSS, script) to `app`."""
    app.include_router(router)
    app.mount("/elus-static", StaticFiles(directory=HERE / "static"), name="officials-static")
