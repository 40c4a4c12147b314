"""French formatting of the figures: `12 345,6 kWh`, `1 234 €`, dates as `10/12/2025`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
# French typography: a narrow no-break space between thousands, a no-break space before units.
THOUSANDS = "\u202f"
UNIT_SPACE = "\u00a0"
MISSING = "non disponible"


def number(value: float | None, decimals: int = 0) -> str:
    """`value` with a decimal comma and thin spaces between thousands; `non disponible` if None."""
    if value is None:
        return MISSING
    rounded = round(value, decimals) + 0.0  # + 0.0: no "-0"
    return f"{rounded:,.{decimals}f}".replace(",", THOUSANDS).replace(".", ",")


def quantity(value: float | None, unit: str, decimals: int = 0) -> str:
    """`number(value)` followed by its unit, or `non disponible`."""
    return MISSING if value is None else f"{number(value, decimals)}{UNIT_SPACE}{unit}"


def day(instant: datetime) -> str:
    return instant.astimezone(PARIS).strftime("%d/%m/%Y")


def percent(fraction: float, decimals: int = 1) -> str:
    return f"{number(fraction * 100, decimals)}{UNIT_SPACE}%"
