"""A site's tally sheet as CSV: one row per day and vaccine (`day,vaccine,doses`), read into
the tallies the ledger takes (`DoseLedger.report_tallies`), one per day.

The sheet is all or nothing: the first bad row refuses it, naming the row (the line, the
header being line 1) and the column; nothing of it is stored.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from ledger.errors import LedgerError, UnknownVaccine
from ledger.tallies import tally

COLUMNS = ("day", "vaccine", "doses")
MOST_ROWS = 10_000  # a site's sheet: years of days × the catalog's vaccines


@dataclass
class TallyRowError(Exception):
    """What is wrong with a sheet: the row (line number; 1 the header) and column, in words."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


def read_tally_sheet(data: bytes, source: str = "tally_sheet") -> list[dict[str, Any]]:
    """The sheet's tallies, one per day in the order first seen: [{day, counts, source}]."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TallyRowError(1, "file", "is not UTF-8 text") from None
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise TallyRowError(1, missing[0], f"the header must name the columns {','.join(COLUMNS)}")
    at = {c: header.index(c) for c in COLUMNS}
    days: dict[str, dict[str, int]] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if line > MOST_ROWS + 1:
            raise TallyRowError(line, "file", f"a sheet holds at most {MOST_ROWS} rows")
        row = {c: cells[at[c]].strip() if at[c] < len(cells) else "" for c in COLUMNS}
        try:
            checked = tally({"day": row["day"], "counts": {row["vaccine"]: row["doses"]}, "source": source})
        except LedgerError as error:
            raise TallyRowError(line, _column(error), error.message) from None
        ((vaccine, doses),) = checked.counts.items()
        counts = days.setdefault(checked.day, {})
        if vaccine in counts:
            raise TallyRowError(line, "vaccine", f"{vaccine} on {checked.day} is on an earlier row too")
        counts[vaccine] = doses
    if not days:
        raise TallyRowError(2, "file", "holds no row")
    return [{"day": day, "counts": counts, "source": source} for day, counts in days.items()]


def _column(error: LedgerError) -> str:
    """The sheet's column a ledger check's field comes from."""
    if error.field == "day":
        return "day"
    if isinstance(error, UnknownVaccine) or "vaccine" in error.message:
        return "vaccine"
    return "doses"
