"""A file's rows, read and checked, in chunks: in this process, or in a reader process of its own.

Reading a row and checking it as a dose costs about as much as a third of recording it. For a
large file the reading runs in a process of its own (`apart=True`), a few chunks ahead, while
this one records: the two share the work on two cores. Each row comes back with its checked
dose report, or with every reason it was refused; the rows and their order are the same either
way, and so is what gets stored.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import LedgerError
from ledger.recording import dose_report
from retro.mapping import Mapping
from retro.reading import Sheet, open_sheet
from retro.rows import Row, RowShape, find_header

AHEAD = 4  # chunks the reader process may read before they are recorded
READ_APART_FROM = 1 << 20  # bytes: a smaller file is read here (starting a process costs ~0.3 s)


@dataclass(frozen=True)
class Shape:
    """What finding the header needs: a reader process finds it again in its own copy."""

    mapping: Mapping | None
    site_id: str | None
    allowed_sites: frozenset[str] | None


@dataclass
class Chunk:
    rows: list[Row]  # each with its report, or its errors
    first_row: int
    last_row: int
    read_fraction: float | None


def checked(row: Row, import_id: str) -> Row:
    """The row with its dose checked as the ledger will check it, or refused with the reason."""
    if row.item is not None:
        try:
            row.report = dose_report(row.item, {"kind": "retro_import", "import_id": import_id,
                                                "row": row.number})
        except LedgerError as error:
            row.item = None
            row.errors.append(row.error(error.field, error.message))
    return row


def chunks_of(sheet: Sheet, shape: RowShape, import_id: str, size: int) -> Iterator[Chunk]:
    """The sheet's rows after the header, checked, `size` rows a chunk (blank rows skipped)."""
    rows: list[Row] = []
    for number, cells in sheet.rows:
        row = shape.read(number, cells)
        if row is None:
            continue
        rows.append(checked(row, import_id))
        if len(rows) >= size:
            yield Chunk(rows, rows[0].number, number, sheet.read_fraction())
            rows = []
    if rows:
        yield Chunk(rows, rows[0].number, rows[-1].number, sheet.read_fraction())


def read_apart(path: Path, shape: Shape, import_id: str, size: int) -> Iterator[Chunk]:
    """chunks_of, run in a reader process; its failure is raised here, where it is awaited."""
    context = multiprocessing.get_context("spawn")  # never fork a process with threads
    chunks: Any = context.Queue(maxsize=AHEAD)
    reader = context.Process(target=_read, args=(path, shape, import_id, size, chunks),
                             name=f"retro-reader-{import_id}", daemon=True)
    reader.start()
    try:
        while True:
            try:
                kind, value = chunks.get(timeout=1.0)
            except queue.Empty:
                if not reader.is_alive():
                    raise RuntimeError(f"the file's reader stopped (exit code {reader.exitcode})") from None
                continue
            if kind == "chunk":
                yield value
            elif kind == "failed":
                raise value
            else:
                return
    finally:
        if reader.is_alive():
            reader.terminate()  # this side stopped early: nothing more is wanted
        reader.join()
        chunks.close()


def _read(path: Path, shape: Shape, import_id: str, size: int, chunks: Any) -> None:
    from ledger.heap import settle_collector

    settle_collector()
    try:
        with open_sheet(path) as sheet:
            found = find_header(sheet.rows, shape.mapping, shape.site_id, shape.allowed_sites)
            for chunk in chunks_of(sheet, found, import_id, size):
                chunks.put(("chunk", chunk))
    except Exception as error:  # noqa: BLE001 - told to the importing side, which fails the import
        chunks.put(("failed", _sendable(error)))
    else:
        chunks.put(("done", None))


def _sendable(error: Exception) -> Exception:
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - an error that cannot cross: its type and text can
        return RuntimeError(f"{type(error).__name__}: {error}")
