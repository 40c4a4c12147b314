"""French school holidays (by zone) and public holidays: when public buildings are closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Holidays:
    """A holiday: from its first day off to the day classes resume (excluded)."""

    name: str
    first: date
    resume: date

    def __contains__(self, day: date) -> bool:
        return self.first <= day < self.resume


def _h(name: str, first: str, resume: str) -> Holidays:
    return Holidays(name, date.fromisoformat(first), date.fromisoformat(resume))


# Zone A (académies of Besançon, Bordeaux, Clermont-Ferrand — hence the Cantal —, Dijon,
# Grenoble, Limoges, Lyon, Poitiers), from the arrêtés fixing the school calendar. Holidays
# start after Saturday's classes; primary schools have none on Saturday, so the Saturday is
# the first day off. 2027-2028 is not published: the summer of 2027 ends on 1 September by
# assumption (the usual rentrée).
SCHOOL_HOLIDAYS: dict[str, tuple[Holidays, ...]] = {
    "A": (
        _h("vacances de la Toussaint", "2024-10-19", "2024-11-04"),
        _h("vacances de Noël", "2024-12-21", "2025-01-06"),
        _h("vacances d'hiver", "2025-02-22", "2025-03-10"),
        _h("vacances de printemps", "2025-04-19", "2025-05-05"),
        _h("pont de l'Ascension", "2025-05-29", "2025-06-02"),
        _h("vacances d'été", "2025-07-05", "2025-09-01"),
        # 2025-2026
        _h("vacances de la Toussaint", "2025-10-18", "2025-11-03"),
        _h("vacances de Noël", "2025-12-20", "2026-01-05"),
        _h("vacances d'hiver", "2026-02-07", "2026-02-23"),
        _h("vacances de printemps", "2026-04-04", "2026-04-20"),
        _h("pont de l'Ascension", "2026-05-14", "2026-05-18"),
        _h("vacances d'été", "2026-07-04", "2026-09-01"),
        # 2026-2027
        _h("vacances de la Toussaint", "2026-10-17", "2026-11-02"),
        _h("vacances de Noël", "2026-12-19", "2027-01-04"),
        _h("vacances d'hiver", "2027-02-13", "2027-03-01"),
        _h("vacances de printemps", "2027-04-10", "2027-04-26"),
        _h("pont de l'Ascension", "2027-05-06", "2027-05-10"),
        _h("vacances d'été", "2027-07-03", "2027-09-01"),
    ),
}


def easter(year: int) -> date:
    """Easter Sunday (Gregorian calendar, anonymous algorithm of Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    lt = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * lt) // 451
    month, day = divmod(h + lt - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def public_holidays(year: int) -> dict[date, str]:
    """The eleven jours fériés of metropolitan France (Alsace-Moselle's two extra aside)."""
    e = easter(year)
    return {
        date(year, 1, 1): "jour de l'an",
        e + timedelta(days=1): "lundi de Pâques",
        date(year, 5, 1): "fête du travail",
        date(year, 5, 8): "victoire 1945",
        e + timedelta(days=39): "Ascension",
        e + timedelta(days=50): "lundi de Pentecôte",
        date(year, 7, 14): "fête nationale",
        date(year, 8, 15): "Assomption",
        date(year, 11, 1): "Toussaint",
        date(year, 11, 11): "armistice 1918",
        date(year, 12, 25): "Noël",
    }


class SchoolCalendar:
    """The closures of a territory's public buildings: school holidays and public holidays."""

    def __init__(self, zone: str = "A", extra: tuple[Holidays, ...] = ()) -> None:
        if zone not in SCHOOL_HOLIDAYS:
            raise ValueError(f"no school calendar for zone {zone!r}: one of "
                             f"{', '.join(sorted(SCHOOL_HOLIDAYS))}")
        self.zone = zone
        self.holidays = tuple(sorted(SCHOOL_HOLIDAYS[zone] + extra, key=lambda h: h.first))

    def school_holiday(self, day: date) -> str | None:
        """The name of the school holiday `day` falls in, if any."""
        for h in self.holidays:
            if day in h:
                return h.name
        return None

    def public_holiday(self, day: date) -> str | None:
        return public_holidays(day.year).get(day)

    def periods(self, first: date, last: date) -> list[Holidays]:
        """School holidays that overlap [first, last]."""
        return [h for h in self.holidays if h.first <= last and h.resume > first]
