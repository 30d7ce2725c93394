"""A spreadsheet file as a stream of rows: CSV (UTF-8, UTF-8 with BOM, UTF-16 as Excel saves
it; comma, semicolon or tab) or XLSX (openpyxl, read-only streaming). Nothing is evaluated:
a formula cell arrives as its text ("=..."), for the row checks to refuse.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A field of a CSV may be long (an address), never this long: a runaway quote would
# otherwise swallow the rest of the file into one cell.
csv.field_size_limit(1 << 20)

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls


class UnreadableFile(Exception):
    """The file as a whole cannot be read as a spreadsheet (a row-level fault is never this)."""


@dataclass
class Sheet:
    kind: str  # "csv" | "xlsx"
    rows: Iterator[tuple[int, list[Any]]]  # (row number as the spreadsheet shows it, cells)
    read_fraction: Callable[[], float | None]  # how far through the file, when known


class _Counting(io.RawIOBase):
    """Counts the bytes read, so progress can be told without knowing the number of rows."""

    def __init__(self, raw: io.BufferedIOBase):
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        self.count += n
        return n


@contextmanager
def open_sheet(path: str | Path) -> Iterator[Sheet]:
    path = Path(path)
    with path.open("rb") as raw:
        magic = raw.read(4)
    if magic == ZIP_MAGIC:
        with _xlsx(path) as sheet:
            yield sheet
    elif magic == OLE_MAGIC:
        raise UnreadableFile("this is an old Excel .xls file: save it as .xlsx or as CSV UTF-8")
    else:
        with _csv(path) as sheet:
            yield sheet


def _encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode Text"; the codec reads the BOM for the byte order
    return "utf-8-sig"  # UTF-8 with or without a BOM


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


@contextmanager
def _csv(path: Path) -> Iterator[Sheet]:
    size = path.stat().st_size or 1
    with path.open("rb") as raw:
        counting = _Counting(raw)
        buffered = io.BufferedReader(counting, 1 << 16)
        encoding = _encoding(buffered.peek(4)[:4])
        # A byte that is not UTF-8 becomes U+FFFD: that row is refused, the others go on.
        text = io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline="")
        first = text.readline()
        reader = csv.reader(itertools.chain([first], text), delimiter=_delimiter(first))

        def rows() -> Iterator[tuple[int, list[Any]]]:
            yield from enumerate(reader, start=1)

        yield Sheet("csv", rows(), lambda: min(counting.count / size, 1.0))


@contextmanager
def _xlsx(path: Path) -> Iterator[Sheet]:
    from zipfile import BadZipFile

    import openpyxl  # only XLSX files need it

    # Opened here, not by name: an upload's temporary file has no .xlsx suffix to please openpyxl.
    raw = path.open("rb")
    try:
        # data_only=False: a formula cell gives its formula text, never a value computed by
        # whoever saved the file last (nor is anything evaluated here).
        book = openpyxl.load_workbook(raw, read_only=True, data_only=False)
    except (BadZipFile, KeyError, OSError, ValueError) as e:
        raw.close()
        raise UnreadableFile(f"not a readable XLSX workbook ({e})") from None
    try:
        sheet = book.worksheets[0]
        total = sheet.max_row if isinstance(sheet.max_row, int) and sheet.max_row > 0 else None
        # The stored dimension only guides progress: some writers store a wrong one, and
        # openpyxl would stop reading there.
        sheet.reset_dimensions()
        done = [0]

        def rows() -> Iterator[tuple[int, list[Any]]]:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                done[0] = number
                yield number, list(values)

        yield Sheet("xlsx", rows(), lambda: min(done[0] / total, 1.0) if total else None)
    finally:
        book.close()
        raw.close()
