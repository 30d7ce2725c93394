"""A row of a tally file → one vaccine's count of a site's day, or every reason it cannot be.

A tally file is told from a file of doses by its header: it names the day (Ngày) and the doses
(Số liều), which no dose template has. Its rows are `site_id, day, vaccine, doses` (the site
may come from the form), and `province` for a site missing from the directory, which a tally
lists provisional as the tally API does (a tally has no person to take a province from).

The same (site, day, vaccine) on two rows of one file is refused on the later one, naming the
earlier: a file says one count per vaccine and day, and which of two it meant is the unit's to
say. Sent again, the whole file records nothing (the ledger already counts each row's doses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intake.retro.rows import Row, RowError, TemplateMismatch, shown
from intake.retro.values import BadCell, blank
from intake.retro.values import day as read_day
from intake.retro.values import doses as read_doses
from intake.retro.values import province as read_province
from intake.retro.values import text as read_text
from intake.retro.values import vaccine as read_vaccine
from ledger.errors import LedgerError
from ledger.names import match_key
from ledger.tallies import tally


@dataclass(frozen=True)
class TallyColumn:
    field: str
    header: str  # as the tally template writes it
    hint: str


TALLY_COLUMNS = (
    TallyColumn("site_id", "Mã cơ sở tiêm", "the site's code; empty: the form's site"),
    TallyColumn("day", "Ngày", "dd/mm/yyyy, e.g. 01/08/2021: the day the doses were given"),
    TallyColumn("vaccine", "Tên vắc xin", "AstraZeneca, Pfizer, Vero Cell, ... or an EU code"),
    TallyColumn("doses", "Số liều", "the doses of this vaccine given that day, from the tally sheet"),
    TallyColumn(
        "province", "Mã tỉnh", "only for a site missing from the directory: its 2-digit province code"
    ),
)
TALLY_FIELDS = tuple(c.field for c in TALLY_COLUMNS)
REQUIRED = ("site_id", "day", "vaccine", "doses")
# What says "a tally file": the day and the doses (a dose file names neither).
MARKS = ("day", "doses")

_BY_KEY = {match_key(name): c.field for c in TALLY_COLUMNS for name in (c.header, c.field)}
_HEADERS = {c.field: c.header for c in TALLY_COLUMNS}
_READERS = {
    "site_id": lambda c: read_text(c, max_len=64),
    "day": read_day,
    "vaccine": read_vaccine,
    "doses": read_doses,
    "province": read_province,
}


def tally_field_of(header: object) -> str | None:
    if not isinstance(header, str):
        return None
    return _BY_KEY.get(match_key(header))


def is_tally_header(cells: list[Any]) -> bool:
    named = {tally_field_of(c) for c in cells}
    return all(mark in named for mark in MARKS)


class TallyShape:
    """Which cells make which field of a tally row; the form's site for rows naming none."""

    kind = "tallies"

    def __init__(self, header: list[Any], site_id: str | None, allowed_sites: frozenset[str] | None) -> None:
        self.columns: dict[str, tuple[str, int]] = {}
        for i, name in enumerate(header):
            found = tally_field_of(name)
            if found is not None and found not in self.columns:
                self.columns[found] = (str(name).strip(), i)
        self.site_id = site_id
        self.allowed_sites = allowed_sites
        missing = [f for f in REQUIRED if f not in self.columns and not (f == "site_id" and site_id)]
        if missing:
            names = ", ".join(f"{_HEADERS[f]} ({f})" for f in missing)
            hint = " (or give the site on the form)" if "site_id" in missing else ""
            raise TemplateMismatch(f"the tally file has no column for: {names}{hint}")
        self._seen: dict[tuple[str, str, str], int] = {}  # (site, day, vaccine) → its first row

    @property
    def recognised(self) -> int:
        return len(self.columns)

    def read(self, number: int, cells: list[Any]) -> Row | None:
        """The row's checked count (`Row.tally`, without its source: the run adds it), or its
        errors; None for a blank row."""
        if all(blank(c) for c in cells):
            return None
        raw: dict[str, tuple[str, Any]] = {
            name: (label, cells[i] if i < len(cells) else None) for name, (label, i) in self.columns.items()
        }
        if self.site_id and blank(raw.get("site_id", (None, None))[1]):
            raw["site_id"] = ("site_id (form)", self.site_id)
        errors: list[RowError] = []
        row = Row(number, None, errors, raw)
        fields: dict[str, Any] = {}
        for name, (label, value) in raw.items():
            try:
                fields[name] = _READERS[name](value)
            except BadCell as e:
                errors.append(RowError(number, label, shown(value), str(e)))
                fields[name] = BadCell
        for name in REQUIRED:
            if fields.get(name) is None:
                errors.append(row.error(name, "is required"))
        site = fields.get("site_id")
        if site and site is not BadCell and self.allowed_sites is not None and site not in self.allowed_sites:
            errors.append(row.error("site_id", "is not one of the sites you may import for"))
        if errors:
            return row
        try:  # the ledger's own checks of a tally: not in the future, not before the first dose
            checked = tally({"day": fields["day"], "counts": {fields["vaccine"]: fields["doses"]}})
        except LedgerError as e:
            errors.append(row.error("day" if e.field == "day" else "doses", e.message))
            return row
        key = (str(site), checked.day, str(fields["vaccine"]))
        first = self._seen.setdefault(key, number)
        if first != number:
            errors.append(
                row.error("vaccine", f"{fields['vaccine']} on {checked.day} at {site} is on row {first} too")
            )
            return row
        row.tally = {
            "site_id": site,
            "day": checked.day,
            "vaccine": fields["vaccine"],
            "doses": fields["doses"],
            "province": fields.get("province"),
        }
        return row
