"""`GET /kpis`: key figures of a tenant and its sub-tenants (energy, water, alerts) for officials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import Conn, Reader
from api.errors import invalid
from api.models import KpisPublic
from api.params import format_instant, parse_instant, time_window
from api.queries import kpis as q

router = APIRouter(prefix="/kpis", tags=["kpis"])

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)
_DEFAULTS = q.Factors()


@router.get("", responses={404: {"description": "no such tenant in the key's scope"}})
def read_kpis(
    conn: Conn,
    principal: Reader,
    tenant: Annotated[str | None, Query(
        description="the tenant (and those below it); default: the key's")] = None,
    from_: Annotated[str | None, Query(
        alias="from", description="RFC 3339, inclusive; default: 30 days before `to`")] = None,
    to: Annotated[str | None, Query(description="RFC 3339, exclusive; default: now")] = None,
    eur_per_kwh: Annotated[float, Query(gt=0, le=10)] = _DEFAULTS.eur_per_kwh,
    kg_co2_per_kwh: Annotated[float, Query(ge=0, le=2)] = _DEFAULTS.kg_co2_per_kwh,
    eur_per_m3: Annotated[float, Query(gt=0, le=100)] = _DEFAULTS.eur_per_m3,
) -> KpisPublic:
    """Energy (kWh, €, t CO2e) against baselines, water lost and saved, alerts handled."""
    end = parse_instant("to", to) or datetime.now(UTC)
    start = parse_instant("from", from_) or end - DEFAULT_WINDOW
    start, end = time_window(start, end, now=end)
    if end - start > MAX_WINDOW:
        raise invalid("query", "from", f"the period is at most {MAX_WINDOW.days} days",
                      format_instant(start))
    slug = tenant
    if slug is None:
        row = conn.execute("select slug from tenants where id = %s",
                           (principal.tenant_id,)).fetchone()
        slug = str(row[0]) if row else ""
    found = conn.execute("select id from tenants where slug = %s and id = any(%s)",
                         (slug, list(principal.scope))).fetchone()
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tenant '{slug}'")
    tenants = q.subtree(conn, tenant_id=int(found[0]), scope=principal.scope)
    factors = q.Factors(eur_per_kwh=eur_per_kwh, kg_co2_per_kwh=kg_co2_per_kwh,
                        eur_per_m3=eur_per_m3)
    return KpisPublic(
        tenant=slug, from_=start, to=end,
        lighting=q.lighting(conn, tenants=tenants, start=start, end=end, factors=factors),
        buildings=q.buildings(conn, tenants=tenants, start=start, end=end, factors=factors),
        water=q.water(conn, tenants=tenants, start=start, end=end, factors=factors),
        alerts=q.alert_kpis(conn, tenants=tenants, start=start, end=end),
        parameters=factors.public(),
    )
