"""What the use cases answer: where a decision was written, and what became of each dose."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from ledger.errors import LedgerError, SiteRecordConflict
from ledger.values import DoseStatus


@dataclass(frozen=True)
class Registration:
    person_id: UUID
    created: bool
    position: int | None


@dataclass(frozen=True)
class DoseReceipt:
    dose_id: UUID
    person_id: UUID
    position: int | None
    duplicate: bool
    # The person was found from the details sent (their national id already held): answering
    # their id is a look-up by national id, which the caller's access log records.
    matched: bool = False


@dataclass(frozen=True)
class DoseOutcome:
    """One item of a batch: created | duplicate | conflict | rejected."""

    status: DoseStatus
    receipt: DoseReceipt | None = None
    error: LedgerError | None = None

    @classmethod
    def refused(cls, error: LedgerError) -> DoseOutcome:
        status = DoseStatus.CONFLICT if isinstance(error, SiteRecordConflict) else DoseStatus.REJECTED
        return cls(status, error=error)

    @classmethod
    def taken(cls, receipt: DoseReceipt) -> DoseOutcome:
        return cls(DoseStatus.DUPLICATE if receipt.duplicate else DoseStatus.CREATED, receipt)


@dataclass(frozen=True)
class CorrectionFiled:
    """The answer to a filed claim. A repeat of an open claim is linked to it: no new code."""

    request_id: UUID
    person_id: UUID
    code: str | None  # shown once, to the citizen; only its digest is stored
    linked: bool
    filed_at: str
    position: int | None


@dataclass(frozen=True)
class Written:
    """What a correction (amend, void, merge, details, site) wrote: where, and at what position."""

    aggregate_id: UUID
    position: int | None
