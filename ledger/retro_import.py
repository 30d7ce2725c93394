"""A retro import's own stream: who sent which file on whose attestation, and what came of it.

Started → ChunkImported (one per chunk saved: its rows, counts and errors) → Completed | Failed.
The errors live in the chunk events, so the full report can be read back at any time; reads
page through the stream (intake.retro.status) rather than fold it whole, as an import of a million
bad rows holds a million errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Snapshot as LibrarySnapshot
from eventsourcing.domain import event

from ledger.chain import ChainedAggregate
from ledger.values import ImportStatus

RUNNING, COMPLETED, FAILED = ImportStatus.RUNNING, ImportStatus.COMPLETED, ImportStatus.FAILED
COUNTS = ("rows", "created", "duplicate", "conflict", "rejected")


# Stored events name their class by topic. The class lived in the module `retro.submission`
# until the retro import moved to intake/: its topics stay those of the events already stored.
_TOPIC = "retro.submission:RetroImport"


class RetroImport(ChainedAggregate):
    TOPIC = _TOPIC

    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Started: ClassVar[type[Any]]
        ChunkImported: ClassVar[type[Any]]
        Completed: ClassVar[type[Any]]
        Failed: ClassVar[type[Any]]

    class Created(ChainedAggregate.Created):
        TOPIC = f"{_TOPIC}.Created"

    class Snapshot(LibrarySnapshot):  # ChainedAggregate.Snapshot, named so a type checker follows it
        TOPIC = f"{_TOPIC}.Snapshot"

    @event("Started", topic=f"{_TOPIC}.Started")
    def __init__(
        self,
        file_name: str,
        file_sha256: str,
        file_size: int,
        unit: str,
        attested_by: str,
        document_ref: str | None,
        site_id: str | None,
        submitter: dict[str, str],
        mapping: dict[str, Any] | None,
    ) -> None:
        self.file_name = file_name
        self.file_sha256 = file_sha256
        self.unit = unit
        self.attested_by = attested_by
        self.document_ref = document_ref
        self.site_id = site_id
        self.submitter = submitter
        self.status = str(RUNNING)
        self.counts = dict.fromkeys(COUNTS, 0)
        self.last_row = 0
        self.read_fraction: float | None = 0.0
        self.reason: str | None = None

    @classmethod
    def start(cls, import_id: UUID, **details: Any) -> RetroImport:
        return cls._create(cls.Started, id=import_id, **details)

    def chunk_imported(
        self,
        first_row: int,
        last_row: int,
        counts: dict[str, int],
        errors: list[dict[str, Any]],
        read_fraction: float | None,
    ) -> None:
        self._chunk_imported(
            first_row=first_row, last_row=last_row, counts=counts, errors=errors, read_fraction=read_fraction
        )

    def complete(self) -> None:
        self._completed(counts=dict(self.counts))

    def fail(self, reason: str) -> None:
        self._failed(reason=reason, counts=dict(self.counts))

    @event("ChunkImported", topic=f"{_TOPIC}.ChunkImported")
    def _chunk_imported(
        self,
        first_row: int,
        last_row: int,
        counts: dict[str, int],
        errors: list[dict[str, Any]],
        read_fraction: float | None,
    ) -> None:
        for name in COUNTS:
            self.counts[name] += counts.get(name, 0)
        self.last_row = last_row
        self.read_fraction = read_fraction

    @event("Completed", topic=f"{_TOPIC}.Completed")
    def _completed(self, counts: dict[str, int]) -> None:
        self.status = str(COMPLETED)
        self.read_fraction = 1.0

    @event("Failed", topic=f"{_TOPIC}.Failed")
    def _failed(self, reason: str, counts: dict[str, int]) -> None:
        self.status = str(FAILED)
        self.reason = reason
