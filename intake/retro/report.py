"""What an import did, row by row: counts, the first errors in memory, every error as CSV.

A million bad rows never sit in memory: the report keeps the first few hundred for an answer
and streams the rest to a CSV file when given one (the stored import keeps them all in its
stream, chunk by chunk).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from intake.retro.rows import RowError

KEPT_ERRORS = 500
CSV_COLUMNS = ("row", "column", "value", "msg")
# A cell starting with one of these is a formula to a spreadsheet that opens the report.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Counts:
    rows: int = 0
    created: int = 0
    duplicate: int = 0
    conflict: int = 0  # also counted in rejected: the row's record was stored with other content
    rejected: int = 0

    def add(self, other: Counts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _safe(value: Any) -> Any:
    """A value echoed back from the file, made inert for a spreadsheet opening the report."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _cells(error: dict[str, Any]) -> list[Any]:
    return [_safe(error[c]) if error.get(c) is not None else "" for c in CSV_COLUMNS]


def errors_csv(errors: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The error report as CSV text, line by line (UTF-8 BOM first, so Excel reads Vietnamese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    for cells in itertools.chain([list(CSV_COLUMNS)], map(_cells, errors)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        yield buffer.getvalue()


class Report:
    def __init__(self, errors_to: TextIO | None = None, keep: int = KEPT_ERRORS):
        self.counts = Counts()
        self.errors: list[dict[str, Any]] = []
        self.error_count = 0
        self.flag_count = 0  # flags are listed with the errors, counted apart
        self.keep = keep
        self._file = errors_to
        self._writer = None
        if errors_to is not None:
            errors_to.write("\ufeff")
            self._writer = csv.writer(errors_to)
            self._writer.writerow(CSV_COLUMNS)

    def add_errors(self, errors: Iterable[RowError]) -> None:
        for error in errors:
            if error.flag:
                self.flag_count += 1
            else:
                self.error_count += 1
            row = error.as_dict()
            if len(self.errors) < self.keep:
                self.errors.append(row)
            if self._writer is not None:
                self._writer.writerow(_cells(row))
