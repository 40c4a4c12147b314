"""French school and public holidays: when public buildings close."""

from __future__ import annotations

from datetime import date

import pytest

from devices.simulators.calendar_fr import SchoolCalendar, easter, public_holidays


@pytest.mark.parametrize(
    ("day", "holiday"),
    [
        pytest.param(date(2025, 10, 18), "vacances de la Toussaint", id="toussaint-2025-first-day"),
        pytest.param(date(2025, 11, 3), None, id="toussaint-2025-classes-resume"),
        pytest.param(date(2026, 2, 7), "vacances d'hiver", id="hiver-2026-zone-a"),
        pytest.param(date(2026, 2, 23), None, id="hiver-2026-over"),
        pytest.param(date(2026, 4, 19), "vacances de printemps", id="printemps-2026"),
        pytest.param(date(2026, 5, 15), "pont de l'Ascension", id="ascension-2026"),
        pytest.param(date(2026, 8, 31), "vacances d'été", id="ete-2026"),
        pytest.param(date(2026, 9, 1), None, id="rentree-2026"),
        pytest.param(date(2026, 10, 30), "vacances de la Toussaint", id="toussaint-2026"),
        pytest.param(date(2027, 1, 3), "vacances de Noël", id="noel-2026"),
        pytest.param(date(2027, 2, 28), "vacances d'hiver", id="hiver-2027-zone-a"),
        pytest.param(date(2027, 4, 25), "vacances de printemps", id="printemps-2027-zone-a"),
        pytest.param(date(2027, 4, 26), None, id="printemps-2027-over"),
    ],
)
def test_zone_a_school_holidays(day, holiday):
    assert SchoolCalendar("A").school_holiday(day) == holiday


def test_public_holidays_follow_easter():
    assert easter(2026) == date(2026, 4, 5) and easter(2027) == date(2027, 3, 28)
    days = public_holidays(2026)
    assert len(days) == 11
    assert days[date(2026, 5, 14)] == "Ascension" and days[date(2026, 5, 25)] == "lundi de Pentecôte"
    assert SchoolCalendar().public_holiday(date(2026, 11, 11)) == "armistice 1918"
    assert SchoolCalendar().public_holiday(date(2026, 11, 12)) is None


def test_periods_overlapping_a_window_and_unknown_zones():
    periods = SchoolCalendar().periods(date(2026, 9, 24), date(2026, 11, 23))
    assert [p.name for p in periods] == ["vacances de la Toussaint"]
    with pytest.raises(ValueError, match="no school calendar for zone 'Z'"):
        SchoolCalendar("Z")
