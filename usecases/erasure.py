"""Erasing a person's personal data (crypto-shredding): the Erased event, then the key's end.

One decision records `Erased` on the person's stream, and on the stream of every duplicate merged
into the person (the same person, registered twice), and releases their national ids' claims
(the number may be given to someone else; the identity key is left as it is). Once that is saved,
the person's data key is destroyed (store.data_keys): every personal field of the person's
events, in the store and in any backup of the events, can no longer be opened.

Between the save and the destruction a process may die. The erasure is then finished by the
next `erase` of the same person (which answers PersonAlreadyErased after destroying the key) or
by `doseledger reconcile` (`finish_erasures`: every person the ledger says is erased loses any
key still held, which also re-applies the erasures after a key table is restored from a backup).
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.utils import get_topic

from ledger import rules
from ledger.errors import PersonAlreadyErased
from ledger.person import Person
from ledger.recording import as_uuid
from ledger.values import Actor, Source
from store.data_keys import DataKeys
from store.event_store import EventStore
from store.person_keys import ERASED
from usecases.decision import Decisions
from usecases.people import person_in
from usecases.receipts import Written
from usecases.working_set import WorkingSet

ERASED_TOPIC = get_topic(Person.Erased)


class Erasures:
    def __init__(self, decisions: Decisions, keys: DataKeys) -> None:
        self.decisions = decisions
        self.keys = keys

    def erase(self, person_id: UUID | str, reason: str, *, actor: Actor, source: Source) -> Written:
        """PersonNotFound for an unknown id; PersonAlreadyErased (its key destroyed, if an
        earlier erasure stopped before) for an erased one."""
        reason = rules.reason(reason)
        pid = as_uuid(person_id, "person_id")

        def choose(ws: WorkingSet) -> list[UUID]:
            person = person_in(ws, pid, allow_merged=True)
            person.check_not_erased_again()
            # The duplicates merged into the person are the same person: their own streams
            # still hold what they were registered with, and go too.
            erased = [person, *(d for d in merged_into(ws, person) if not d.erased)]
            national_ids = [one.details["national_id"] for one in erased]  # before they go
            for one, national_id in zip(erased, national_ids, strict=True):
                one.erase(reason, actor.as_data(), source.as_data())
                ws.changed(one)
                release_national_id(ws, one.id, national_id)
            return [one.id for one in erased]

        try:
            decided = self.decisions.decide(choose)
        except PersonAlreadyErased:
            self.keys.destroy(pid)  # an erasure interrupted after its event is finished now
            raise
        for person_id in decided.value:
            self.keys.destroy(person_id)
        return Written(pid, decided.position)


def merged_into(ws: WorkingSet, person: Person) -> list[Person]:
    """Every person merged into this one, and into those, and so on."""
    found: dict[UUID, Person] = {}
    pending = list(person.absorbed)
    while pending:
        duplicate_id = pending.pop()
        if duplicate_id in found or duplicate_id == person.id:
            continue
        duplicate = person_in(ws, duplicate_id, allow_merged=True)
        found[duplicate_id] = duplicate
        pending.extend(duplicate.absorbed)
    return list(found.values())


def release_national_id(ws: WorkingSet, person_id: UUID, national_id: str | None) -> None:
    """The erased person's national id may be registered again (by its new holder)."""
    if national_id:
        key = ws.ids.national_id(national_id)
        row = ws.national_id_holder(key)
        if row is not None and row.person_id == person_id:
            ws.hold_national_id(key, None, ERASED)


def erased_people(recorder: EventStore) -> list[UUID]:
    """Everyone the ledger says is erased (from the stored Erased events)."""
    return list(dict.fromkeys(r.originator_id for r in recorder.scan_streams([ERASED_TOPIC])))


def finish_erasures(recorder: EventStore, keys: DataKeys) -> list[UUID]:
    """Destroy the keys still held of erased people; the people whose key was destroyed now."""
    return keys.reapply(erased_people(recorder))
