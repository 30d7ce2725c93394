"""A CVRS file booked: read (refused whole if it is no CVRS), each row mapped and booked through
`intake.feeds.book`, and the outcome of each row reported by its line and event id."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intake.cvrs.mapping import records_of
from intake.cvrs.reading import read_rows
from intake.feeds import Outcome, book
from ledger.values import Actor
from usecases.application import DoseLedger


@dataclass(frozen=True)
class RowOutcome:
    line: int
    vax_event_id: str
    outcome: Outcome


def book_file(
    ledger: DoseLedger,
    data: bytes,
    actor: Actor,
    *,
    allowed_sites: Sequence[str] | None = None,
    default_province: str | None = None,
    test_codes: bool = False,
    dry_run: bool = False,
    today: datetime.date | None = None,
) -> list[RowOutcome]:
    """Every row's outcome, in the file's order; CvrsRefused (nothing booked) for a file that is
    not a CVRS. Sent again, the same file books nothing new (each row is its site record)."""
    rows = read_rows(data)
    records = records_of(rows, today)
    outcomes = book(
        ledger,
        records,
        actor,
        allowed_sites=allowed_sites,
        default_province=default_province,
        test_codes=test_codes,
        dry_run=dry_run,
    )
    return [RowOutcome(row.line, row["vax_event_id"], o) for row, o in zip(rows, outcomes, strict=True)]


def report(outcomes: list[RowOutcome]) -> dict[str, Any]:
    """What the sender is told: the counts by status and each row's outcome and issues."""
    return {
        "rows": len(outcomes),
        "counts": dict(Counter(r.outcome.status for r in outcomes)),
        "results": [
            {
                "line": r.line,
                "vax_event_id": r.vax_event_id,
                "status": r.outcome.status,
                "dose_id": str(r.outcome.dose_id) if r.outcome.dose_id else None,
                "issues": [
                    {"column": i.where, "reason": i.reason, "severity": i.severity} for i in r.outcome.issues
                ],
            }
            for r in outcomes
        ],
    }
