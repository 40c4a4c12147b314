"""Grafana dashboards as code: one dashboard per priority project (lighting, water, fire and
flood, buildings), one for operations and an overview, over the `phare-timescaledb` data source.

`all_dashboards()` builds them; `dashboards/provision.py` pushes them to Grafana's HTTP API or
writes Grafana's file-provisioning layout; docs/dashboards.md describes them.
"""

from __future__ import annotations

from dashboards.grafana.model import DATASOURCE_TYPE, DATASOURCE_UID, Dashboard, Panel, Target


def all_dashboards() -> tuple[Dashboard, ...]:
    """Every dashboard of Phare, overview first."""
    from dashboards.grafana import buildings, hazards, lighting, operations, overview, water

    return (overview.dashboard(), lighting.dashboard(), water.dashboard(), hazards.dashboard(),
            buildings.dashboard(), operations.dashboard())


__all__ = ["DATASOURCE_TYPE", "DATASOURCE_UID", "Dashboard", "Panel", "Target", "all_dashboards"]
