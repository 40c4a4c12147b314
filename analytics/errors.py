"""Errors of the analytics jobs.

    PhareError
     └── AnalyticsError     something an analytics job cannot do

A job that raises anything is recorded as failed by the runner, which goes on with the others.
"""

from __future__ import annotations

from phare.errors import PhareError


class AnalyticsError(PhareError):
    """Something an analytics job cannot do; the message says what and why."""
