"""The life cycle against the real database, with an injected clock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts import lifecycle
from alerts.errors import InvalidTransition
from alerts.model import Device, Severity, Status
from alerts.store import set_policy
from phare.settings import Settings
from tests.alerts.conftest import add_route

T0 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


def fire(conn: psycopg.Connection, device: Device, settings: Settings, at: datetime, *,
         condition: str = "smoke", severity: Severity = Severity.CRITICAL,
         now: datetime | None = None) -> lifecycle.Change:
    return lifecycle.raise_alert(conn, device=device, alert_type="fire", severity=severity,
                                 now=now or at, settings=settings, source="test",
                                 text_key="fire.smoke", observed_at=at, condition=condition)


def transitions(conn: psycopg.Connection, alert_id: int) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in conn.execute(
        "select kind, to_status, to_severity from alert_transitions where alert_id = %s "
        "order by id", (alert_id,))]


def test_the_same_condition_seen_three_times_is_one_alert_with_three_occurrences(
        conn: psycopg.Connection, detector: Device, settings: Settings) -> None:
    changes = [fire(conn, detector, settings, T0 + timedelta(minutes=i)) for i in range(3)]
    assert len({c.alert.id for c in changes}) == 1
    alert = changes[-1].alert
    assert (alert.occurrences, alert.status, alert.opened_at) == (3, Status.OPEN, T0)
    assert alert.last_seen_at == T0 + timedelta(minutes=2)
    assert [c.kind for c in changes] == ["opened", None, None]
    assert transitions(conn, alert.id) == [("opened", "open", "critical")]


def test_a_redelivered_observation_is_not_a_new_occurrence(
        conn: psycopg.Connection, detector: Device, settings: Settings) -> None:
    fire(conn, detector, settings, T0)
    again = fire(conn, detector, settings, T0, now=T0 + timedelta(seconds=5))
    assert again.alert.occurrences == 1


def test_the_database_allows_one_active_alert_per_device_and_type(
        conn: psycopg.Connection, detector: Device, settings: Settings) -> None:
    fire(conn, detector, settings, T0)
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("insert into alerts (tenant_id, device_uid, type, severity, source, message, "
                     "text_key, opened_at, last_seen_at, updated_at) "
                     "values (%s, %s, 'fire', 'low', 'x', 'x', 'x', now(), now(), now())",
                     (detector.tenant_id, detector.uid))


def test_an_alert_held_by_two_conditions_resolves_when_both_clear(
        conn: psycopg.Connection, detector: Device, settings: Settings) -> None:
    fire(conn, detector, settings, T0, condition="smoke")
    fire(conn, detector, settings, T0 + timedelta(seconds=30), condition="heat")
    def clear(condition: str, minutes: int) -> lifecycle.Change | None:
        at = T0 + timedelta(minutes=minutes)
        return lifecycle.clear_alert(conn, device_uid=detector.uid, alert_type="fire", now=at,
                                     settings=settings, source="test", observed_at=at,
                                     condition=condition)

    smoke = clear("smoke", 1)
    assert smoke is not None and smoke.alert.status is Status.OPEN
    assert smoke.alert.conditions == ("heat",)
    heat = clear("heat", 2)
    assert heat is not None and heat.kind == "resolved"
    assert (heat.alert.status, heat.alert.resolution) == (Status.RESOLVED, "cleared")


def test_a_late_clear_does_not_resolve_a_newer_alarm(
        conn: psycopg.Connection, detector: Device, settings: Settings) -> None:
    fire(conn, detector, settings, T0 + timedelta(minutes=5))
    late = lifecycle.clear_alert(conn, device_uid=detector.uid, alert_type="fire",
                                 now=T0 + timedelta(minutes=6), settings=settings, source="test",
                                 observed_at=T0, condition="smoke")
    assert late is None


def test_a_worse_observation_raises_the_severity_a_milder_one_keeps_the_peak(
        conn: psycopg.Connection, gauge: Device, settings: Settings) -> None:
    def level(cm: float, severity: Severity, minute: int) -> lifecycle.Change:
        at = T0 + timedelta(minutes=minute)
        return lifecycle.raise_alert(conn, device=gauge, alert_type="flood", severity=severity,
                                     now=at, settings=settings, source="test",
                                     text_key="flood.level", condition="level", observed_at=at,
                                     params={"level": "orange" if cm < 200 else "red",
                                             "value": cm})

    level(150, Severity.HIGH, 0)
    red = level(210, Severity.CRITICAL, 10)
    assert red.kind == "severity_raised" and red.alert.severity is Severity.CRITICAL
    assert "niveau rouge (210 cm)" in red.alert.message
    milder = level(160, Severity.HIGH, 20)
    assert milder.kind is None and milder.alert.severity is Severity.CRITICAL
    assert "niveau rouge (210 cm)" in milder.alert.message
    assert milder.alert.occurrences == 3


def test_a_new_occurrence_within_the_window_reopens_later_opens_another(
        conn: psycopg.Connection, detector: Device, settings: Settings) -> None:
    first = fire(conn, detector, settings, T0).alert
    lifecycle.acknowledge(conn, first.id, by="jeanne", now=T0 + timedelta(minutes=1),
                          settings=settings)
    lifecycle.resolve(conn, first.id, by="jeanne", now=T0 + timedelta(minutes=2),
                      settings=settings)
    window = timedelta(seconds=settings.alerts_reopen_window_s)
    again = fire(conn, detector, settings, T0 + timedelta(minutes=2) + window / 2)
    assert again.kind == "reopened" and again.alert.id == first.id
    assert (again.alert.status, again.alert.occurrences, again.alert.acknowledged_at) == (
        Status.OPEN, 2, None)
    lifecycle.resolve(conn, first.id, by="jeanne", now=T0 + timedelta(hours=1),
                      settings=settings)
    later = fire(conn, detector, settings, T0 + timedelta(hours=1) + window * 2)
    assert later.kind == "opened" and later.alert.id != first.id
    assert [k for k, _, _ in transitions(conn, first.id)] == [
        "opened", "acknowledged", "resolved", "reopened", "resolved"]


def test_acknowledging_a_resolved_alert_is_refused(
        conn: psycopg.Connection, detector: Device, settings: Settings) -> None:
    alert = fire(conn, detector, settings, T0).alert
    lifecycle.resolve(conn, alert.id, by="jeanne", now=T0, settings=settings)
    with pytest.raises(InvalidTransition):
        lifecycle.acknowledge(conn, alert.id, by="paul", now=T0, settings=settings)
    with pytest.raises(InvalidTransition):
        lifecycle.resolve(conn, alert.id, by="paul", now=T0, settings=settings)


def test_an_unacknowledged_alert_escalates_per_tenant_delay_until_acknowledged(
        conn: psycopg.Connection, tenant: str, gauge: Device, settings: Settings) -> None:
    set_policy(conn, gauge.tenant_id, escalate_after_s=600, reopen_window_s=None,
               max_escalation=2, now=T0)
    add_route(conn, tenant, "webhook", "http://127.0.0.1:9/level0")
    add_route(conn, tenant, "email", "chef@mairie.example", level=1)
    alert = lifecycle.raise_alert(conn, device=gauge, alert_type="flood", severity="medium",
                                  now=T0, settings=settings, source="test",
                                  text_key="flood.water").alert

    def escalate(minutes: int) -> int:
        return lifecycle.escalate_due(conn, now=T0 + timedelta(minutes=minutes), settings=settings,
                                      tenant_ids=[gauge.tenant_id])

    assert escalate(9) == 0
    assert escalate(10) == 1
    assert escalate(15) == 0  # the next step counts from the escalation
    sent = conn.execute("select target, event from notification_log where alert_id = %s "
                        "order by id", (alert.id,)).fetchall()
    assert sent == [("http://127.0.0.1:9/level0", "opened"), ("chef@mairie.example", "escalated")]
    row = conn.execute("select escalation_level, severity from alerts where id = %s",
                       (alert.id,)).fetchone()
    assert row == (1, "high")
    lifecycle.acknowledge(conn, alert.id, by="chef", now=T0 + timedelta(minutes=21),
                          settings=settings, comment="On s'en occupe")
    assert escalate(60) == 0
    assert conn.execute("select escalation_level from alerts where id = %s",
                        (alert.id,)).fetchone() == (1,)


def test_escalation_stops_at_the_highest_level(
        conn: psycopg.Connection, gauge: Device, settings: Settings) -> None:
    set_policy(conn, gauge.tenant_id, escalate_after_s=60, reopen_window_s=None,
               max_escalation=2, now=T0)
    alert = lifecycle.raise_alert(conn, device=gauge, alert_type="flood", severity="low",
                                  now=T0, settings=settings, source="test").alert
    for minute in range(1, 10):
        lifecycle.escalate_due(conn, now=T0 + timedelta(minutes=minute), settings=settings,
                               tenant_ids=[gauge.tenant_id])
    row = conn.execute("select escalation_level, severity from alerts where id = %s",
                       (alert.id,)).fetchone()
    assert row == (2, "high")


def test_a_policy_is_inherited_from_the_tenant_above(
        conn: psycopg.Connection, tenant: str, settings: Settings) -> None:
    from alerts.store import policy_for
    from phare.tenancy import add_tenant

    child = add_tenant(conn, f"{tenant}-c", "Commune enfant", parent=tenant)
    parent_id = conn.execute("select id from tenants where slug = %s", (tenant,)).fetchone()[0]  # type: ignore[index]
    set_policy(conn, parent_id, escalate_after_s=120, reopen_window_s=None, max_escalation=None,
               now=T0)
    set_policy(conn, child, escalate_after_s=None, reopen_window_s=30, max_escalation=None,
               now=T0)
    policy = policy_for(conn, child, settings)
    assert policy.escalate_after == timedelta(seconds=120)
    assert policy.reopen_window == timedelta(seconds=30)
    assert policy.max_escalation == settings.alerts_max_escalation
