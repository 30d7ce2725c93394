"""Who read whose record: each read of people's data by an auditor or a province official.

A read is its own one-event stream (a random id), never an event in the person's stream:
recording it loads nothing, locks no person and cannot conflict with a dose being written.
It carries ids only (principal, role, people, what was read): no name, national id or phone,
so the log itself holds no personal data. It is chained like every stream (replay verifies it).

Finding reads scans the store's notifications of this one event type (filtered by topic in
SQL); a projection can index it when the log grows large.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import event
from eventsourcing.utils import get_topic

from ledger.chain import ChainedAggregate
from ledger.principal import AUDITOR, PROVINCE

# The roles whose reads of a person's data are recorded (issue 9).
RECORDED_ROLES = frozenset({AUDITOR, PROVINCE})
PAGE = 1000


class PersonDataRead(ChainedAggregate):
    @event("Recorded")
    def __init__(self, principal_id: str, role: str, person_ids: list[str], what: str) -> None:
        self.principal_id = principal_id
        self.role = role
        self.person_ids = person_ids
        self.what = what

    @classmethod
    def record(cls, principal_id: str, role: str, person_ids: Iterable[UUID | str],
               what: str) -> PersonDataRead:
        return cls._create(cls.Recorded, id=uuid4(), principal_id=principal_id, role=role,
                           person_ids=sorted({str(p) for p in person_ids}), what=what)


TOPIC = get_topic(PersonDataRead.Recorded)


def record_read(ledger: Any, principal_id: str, role: str, person_ids: Iterable[UUID | str],
                what: str) -> int | None:
    """Store one read if the role is one whose reads are recorded; returns its position."""
    person_ids = list(person_ids)
    if role not in RECORDED_ROLES or not person_ids:
        return None
    recordings = ledger.save(PersonDataRead.record(principal_id, role, person_ids, what))
    return recordings[-1].notification.id if recordings else None


@dataclass(frozen=True)
class ReadQuery:
    principal_id: str | None = None
    person_id: str | None = None
    since: datetime | None = None  # recorded at or after
    until: datetime | None = None  # recorded at or before

    def matches(self, read: PersonDataRead.Recorded) -> bool:
        return ((self.principal_id is None or read.principal_id == self.principal_id)
                and (self.person_id is None or self.person_id in read.person_ids)
                and (self.since is None or read.timestamp >= self.since)
                and (self.until is None or read.timestamp <= self.until))


def find_reads(ledger: Any, query: ReadQuery, *, after: int = 0,
               limit: int = 1000) -> tuple[list[dict[str, Any]], int | None]:
    """The recorded reads matching `query`, oldest first, from position `after` on.

    Returns the reads and the position to continue from (`after=`), or None at the end.
    """
    found: list[dict[str, Any]] = []
    start = after + 1
    while True:
        page = ledger.recorder.select_notifications(start=start, limit=PAGE, topics=[TOPIC])
        for notification in page:
            read = ledger.mapper.to_domain_event(notification)
            if query.matches(read):
                found.append({"position": notification.id, "recorded_at": read.timestamp.isoformat(),
                              "principal_id": read.principal_id, "role": read.role,
                              "person_ids": list(read.person_ids), "what": read.what})
                if len(found) == limit:
                    return found, notification.id
        if len(page) < PAGE:
            return found, None
        start = page[-1].id + 1
