"""Run a retro import: stream the file, check each row, record the good ones in chunks.

Each chunk is one `DoseLedger.record_doses` call (one transaction) followed by a
`ChunkImported` event on the import's stream. Every dose carries its import id and row as its
source. Re-sending the file, an overlapping one, or the rest of an interrupted one stores
nothing twice: each row is one site record, (site, record id) or its content digest.

An import run as a job (intake.retro.jobs) has its stream even when a dry run, so that it can
be polled, and may be resumed from a stored stream: its rows up to the last one a chunk saved
are read again (the chunks fall where they fell) but not recorded again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID, uuid4

from intake.retro.chunks import READ_APART_FROM, Chunk, FileChanged, Shape, chunks_of, identity, read_apart
from intake.retro.mapping import Mapping
from intake.retro.reading import open_sheet
from intake.retro.report import KEPT_ERRORS, Counts, Report
from intake.retro.rows import Row, RowError, RowShape, find_header
from intake.retro.tally_rows import TallyShape
from ledger.retro_import import COMPLETED, RetroImport
from ledger.rules import text
from ledger.values import Actor
from usecases.application import DoseLedger
from usecases.tallies import TallyLine

CHUNK_ROWS = 500


@dataclass(frozen=True)
class Form:
    """What the unit states with its file (the paper it signs says the same)."""

    unit: str
    attested_by: str
    document_ref: str | None = None
    site_id: str | None = None  # rows without a site are this site's
    allowed_sites: frozenset[str] | None = None  # a site principal's own sites; None: any

    def checked(self) -> Form:
        unit = text(self.unit, "unit", max_len=200)
        attested_by = text(self.attested_by, "attested_by", max_len=200)
        # Both are required: text() raises on a blank instead of answering None.
        assert unit is not None and attested_by is not None
        return Form(
            unit=unit,
            attested_by=attested_by,
            document_ref=text(self.document_ref, "document_ref", max_len=200, required=False),
            site_id=text(self.site_id, "site_id", max_len=64, required=False),
            allowed_sites=self.allowed_sites,
        )


@dataclass
class Progress:
    import_id: UUID
    counts: Counts
    last_row: int
    read_fraction: float | None


@dataclass
class ImportResult:
    import_id: UUID
    status: str  # completed | failed (a dry run: completed, nothing stored)
    dry_run: bool
    file_sha256: str
    counts: Counts
    errors: list[dict[str, Any]]  # the first ones (and flags); error_count says how many in all
    error_count: int
    reason: str | None = None
    flag_count: int = 0  # rows booked as sent and flagged for someone to check
    kind: str = "doses"  # what the file's header says it holds: doses | tallies

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": str(self.import_id),
            "kind": self.kind,
            "status": self.status,
            "dry_run": self.dry_run,
            "file_sha256": self.file_sha256,
            **self.counts.as_dict(),
            "error_count": self.error_count,
            "flag_count": self.flag_count,
            "errors": self.errors,
            "reason": self.reason,
        }


def file_digest(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


@dataclass
class RetroImportRun:
    """One file going into the ledger. `begin` checks the form and the header and (unless a
    dry run) opens the import's stream; `proceed` reads and records the rows."""

    ledger: DoseLedger
    path: Path
    form: Form
    actor: Actor
    dry_run: bool = False
    mapping: Mapping | None = None
    file_name: str | None = None
    chunk_rows: int = CHUNK_ROWS
    on_chunk: Callable[[Progress], None] | None = None
    errors_to: TextIO | None = None
    keep_errors: int = KEPT_ERRORS
    import_id: UUID = field(default_factory=uuid4)
    read_apart: bool | None = None  # rows read in a process of their own; None: for large files
    job: bool = False  # run in the background: its stream says how to run it again (Queued)
    resuming: RetroImport | None = None  # a stopped job's stream, its Resumed event pending
    # Rows of this import stored by a chunk whose report the stopped process never saved: found
    # again on resuming, they are counted as this import's, not as duplicates of another's.
    stored_rows: frozenset[int] = frozenset()

    def begin(self) -> UUID:
        self.path = Path(self.path)
        self.form = self.form.checked()
        if self.mapping is not None:
            self.mapping.load_people(self.path.parent)
        self.sha256, size = file_digest(self.path)
        self._file = identity(self.path)
        if self.resuming is not None and self.resuming.file_sha256 != self.sha256:
            raise FileChanged("the kept upload is not the file this import started with")
        if self.read_apart is None:
            self.read_apart = size >= READ_APART_FROM
        self._files = ExitStack()
        try:
            self._sheet = self._files.enter_context(open_sheet(self.path))
            self._shape: RowShape | TallyShape = find_header(
                self._sheet.rows, self.mapping, self.form.site_id, self.form.allowed_sites
            )
        except BaseException:
            self._files.close()
            raise
        self.report = Report(self.errors_to, self.keep_errors)
        self.record: RetroImport | None = None
        self.after_row = 0
        if self.resuming is not None:
            self._resume(self.resuming)
        elif self.job or not self.dry_run:
            self.record = RetroImport.start(
                self.import_id,
                file_name=self.file_name or self.path.name,
                file_sha256=self.sha256,
                file_size=size,
                unit=self.form.unit,
                attested_by=self.form.attested_by,
                document_ref=self.form.document_ref,
                site_id=self.form.site_id,
                submitter=self.actor.as_data(),
                mapping=_described(self.mapping),
            )
            if self.job:
                allowed = self.form.allowed_sites
                self.record.queue(
                    dry_run=self.dry_run,
                    allowed_sites=sorted(allowed) if allowed is not None else None,
                    chunk_rows=self.chunk_rows,
                )
            self._save_opening(self.record)
        return self.import_id

    def _save_opening(self, record: RetroImport) -> None:
        try:
            self.ledger.save(record)
        except BaseException:  # nothing will read the file: close it
            self._files.close()
            raise

    def _resume(self, record: RetroImport) -> None:
        self.record = record
        self.after_row = record.last_row
        self._save_opening(record)  # the claim: fails if another service resumed it first

    def proceed(self) -> ImportResult:
        try:
            with self._files, closing(self._chunks()) as chunks:
                for chunk in chunks:
                    self._record(chunk)
        except BaseException as e:  # an interruption too: the stream says the import stopped
            reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if self.record is not None:
                try:
                    self.record.fail(reason)
                    self.ledger.save(self.record)
                except Exception:  # noqa: BLE001 - the store itself failing: the original error matters more
                    pass
            raise
        if self.record is not None:
            self.record.complete()
            self.ledger.save(self.record)
        return self.result(COMPLETED)

    def result(self, status: str, reason: str | None = None) -> ImportResult:
        return ImportResult(
            self.import_id,
            status,
            self.dry_run,
            self.sha256,
            self.report.counts,
            self.report.errors,
            self.report.error_count,
            reason,
            self.report.flag_count,
            self._shape.kind,
        )

    def _chunks(self) -> Generator[Chunk, None, None]:
        """The rows after the header, checked: read here, or in a process of their own."""
        if not self.read_apart:
            return chunks_of(self._sheet, self._shape, str(self.import_id), self.chunk_rows)
        self._files.close()  # the reader opens its own; an XLSX workbook held twice is memory
        shape = Shape(self.mapping, self.form.site_id, self.form.allowed_sites, self._file)
        return read_apart(self.path, shape, str(self.import_id), self.chunk_rows)

    def _record(self, chunk: Chunk) -> None:
        if chunk.last_row <= self.after_row:
            return  # saved before the process running it stopped
        if chunk.first_row <= self.after_row:  # only if the chunk size changed since
            rows = [row for row in chunk.rows if row.number > self.after_row]
            if not rows:
                return
            chunk = Chunk(rows, rows[0].number, chunk.last_row, chunk.read_fraction)
        if isinstance(self._shape, TallyShape):
            counts, errors = self._tallies(chunk.rows)
        else:
            counts, errors = self._doses(chunk.rows)
        errors.sort(key=lambda e: e.row)
        self.report.counts.add(counts)
        self.report.add_errors(errors)
        if self.record is not None:
            self.record.chunk_imported(
                chunk.first_row,
                chunk.last_row,
                counts.as_dict(),
                [e.as_dict() for e in errors],
                chunk.read_fraction,
            )
            self.ledger.save(self.record)
        if self.on_chunk is not None:
            self.on_chunk(Progress(self.import_id, self.report.counts, chunk.last_row, chunk.read_fraction))

    def _doses(self, rows: list[Row]) -> tuple[Counts, list[RowError]]:
        counts = Counts(rows=len(rows))
        errors = [e for row in rows for e in row.errors]
        good = [(row, row.report) for row in rows if row.report is not None]
        counts.rejected = len(rows) - len(good)
        outcomes = self.ledger.record_reports(
            [report for _, report in good],
            [self.actor] * len(good),
            match_identity=True,
            dry_run=self.dry_run,
        )
        for (row, _), outcome in zip(good, outcomes, strict=True):
            if outcome.status in ("created", "duplicate"):
                status = "created" if row.number in self.stored_rows else str(outcome.status)
                setattr(counts, status, getattr(counts, status) + 1)
                errors.extend(row.flags)
                continue
            counts.rejected += 1
            counts.conflict += outcome.status == "conflict"
            assert outcome.error is not None
            errors.append(row.error(outcome.error.field, outcome.error.message))
        return counts, errors

    def _tallies(self, rows: list[Row]) -> tuple[Counts, list[RowError]]:
        """A tally file's rows: each good one a vaccine's count of a site's day, its source
        the import and row (as a dose's), all in one transaction."""
        counts = Counts(rows=len(rows))
        errors = [e for row in rows for e in row.errors]
        good = [row for row in rows if row.tally is not None]
        counts.rejected = len(rows) - len(good)
        lines = [
            TallyLine(
                **row.tally,
                source={"kind": "retro_import", "import_id": str(self.import_id), "row": row.number},
            )
            for row in good
            if row.tally is not None
        ]
        outcomes = self.ledger.import_tallies(lines, self.actor, dry_run=self.dry_run)
        for row, outcome in zip(good, outcomes, strict=True):
            if outcome.status in ("created", "duplicate"):
                status = "created" if row.number in self.stored_rows else str(outcome.status)
                setattr(counts, status, getattr(counts, status) + 1)
                continue
            counts.rejected += 1
            assert outcome.error is not None
            errors.append(row.error(outcome.error.field, outcome.error.message))
        return counts, errors


def _described(mapping: Mapping | None) -> dict[str, Any] | None:
    """The mapping as provenance: which columns were read as which fields."""
    if mapping is None:
        return None
    return {
        "columns": mapping.columns,
        "values": mapping.values,
        "others": mapping.others,
        "defaults": mapping.defaults,
        "people": mapping.people_spec,
    }


def run_import(
    ledger: DoseLedger,
    path: str | Path,
    form: Form,
    *,
    actor: Actor,
    dry_run: bool = False,
    mapping: Mapping | None = None,
    **options: Any,
) -> ImportResult:
    """Check and record a whole file; returns when it is done (or raises, the stream saying so)."""
    run = RetroImportRun(ledger, Path(path), form, actor, dry_run=dry_run, mapping=mapping, **options)
    run.begin()
    return run.proceed()
