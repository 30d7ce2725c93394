"""Recording and finding reads of people's data (the events are ledger.access's).

Finding reads scans the store's notifications of this one event type (filtered by topic in
SQL); a projection can index it when the log grows large.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.access import RECORDED_ROLES, TOPIC, PersonDataRead

PAGE = 1000


def record_read(
    ledger: Any, principal_id: str, role: str, person_ids: Iterable[UUID | str], what: str
) -> int | None:
    """Store one read if the role is one whose reads are recorded; returns its position."""
    person_ids = list(person_ids)
    if role not in RECORDED_ROLES or not person_ids:
        return None
    recordings = ledger.save(PersonDataRead.record(principal_id, str(role), person_ids, what))
    return recordings[-1].notification.id if recordings else None


@dataclass(frozen=True)
class ReadQuery:
    principal_id: str | None = None
    person_id: str | None = None
    since: datetime | None = None  # recorded at or after
    until: datetime | None = None  # recorded at or before

    def matches(self, read: Any) -> bool:
        """Whether a PersonDataRead.Recorded event answers this query."""
        return (
            (self.principal_id is None or read.principal_id == self.principal_id)
            and (self.person_id is None or self.person_id in read.person_ids)
            and (self.since is None or read.timestamp >= self.since)
            and (self.until is None or read.timestamp <= self.until)
        )


# Both stores number events with signed 64-bit integers; SQLite refuses a larger bound outright.
LAST_POSITION = 2**63 - 1


def find_reads(
    ledger: Any, query: ReadQuery, *, after: int = 0, limit: int = 1000
) -> tuple[list[dict[str, Any]], int | None]:
    """The recorded reads matching `query`, oldest first, from position `after` on.

    Returns the reads and the position to continue from (`after=`), or None at the end.
    """
    if after >= LAST_POSITION:  # nothing is recorded past the store's last possible position
        return [], None
    found: list[dict[str, Any]] = []
    start = after + 1
    while True:
        page = ledger.recorder.select_notifications(start=start, limit=PAGE, topics=[TOPIC])
        for notification in page:
            read = ledger.mapper.to_domain_event(notification)
            if query.matches(read):
                found.append(
                    {
                        "position": notification.id,
                        "recorded_at": read.timestamp.isoformat(),
                        "principal_id": read.principal_id,
                        "role": read.role,
                        "person_ids": list(read.person_ids),
                        "what": read.what,
                    }
                )
                if len(found) == limit:
                    return found, notification.id
        if len(page) < PAGE:
            return found, None
        start = page[-1].id + 1
