"""Phare: IoT telemetry for French local authorities (cross-cutting pieces: settings, database, CLI)."""

__version__ = "0.1.0"
