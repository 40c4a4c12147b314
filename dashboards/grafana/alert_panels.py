"""Panels over the `alerts` table, shared by the dashboards of each family and the overview."""

from __future__ import annotations

from collections.abc import Iterable

from psycopg import sql

from alerts.model import Status
from dashboards.grafana.labels import (
    ALERT_TYPE_LABELS,
    SEVERITY,
    SEVERITY_COLORS,
    STATUS_COLORS,
    STATUS_LABELS,
)
from dashboards.grafana.model import Json, Panel, column, table, value_mappings
from dashboards.grafana.sql import SCOPE, render


def alert_overrides() -> list[Json]:
    """Type, severity and status of an alert, in French and in colour."""
    return [
        column("Type", mappings=value_mappings(ALERT_TYPE_LABELS)),
        column("Gravité", mappings=value_mappings(SEVERITY, SEVERITY_COLORS),
               **{"custom.cellOptions": {"type": "color-background"}}),
        column("Statut", mappings=value_mappings(STATUS_LABELS, STATUS_COLORS),
               **{"custom.cellOptions": {"type": "color-text"}}),
    ]


def alerts_query(types: Iterable[str] | None = None) -> str:
    """The alerts still active, whenever opened, and those opened within the range; newest
    first, active ones before resolved ones. `types`: only these types (None: all)."""
    only = (sql.SQL("a.type in ({})").format(sql.SQL(", ").join(map(sql.Literal, types)))
            if types is not None else sql.SQL("true"))
    return render(
        """
        select a.opened_at as "Ouverte le", d.name as "Équipement", a.type as "Type",
               a.severity as "Gravité", a.status as "Statut", a.message as "Message",
               a.last_seen_at as "Vue le"
        from alerts a join devices d on d.uid = a.device_uid
        where {only} and {scope}
          and (a.status <> {resolved} or $__timeFilter(a.opened_at))
        order by a.status = {resolved}, a.opened_at desc
        limit 500""",
        only=only, scope=SCOPE, resolved=Status.RESOLVED.value)


def alerts_table(key: str, title: str, types: Iterable[str] | None, *, description: str,
                 width: int = 24) -> Panel:
    return table(key, title, alerts_query(types), description=description,
                 overrides=alert_overrides(), width=width)
