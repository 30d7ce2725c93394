"""A stored import read back: its status and counts, and its every error, page by page.

Reads page through the import's stream instead of folding it whole, so an import with a
million bad rows is read in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from ledger.errors import NotFound
from ledger.retro_import import COUNTS, RetroImport
from usecases.application import DoseLedger

PAGE = 20  # events per read: each chunk event carries up to a chunk's errors

Started, ChunkImported = RetroImport.Started, RetroImport.ChunkImported
Completed, Failed = RetroImport.Completed, RetroImport.Failed
Queued, Resumed = RetroImport.Queued, RetroImport.Resumed


class ImportNotFound(NotFound):
    def __init__(self, import_id: UUID | str):
        super().__init__("import_id", f"no retro import with id {import_id}")


def _events(ledger: DoseLedger, import_id: UUID) -> Iterator[DomainEventProtocol[UUID]]:
    after = 0
    while True:
        page = list(ledger.events.get(import_id, gt=after, limit=PAGE))
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].originator_version


def import_status(ledger: DoseLedger, import_id: UUID | str, *, errors: int = 100) -> dict[str, Any]:
    """{import_id, status, dry_run, file, unit, attested_by, ..., rows, created, ..., resumed,
    errors: first ones}."""
    import_id = UUID(str(import_id))
    status: dict[str, Any] | None = None
    for e in _events(ledger, import_id):
        if isinstance(e, Started):
            status = {
                "import_id": str(import_id),
                "status": "running",
                "file_name": e.file_name,
                "file_sha256": e.file_sha256,
                "file_size": e.file_size,
                "unit": e.unit,
                "attested_by": e.attested_by,
                "document_ref": e.document_ref,
                "site_id": e.site_id,
                "submitter": e.submitter,
                "started_at": e.timestamp.isoformat(),
                "dry_run": False,
                "resumed": 0,
                **dict.fromkeys(COUNTS, 0),
                "last_row": 0,
                "read_fraction": 0.0,
                "error_count": 0,
                "flag_count": 0,
                "errors": [],
                "reason": None,
                "finished_at": None,
            }
        elif status is None:
            break
        elif isinstance(e, ChunkImported):
            for name in COUNTS:
                status[name] += e.counts.get(name, 0)
            status["last_row"] = e.last_row
            status["read_fraction"] = e.read_fraction
            flags = sum(1 for error in e.errors if error.get("severity") == "flag")
            status["error_count"] += len(e.errors) - flags
            status["flag_count"] += flags
            status["errors"].extend(e.errors[: max(0, errors - len(status["errors"]))])
        elif isinstance(e, Queued):
            status["dry_run"] = e.dry_run
        elif isinstance(e, Resumed):
            status["resumed"] += 1
        elif isinstance(e, (Completed, Failed)):
            status["status"] = "completed" if isinstance(e, Completed) else "failed"
            status["reason"] = getattr(e, "reason", None)
            status["finished_at"] = e.timestamp.isoformat()
            if status["status"] == "completed":
                status["read_fraction"] = 1.0
    if status is None:
        raise ImportNotFound(import_id)
    return status


def import_errors(ledger: DoseLedger, import_id: UUID | str) -> Iterator[dict[str, Any]]:
    """Every error of a stored import, in row order: {row, column, value, msg}."""
    import_id = UUID(str(import_id))
    found = False
    for e in _events(ledger, import_id):
        found = found or isinstance(e, Started)
        if isinstance(e, ChunkImported):
            yield from e.errors
    if not found:
        raise ImportNotFound(import_id)
