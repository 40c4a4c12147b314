"""Dashboards: Grafana dashboards as code and the officials' pages. Empty until their issue lands."""
