"""Every scheduled job, by name: the table `phare worker` runs and the API lists.

A new job (leak detection, alert timers…) is a module of `analytics/jobs/` exposing `JOB`,
added here. Due jobs run in this order: rollups before retention, which relies on them.
"""

from __future__ import annotations

from analytics.job import Job
from analytics.jobs import alert_timers, energy, leaks, lighting, retention, rollups
from commands import worker as commands_worker

JOBS: dict[str, Job] = {job.name: job for job in (commands_worker.JOB, rollups.JOB, retention.JOB,
                                                  alert_timers.JOB, leaks.JOB, lighting.JOB,
                                                  energy.JOB)}
