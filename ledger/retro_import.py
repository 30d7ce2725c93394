"""A retro import's own stream: who sent which file on whose attestation, and what came of it.

Started → ChunkImported (one per chunk saved: its rows, counts and errors) → Completed | Failed.
An import run as a job (in the background, its upload kept until it ends) is `Queued` right
after it starts, with what a restarted service needs to run it again; a service taking over a
job whose process stopped records `Resumed` (the claim: two services cannot both save it at
the same version) and carries on after the last row a chunk saved.
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
        Queued: ClassVar[type[Any]]
        Resumed: ClassVar[type[Any]]

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
        self.mapping = mapping
        self.status = str(RUNNING)
        self.counts = dict.fromkeys(COUNTS, 0)
        self.last_row = 0
        self.read_fraction: float | None = 0.0
        self.reason: str | None = None
        # Set by Queued: an import run where it was sent (the CLI, a small upload) is no job.
        self.queued = False
        self.dry_run = False
        self.allowed_sites: list[str] | None = None
        self.chunk_rows = 0
        self.resumed = 0

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

    def queue(self, *, dry_run: bool, allowed_sites: list[str] | None, chunk_rows: int) -> None:
        self._queued(dry_run=dry_run, allowed_sites=allowed_sites, chunk_rows=chunk_rows)

    def resume(self) -> None:
        """Claimed by a service taking over from a stopped process: it goes on after `last_row`."""
        self._resumed(after_row=self.last_row)

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

    @event("Queued", topic=f"{_TOPIC}.Queued")
    def _queued(self, dry_run: bool, allowed_sites: list[str] | None, chunk_rows: int) -> None:
        self.queued = True
        self.dry_run = dry_run
        self.allowed_sites = allowed_sites
        self.chunk_rows = chunk_rows

    @event("Resumed", topic=f"{_TOPIC}.Resumed")
    def _resumed(self, after_row: int) -> None:
        self.resumed += 1

    @event("Completed", topic=f"{_TOPIC}.Completed")
    def _completed(self, counts: dict[str, int]) -> None:
        self.status = str(COMPLETED)
        self.read_fraction = 1.0

    @event("Failed", topic=f"{_TOPIC}.Failed")
    def _failed(self, reason: str, counts: dict[str, int]) -> None:
        self.status = str(FAILED)
        self.reason = reason
