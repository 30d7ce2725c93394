"""Registering people, correcting their details, merging duplicates; and finding a person in a
working set, which every other use case needs (merged people followed to their survivor)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID, uuid4

from ledger import rules
from ledger.errors import AmbiguousPerson, NationalIdTaken, OutOfScope, PersonNotFound
from ledger.keys import CorrectionTicket
from ledger.person import Person
from ledger.recording import as_uuid
from ledger.values import Actor, Source
from store.person_keys import CLAIMED, CORRECTED, RECLAIMED
from usecases.decision import Decisions
from usecases.receipts import Registration, Written
from usecases.working_set import WorkingSet

# What a retro import may match a person on when no national id tells (ledger.keys.IdKey.identity).
IDENTITY_FIELDS = ("full_name", "birth_date", "phone")
_MERGES_FOLLOWED = 16  # a chain of merges longer than this is a loop, not a history


class People:
    def __init__(self, decisions: Decisions) -> None:
        self.decisions = decisions

    def register(
        self,
        details: dict[str, Any],
        *,
        actor: Actor,
        channel: str,
        source: Source | None,
        person_id: UUID | None,
    ) -> Registration:
        """An existing national id returns its person instead of making a second one.

        A caller that retries may give its own person_id: the retry then finds the same person.
        """
        details = rules.person_details(details)
        origin = (source or Source.named(channel)).as_data()

        def choose(ws: WorkingSet) -> tuple[UUID, bool]:
            if details["national_id"]:
                holder = holder_of_national_id(ws, details["national_id"])
                if holder is not None:
                    return holder, False
            if person_id is not None and ws.get(Person, person_id) is not None:
                return person_id, False
            new_id = person_id or uuid4()
            if details["national_id"]:
                claim_national_id(ws, details["national_id"], new_id)
            person = Person.register(new_id, details, channel, actor.as_data(), origin)
            identity_joined(ws, person)
            ws.changed(person)
            return person.id, True

        decided = self.decisions.decide(choose)
        return Registration(*decided.value, decided.position)

    def correct_details(
        self, person_id: UUID | str, changes: dict[str, Any], reason: str, *, actor: Actor, source: Source
    ) -> Written:
        reason = rules.reason(reason)
        pid = as_uuid(person_id, "person_id")

        def choose(ws: WorkingSet) -> UUID:
            person = person_in(ws, pid)
            checked = rules.detail_changes(changes, person.details)
            change_details(ws, person, checked, reason, actor, source.as_data())
            return person.id

        decided = self.decisions.decide(choose)
        return Written(decided.value, decided.position)

    def merge(
        self,
        survivor_id: UUID | str,
        duplicate_id: UUID | str,
        reason: str,
        *,
        actor: Actor,
        source: Source,
        provinces: Collection[str] | None = None,
    ) -> Written:
        """The duplicate's doses move to the survivor; both streams say so, in one transaction.
        `provinces`: the official's scope (None: any), checked on the decision's own reads of
        both people."""
        reason = rules.reason(reason)
        survivor_uuid = as_uuid(survivor_id, "person_id")
        duplicate_uuid = as_uuid(duplicate_id, "duplicate_person_id")

        def choose(ws: WorkingSet) -> UUID:
            survivor = person_in(ws, survivor_uuid, field="person_id")
            duplicate = person_in(ws, duplicate_uuid, field="duplicate_person_id")
            in_scope(survivor, provinces, "person_id")
            in_scope(duplicate, provinces, "duplicate_person_id")
            survivor.absorb(duplicate, reason, actor.as_data(), source.as_data())
            duplicate.merge_into(survivor.id, reason, actor.as_data(), source.as_data())
            ws.changed(survivor, duplicate)
            return survivor.id

        decided = self.decisions.decide(choose)
        return Written(decided.value, decided.position)

    def unmerge(
        self,
        survivor_id: UUID | str,
        duplicate_id: UUID | str,
        reason: str,
        *,
        actor: Actor,
        source: Source,
        provinces: Collection[str] | None = None,
    ) -> Written:
        """Undo a merge: the survivor releases what it carried, the duplicate is open again with
        it; both streams say so, in one transaction (ledger.person.Person.release).
        `provinces`: the official's scope (None: any), checked on the decision's own reads of
        both people."""
        reason = rules.reason(reason)
        survivor_uuid = as_uuid(survivor_id, "person_id")
        duplicate_uuid = as_uuid(duplicate_id, "duplicate_person_id")

        def choose(ws: WorkingSet) -> UUID:
            survivor = person_in(ws, survivor_uuid, field="person_id")
            # Merged (into this survivor, or another: release says which), never followed.
            duplicate = person_in(ws, duplicate_uuid, field="duplicate_person_id", allow_merged=True)
            in_scope(survivor, provinces, "person_id")
            in_scope(duplicate, provinces, "duplicate_person_id")
            released = survivor.release(duplicate, reason, actor.as_data(), source.as_data())
            duplicate.undo_merge(
                survivor.id,
                [dict(d) for d in released.doses],
                [dict(r) for r in released.corrections],
                reason,
                actor.as_data(),
                source.as_data(),
                resolved_flags={k: dict(v) for k, v in released.resolved_flags.items()},
            )
            ws.changed(survivor, duplicate)
            # A request filed on the survivor went with its dose: its ticket follows, so that
            # it is answered (and looked up) where it now is.
            for request in released.corrections:
                ticket = ws.get(CorrectionTicket, UUID(request["request_id"]))
                if ticket is None:
                    continue
                if person_in(ws, ticket.person_id, follow_merges=True, allow_erased=True).id != duplicate.id:
                    ticket.move(duplicate.id, reason)
                    ws.changed(ticket)
            return duplicate.id

        decided = self.decisions.decide(choose)
        return Written(decided.value, decided.position)

    def person(self, person_id: UUID | str) -> Person:
        """The person's current state, merged-away or not: for replay and checks."""
        return person_in(self.decisions.working_set(), as_uuid(person_id, "person_id"), allow_merged=True)


def person_in(
    ws: WorkingSet,
    person_id: UUID,
    *,
    field: str = "person_id",
    follow_merges: bool = False,
    allow_merged: bool = False,
    allow_erased: bool = False,
) -> Person:
    """The person with this id; a merged one refused (PersonMerged), followed, or allowed; an
    erased one refused (PersonErased) unless allowed (or merged ones are)."""
    for _ in range(_MERGES_FOLLOWED):
        person = ws.get(Person, person_id)
        if person is None:
            raise PersonNotFound(person_id, field)
        if person.merged_into is None or allow_merged:
            if not (allow_erased or allow_merged):
                person.check_not_erased()
            return person
        if not follow_merges:
            person.check_open()  # raises PersonMerged naming the survivor
        person_id = person.merged_into
    raise PersonNotFound(person_id, field)


def in_scope(person: Person, provinces: Collection[str] | None, field: str) -> None:
    """Refuse (OutOfScope) a person outside an official's provinces as this decision reads
    them: a correction or a merge since the official looked may have moved them out."""
    province = person.details.get("province")
    if provinces is not None and province not in provinces:
        raise OutOfScope(province, field)


def holder_of_national_id(ws: WorkingSet, national_id: str) -> UUID | None:
    """The person holding the national id (a merged holder followed to its survivor), or None."""
    row = ws.national_id_holder(ws.ids.national_id(national_id))
    if row is None or row.person_id is None:
        return None
    return person_in(ws, row.person_id, follow_merges=True).id


def claim_national_id(ws: WorkingSet, national_id: str, person_id: UUID) -> None:
    """The national id is the person's, in the decision's save (store.person_keys); refused
    (NationalIdTaken) if someone else holds it."""
    key = ws.ids.national_id(national_id)
    row = ws.national_id_holder(key)
    if row is None:
        ws.hold_national_id(key, person_id, CLAIMED)
    elif row.person_id is None:  # released by a correction or an erasure earlier
        ws.hold_national_id(key, person_id, RECLAIMED)
    elif row.person_id != person_id:
        raise NationalIdTaken(person_in(ws, row.person_id, follow_merges=True).id)


def identity_joined(ws: WorkingSet, person: Person) -> None:
    """The person listed under their name, birth date and phone (a row saved with the decision)."""
    ws.join_identity(ws.ids.identity(*(person.details[k] for k in IDENTITY_FIELDS)), person.id)


def identity_holders(ws: WorkingSet, details: dict[str, Any]) -> list[UUID]:
    """The distinct open people listed under these details (merged ones followed)."""
    listed = ws.identity_members(ws.ids.identity(*(details[k] for k in IDENTITY_FIELDS)))
    # The key stays listing an erased person (its id derives from what was erased): skipped.
    holders = (person_in(ws, pid, follow_merges=True, allow_erased=True) for pid in listed)
    return list(dict.fromkeys(p.id for p in holders if not p.erased))


def person_for(
    ws: WorkingSet,
    details: dict[str, Any],
    fallback_id: UUID,
    actor: Actor,
    source: dict[str, Any],
    match_identity: bool,
) -> tuple[Person, bool]:
    """The national id's person if there is one, else (when matching identities) the one
    person with the same name, birth date and phone, else a person registered inline:
    (person, registered now). A new person is unsaved and outside the working set, so a
    refused dose leaves no orphan person."""
    if details["national_id"]:
        holder = holder_of_national_id(ws, details["national_id"])
        if holder is not None:
            return person_in(ws, holder), False
    elif match_identity:
        holders = identity_holders(ws, details)
        if len(holders) > 1:
            raise AmbiguousPerson(holders)
        if holders:
            return person_in(ws, holders[0]), False
    return Person.register(fallback_id, details, "site", actor.as_data(), source), True


def keys_of_new_person(ws: WorkingSet, person: Person) -> None:
    """A new person's keys, as rows saved with the working set (store.person_keys): a later
    report of the same batch finds the person through them."""
    if person.details["national_id"]:
        ws.hold_national_id(ws.ids.national_id(person.details["national_id"]), person.id, CLAIMED)
    identity_joined(ws, person)


def change_details(
    ws: WorkingSet, person: Person, checked: dict[str, Any], reason: str, actor: Actor, source: dict[str, Any]
) -> None:
    """Correct a person's details with the keys that follow them: the national id's claim
    moves, and the identity key of the old name, birth date and phone is left."""
    old_nid = person.details["national_id"]
    if checked.get("national_id"):
        claim_national_id(ws, checked["national_id"], person.id)
    if "national_id" in checked and old_nid:
        released = ws.ids.national_id(old_nid)
        old_row = ws.national_id_holder(released)
        if old_row is not None and old_row.person_id is not None:
            ws.hold_national_id(released, None, CORRECTED)
    before = ws.ids.identity(*(person.details[k] for k in IDENTITY_FIELDS))
    person.correct_details(checked, reason, actor.as_data(), source)
    after = ws.ids.identity(*(person.details[k] for k in IDENTITY_FIELDS))
    if after != before:  # listed under the new name, birth date or phone only
        ws.leave_identity(before, person.id)
        identity_joined(ws, person)
    ws.changed(person)
