"""A file's rows, read and checked, in chunks: in this process, or in a reader process of its own.

Reading a row and checking it as a dose costs about as much as a third of recording it. For a
large file the reading runs in a process of its own (`read_apart`), a chunk ahead, while
this one records: the two share the work on two cores. Each row comes back with its checked
dose report, or with every reason it was refused; the rows and their order are the same either
way, and so is what gets stored.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intake.retro.mapping import Mapping
from intake.retro.reading import Sheet, open_sheet
from intake.retro.rows import Row, RowShape, find_header
from intake.retro.tally_rows import TallyShape
from ledger.errors import LedgerError
from ledger.recording import dose_report

READ_APART_FROM = 1 << 20  # bytes: a smaller file is read here (starting a process costs ~0.3 s)


class ReaderStopped(RuntimeError):
    """The reader process ended before the file did (killed, or failed in a way it could not tell)."""


class FileChanged(ReaderStopped):
    """The file on disk is no longer the one whose header and digest were checked."""


@dataclass(frozen=True)
class Shape:
    """What a reader process needs to find the header again, and to know it reads the same file."""

    mapping: Mapping | None
    site_id: str | None
    allowed_sites: frozenset[str] | None
    file: tuple[int, int, int]  # (inode, size, modification time in ns) when it was checked


def identity(path: Path) -> tuple[int, int, int]:
    found = os.stat(path)
    return found.st_ino, found.st_size, found.st_mtime_ns


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
            row.report = dose_report(
                row.item, {"kind": "retro_import", "import_id": import_id, "row": row.number}
            )
        except LedgerError as error:
            row.item = None
            row.errors.append(row.error(error.field, error.message))
    return row


def chunks_of(
    sheet: Sheet, shape: RowShape | TallyShape, import_id: str, size: int
) -> Generator[Chunk, None, None]:
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


def read_apart(path: Path, shape: Shape, import_id: str, size: int) -> Generator[Chunk, None, None]:
    """chunks_of, run in a reader process; its failure is raised here, where it is awaited.

    One pipe, written by the reader alone: when the reader dies, even half-way through a chunk,
    this side reads the end of the pipe (ReaderStopped); when this side goes away, the reader's
    next write fails and it ends. The reader is at most a chunk ahead (the pipe holds less).
    """
    context = multiprocessing.get_context("spawn")  # never fork a process with threads
    received, sending = context.Pipe(duplex=False)
    reader = context.Process(
        target=_read,
        args=(path, shape, import_id, size, sending),
        name=f"retro-reader-{import_id}",
        daemon=True,
    )
    try:
        reader.start()
        sending.close()  # the reader's end only: its death then ends the pipe
        while True:
            try:
                kind, value = received.recv()
            except (EOFError, OSError):
                reader.join(timeout=5)  # the pipe ends when the reader does: its exit code
                raise ReaderStopped(f"the file's reader stopped (exit code {reader.exitcode})") from None
            if kind == "chunk":
                yield value
            elif kind == "failed":
                raise value
            else:
                return
    finally:
        sending.close()
        received.close()
        if reader.pid is not None:
            if reader.is_alive():
                reader.terminate()  # this side stopped early: nothing more is wanted
            reader.join()


def _read(path: Path, shape: Shape, import_id: str, size: int, sending: Any) -> None:
    from usecases.heap import settle_collector

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the importing side's to handle
    settle_collector()
    try:
        with open_sheet(path) as sheet:
            if identity(path) != shape.file:
                raise FileChanged(f"{path.name} changed after it was checked: send it again")
            found = find_header(sheet.rows, shape.mapping, shape.site_id, shape.allowed_sites)
            for chunk in chunks_of(sheet, found, import_id, size):
                sending.send(("chunk", chunk))  # pickled here: a failure is this reader's to tell
        sending.send(("done", None))
    except (BrokenPipeError, ConnectionResetError):
        return  # the importing side went away: nothing to tell
    except Exception as error:  # noqa: BLE001 - told to the importing side, which fails the import
        try:
            sending.send(("failed", _sendable(error)))
        except OSError:
            return


def _sendable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - an error that cannot cross: its type and text can
        return ReaderStopped(f"{type(error).__name__}: {error}")
