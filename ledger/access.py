"""How reads of people's data were stored before the access log had a table of its own.

Each read by an auditor or a province official was a one-event stream (a random id) in the
ledger's log: ids only (principal, role, people, what was read). New reads are rows of the
access log (store.access_log, usecases.access_log), by every role, and no longer events. The
class stays, under its stored topic, so that a store holding such events still loads and
verifies them; the access log copies them into its table on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import event
from eventsourcing.utils import get_topic

from ledger.chain import ChainedAggregate


class PersonDataRead(ChainedAggregate):
    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Recorded: ClassVar[type[ChainedAggregate.Created]]

    @event("Recorded")
    def __init__(self, principal_id: str, role: str, person_ids: list[str], what: str) -> None:
        self.principal_id = principal_id
        self.role = role
        self.person_ids = person_ids
        self.what = what

    @classmethod  # how a read was recorded: kept to make such an event (an older store's) in tests
    def record(
        cls, principal_id: str, role: str, person_ids: Iterable[UUID | str], what: str
    ) -> PersonDataRead:
        return cls._create(
            cls.Recorded,
            id=uuid4(),
            principal_id=principal_id,
            role=str(role),
            person_ids=sorted({str(p) for p in person_ids}),
            what=what,
        )


TOPIC = get_topic(PersonDataRead.Recorded)
