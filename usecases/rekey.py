"""Rekey a store made before ids were keyed: its people's keys again, under keyed ids.

A store made before then holds each national id's claim and each identity key at a uuid5 of
the personal data, and no fingerprint; a ledger refuses to start on it (usecases.keyed_ids).
Events are never changed or removed, so the rekey only appends: from every person's stream
as it stands (merged people too, whom a claim still names), the national id's claim (a row of
its key table, store.person_keys) and the identity key under the keyed ids, naming the same
people, then the fingerprint. People keep
their ids. It runs while no ledger writes (none starts before the fingerprint is recorded);
stopped halfway, it is run again: keys already made are left as they are, so a second run
appends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.person import Person
from store.event_store import by_stream
from store.person_keys import REKEYED, KeyRow
from usecases.application import DoseLedger
from usecases.people import IDENTITY_FIELDS

T = TypeVar("T")
BATCH = 500  # keys read and written a transaction at a time
PERSON_TOPICS = sorted(
    get_topic(c)
    for c in vars(Person).values()
    if isinstance(c, type) and issubclass(c, Person.Event) and c not in (Person.Event, Person.Created)
)


@dataclass
class Rekeyed:
    """What a rekey appended: counts only (no personal data in its report)."""

    people: int = 0
    national_id_claims: int = 0
    identity_keys: int = 0
    identity_joins: int = 0
    fingerprint_recorded: bool = False

    @property
    def appended(self) -> int:
        return self.national_id_claims + self.identity_keys + self.identity_joins + self.fingerprint_recorded


@dataclass(frozen=True)
class _Listed:
    """What a person's keys need to know of them, in the order people were registered."""

    person_id: UUID
    registered_at: int  # the position of the stream's first event
    merged: bool


def _people(ledger: DoseLedger) -> Iterator[tuple[_Listed, Person]]:
    for records in by_stream(ledger.recorder.scan_streams(PERSON_TOPICS)):
        person: Any = None
        for record in records:
            event: Any = ledger.mapper.to_domain_event(record)  # an aggregate's: mutate
            person = event.mutate(person)
        yield _Listed(person.id, records[0].position, person.merged_into is not None), person


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def rekey(
    ledger: DoseLedger, *, batch: int = BATCH, progress: Callable[[str], None] | None = None
) -> Rekeyed:
    """Append the keys every person needs under keyed ids, then the fingerprint (see module)."""
    done = Rekeyed()
    ids = ledger.ids
    national: dict[str, list[_Listed]] = {}
    identities: dict[UUID, list[_Listed]] = {}
    for listed, person in _people(ledger):
        done.people += 1
        if person.erased:  # nothing of theirs is to be found again: their details are unreadable
            continue
        if person.details["national_id"]:
            national.setdefault(person.details["national_id"], []).append(listed)
        key = ids.identity(*(person.details[k] for k in IDENTITY_FIELDS))
        identities.setdefault(key, []).append(listed)
    if progress:
        progress(f"{done.people} people read")

    # A national id is one person's: the one not merged away, else the first registered (a
    # claim naming a merged person leads to its survivor, as it did before).
    holders = {
        ids.national_id(nid): min(people, key=lambda p: (p.merged, p.registered_at)).person_id
        for nid, people in national.items()
    }
    del national
    rows = ledger.recorder.national_ids  # store.person_keys: a claim is the key's first row
    for keys in _batches(holders, batch):
        held = rows.latest(keys)
        done.national_id_claims += rows.copy(
            [KeyRow(k, 1, holders[k], REKEYED) for k in keys if k not in held]
        )
    if progress:
        progress(f"{done.national_id_claims} national id claims appended")

    listed = ledger.recorder.identities  # an identity key's people: the fold of its rows
    for keys in _batches(identities, batch):
        ws = ledger.decisions.working_set()
        ws.prefetch_identities(keys)
        for k in keys:
            members = ws.identity_members(k)
            done.identity_keys += not members
            for p in sorted(identities[k], key=lambda p: p.registered_at):
                ws.join_identity(k, p.person_id)  # nothing if listed already
        appended = ws.identities_changed()
        done.identity_joins += sum(1 for r in appended if r.seq > 1)
        listed.copy(appended)
    if progress:
        progress(f"{done.identity_keys} identity keys appended, {done.identity_joins} people joined to them")

    # Last: until it is recorded no ledger starts, so a rekey stopped halfway is run again.
    done.fingerprint_recorded = ledger.decisions.ids.record()
    return done
