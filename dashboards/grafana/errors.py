"""Errors of the Grafana dashboards.

    PhareError
     └── DashboardError
          ├── MacroError          a query uses a Grafana macro or variable the expander lacks
          └── ProvisioningError   Grafana could not be reached, or refused a request
"""

from __future__ import annotations

from phare.errors import PhareError


class DashboardError(PhareError):
    """Something the dashboards code cannot do."""


class MacroError(DashboardError):
    """A query uses a macro or a variable that `macros.expand` does not know, or misuses one."""


class ProvisioningError(DashboardError):
    """Grafana could not be reached or refused a request; the message says which and why."""
