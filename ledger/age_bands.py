"""Age bands for statistics: a person's age in whole years on a day, and its band.

The bands are the ones vaccination campaigns were planned and reported by (children, adolescents,
adults, older adults, the elderly). An unknown birth date (an erased person's) is its own band.
"""

from __future__ import annotations

from datetime import date

# (band, lowest age in it), youngest first; each band runs to the next one's lowest age.
AGE_BANDS: tuple[tuple[str, int], ...] = (
    ("0-11", 0),
    ("12-17", 12),
    ("18-49", 18),
    ("50-64", 50),
    ("65+", 65),
)
UNKNOWN = "unknown"
BANDS: tuple[str, ...] = (*(band for band, _ in AGE_BANDS), UNKNOWN)


def age_on(birth_date: date, day: date) -> int:
    """Whole years completed on `day` (one born on 29 February turns a year older on 1 March)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def age_band(birth_date: str | None, day: date) -> str:
    """The band of someone born on `birth_date` (YYYY-MM-DD) on `day`; `unknown` without one."""
    if not birth_date:
        return UNKNOWN
    age = age_on(date.fromisoformat(birth_date[:10]), day)
    found = AGE_BANDS[0][0]
    for band, lowest in AGE_BANDS:
        if age >= lowest:
            found = band
    return found


def born_by(day: date) -> list[tuple[str, str]]:
    """(band, the latest birth date in it or an older band on `day`), oldest band first, as
    YYYY-MM-DD text: born on or before it, one is at least the band's lowest age. The text may
    name 29 February of a common year, which still compares right with birth dates as text."""
    return [
        (band, f"{day.year - lowest:04d}-{day.month:02d}-{day.day:02d}")
        for band, lowest in reversed(AGE_BANDS)
    ]
