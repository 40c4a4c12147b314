"""The alert timers: escalation of unacknowledged alerts, and devices that went silent.

Both are plain functions of (connection, now, settings), run every few seconds by
`phare alerts run` and as the `alert_timers` job of `phare worker` (analytics/jobs/); both
are safe to run in several processes at once.

device_offline: a device that has reported at least once is offline when it has been silent
for more than PHARE_ALERTS_OFFLINE_MISSED_REPORTS (3) of its reporting intervals: the
`report_interval_s` of its metadata, else its kind's default below. Severity medium for
hazard detectors (a safety device that no longer reports), low otherwise. The alert resolves
at the first run after the device reported again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from alerts import lifecycle
from alerts.model import AlertType, Severity
from phare.settings import Settings

# How often each kind reports, by default (the simulators' intervals, the usual field setups).
DEFAULT_REPORT_INTERVAL_S: dict[str, int] = {
    "lighting_cabinet": 600,
    "acoustic_leak_sensor": 86_400,
    "water_flow_meter": 900,
    "hazard_detector": 900,
    "building_meter": 900,
}
SOURCE = "health"

_SILENT = (
    "select d.uid, d.kind, extract(epoch from %(now)s - d.last_seen) "
    "from devices d join unnest(%(kinds)s::text[], %(intervals)s::float8[]) k(kind, interval_s) "
    "  on k.kind = d.kind "
    "where d.last_seen is not null "
    "and d.last_seen < %(now)s - make_interval(secs => %(factor)s * coalesce("
    "  case when jsonb_typeof(d.metadata -> 'report_interval_s') = 'number' "
    "  and (d.metadata ->> 'report_interval_s')::float8 > 0 "
    "  then (d.metadata ->> 'report_interval_s')::float8 end, k.interval_s)) "
    "and not exists (select 1 from alerts a where a.device_uid = d.uid "
    "                and a.type = 'device_offline' and a.status <> 'resolved') "
    "order by d.uid"
)
_BACK = (
    "select a.device_uid from alerts a join devices d on d.uid = a.device_uid "
    "where a.type = 'device_offline' and a.status <> 'resolved' "
    "and d.last_seen > coalesce(a.reopened_at, a.opened_at) order by a.id"
)


@dataclass(frozen=True, slots=True)
class TimerResult:
    escalated: int = 0
    offline: int = 0
    back_online: int = 0

    @property
    def changes(self) -> int:
        return self.escalated + self.offline + self.back_online


def check_devices(conn: psycopg.Connection, *, now: datetime, settings: Settings) -> tuple[int, int]:
    """Opens device_offline for silent devices, resolves it for those heard again;
    returns (opened, resolved)."""
    kinds = list(DEFAULT_REPORT_INTERVAL_S)
    silent = conn.execute(_SILENT, {
        "now": now, "kinds": kinds, "intervals": [float(DEFAULT_REPORT_INTERVAL_S[k]) for k in kinds],
        "factor": settings.alerts_offline_missed_reports}).fetchall()
    opened = 0
    for uid, kind, silence_s in silent:
        severity = Severity.MEDIUM if kind == "hazard_detector" else Severity.LOW
        lifecycle.raise_alert(conn, device=int(uid), alert_type=AlertType.DEVICE_OFFLINE,
                              severity=severity, now=now, settings=settings, source=SOURCE,
                              params={"silence_s": int(silence_s)})
        opened += 1
    resolved = 0
    for (uid,) in conn.execute(_BACK).fetchall():
        change = lifecycle.clear_alert(conn, device_uid=int(uid),
                                       alert_type=AlertType.DEVICE_OFFLINE, now=now,
                                       settings=settings, source=SOURCE)
        resolved += 1 if change is not None and not change.alert.active else 0
    return opened, resolved


def run_timers(conn: psycopg.Connection, *, now: datetime, settings: Settings) -> TimerResult:
    """One run of every alert timer."""
    escalated = lifecycle.escalate_due(conn, now=now, settings=settings)
    offline, back = check_devices(conn, now=now, settings=settings)
    return TimerResult(escalated, offline, back)
