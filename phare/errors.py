"""Errors of Phare's cross-cutting layer, translated from psycopg at the boundary."""


class PhareError(Exception):
    """Base of Phare's own errors."""


class DatabaseUnavailable(PhareError):
    """The database cannot be reached (down, wrong URL, wrong credentials)."""


class MigrationError(PhareError):
    """The schema cannot be brought up to date."""
