"""Phare's HTTP API: devices, readings, tenants and rejected messages over `/api/v1`."""
