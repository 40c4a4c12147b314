"""Errors of the ingest package."""

from phare.errors import PhareError


class IngestError(PhareError):
    """Ingest cannot go on (bad configuration, broker refused the connection...)."""
