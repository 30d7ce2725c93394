"""Who read whose record: each read of people's data by an auditor or a province official.

A read is its own one-event stream (a random id), never an event in the person's stream:
recording it loads nothing, locks no person and cannot conflict with a dose being written.
It carries ids only (principal, role, people, what was read): no name, national id or phone,
so the log itself holds no personal data. It is chained like every stream (replay verifies it).
Recording and finding reads are use cases (usecases.access_log).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID, uuid4

from eventsourcing.domain import event
from eventsourcing.utils import get_topic

from ledger.chain import ChainedAggregate
from ledger.principal import AUDITOR, PROVINCE

# The roles whose reads of a person's data are recorded: they see people of many sites.
RECORDED_ROLES = frozenset({AUDITOR, PROVINCE})


class PersonDataRead(ChainedAggregate):
    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Recorded: ClassVar[type[ChainedAggregate.Created]]

    @event("Recorded")
    def __init__(self, principal_id: str, role: str, person_ids: list[str], what: str) -> None:
        self.principal_id = principal_id
        self.role = role
        self.person_ids = person_ids
        self.what = what

    @classmethod
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
