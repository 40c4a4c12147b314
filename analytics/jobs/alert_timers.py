"""The alert timers as a job of `phare worker`: escalation of unacknowledged alerts and
devices gone silent (alerts/timers.py). `phare alerts run` runs the same timers itself."""

from __future__ import annotations

from datetime import timedelta

from alerts.timers import run_timers
from analytics.job import Job, JobContext

NAME = "alert_timers"
INTERVAL = timedelta(minutes=1)  # `phare alerts run` runs them every 15 s itself


def run(ctx: JobContext) -> int:
    """Escalates due alerts, opens and resolves device_offline; returns how many changed."""
    result = run_timers(ctx.conn, now=ctx.now, settings=ctx.settings)
    ctx.conn.commit()
    if result.changes:
        ctx.log.info("alert timers: %d escalated, %d offline, %d back online",
                     result.escalated, result.offline, result.back_online)
    return result.changes


JOB = Job(NAME, INTERVAL, run, "escalate unacknowledged alerts; open and resolve device_offline")
