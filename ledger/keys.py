"""Unique keys without a global lock.

Each key is a tiny aggregate whose id is the uuid5 of the key. It is saved in the same
transaction as the events it guards, so the store's unique (originator_id, version) makes the
second claimant fail atomically: no dose is stored twice, no national id names two people.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from ledger.chain import ChainedAggregate
from ledger.names import clean

NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger.example/ids")
# A decision asks for the same key several times (to prefetch it, to check it, to claim it): a
# uuid5 is a SHA-1 and a UUID object each time. The last few thousand are remembered.
remembered = lru_cache(maxsize=16_384)


@remembered
def dose_id_for(site_id: str, site_record_id: str) -> UUID:
    """A dose's id is derived from the record that reported it: the same record, the same id."""
    return uuid5(NAMESPACE, f"dose/{site_id}/{site_record_id}")


@remembered
def person_id_for_record(site_id: str, site_record_id: str) -> UUID:
    """A person registered inline with a dose: a retried request finds the same person."""
    return uuid5(NAMESPACE, f"person-of/{site_id}/{site_record_id}")


@remembered
def national_id_key(national_id: str) -> UUID:
    return uuid5(NAMESPACE, f"national-id/{national_id}")


@remembered
def site_key(site_id: str) -> UUID:
    return uuid5(NAMESPACE, f"site/{site_id}")


@remembered
def identity_key(full_name: str, birth_date: str, phone: str | None) -> UUID:
    """Name (NFC, spaces folded, case folded; diacritics kept), birth date and phone (or none)."""
    return uuid5(NAMESPACE, f"identity/{clean(full_name).casefold()}|{birth_date}|{phone or ''}")


class SiteRecord(ChainedAggregate):
    """(site_id, site_record_id) → the one dose it reported. Its id is the dose id."""

    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Claimed: ClassVar[type[ChainedAggregate.Created]]

    @event("Claimed")
    def __init__(self, person_id: UUID, site_id: str, site_record_id: str, content_digest: str) -> None:
        self.person_id = person_id
        self.site_id = site_id
        self.site_record_id = site_record_id
        self.content_digest = content_digest

    @classmethod
    def claim(cls, person_id: UUID, site_id: str, site_record_id: str, content_digest: str) -> SiteRecord:
        return cls._create(
            cls.Claimed,
            id=dose_id_for(site_id, site_record_id),
            person_id=person_id,
            site_id=site_id,
            site_record_id=site_record_id,
            content_digest=content_digest,
        )


class NationalIdClaim(ChainedAggregate):
    """A national id → the one person holding it."""

    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Claimed: ClassVar[type[ChainedAggregate.Created]]

    @event("Claimed")
    def __init__(self, person_id: UUID) -> None:
        self.person_id: UUID | None = person_id

    @classmethod
    def claim(cls, national_id: str, person_id: UUID) -> NationalIdClaim:
        return cls._create(cls.Claimed, id=national_id_key(national_id), person_id=person_id)

    def reassign(self, person_id: UUID | None, reason: str) -> None:
        self._reassigned(person_id=person_id, reason=reason)

    @event("Reassigned")
    def _reassigned(self, person_id: UUID | None, reason: str) -> None:
        self.person_id = person_id


class IdentityKey(ChainedAggregate):
    """(name, birth date, phone) → every person registered with them.

    Not unique: twins, or a family sharing a phone, may share it. A retro import matches a
    row to a person through it, and refuses a row that finds more than one.
    """

    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Claimed: ClassVar[type[ChainedAggregate.Created]]

    @event("Claimed")
    def __init__(self, person_id: UUID) -> None:
        self.person_ids: list[UUID] = [person_id]

    @classmethod
    def claim(cls, key: UUID, person_id: UUID) -> IdentityKey:
        return cls._create(cls.Claimed, id=key, person_id=person_id)

    def join(self, person_id: UUID) -> None:
        if person_id not in self.person_ids:
            self._joined(person_id=person_id)

    def leave(self, person_id: UUID, reason: str) -> None:
        if person_id in self.person_ids:
            self._left(person_id=person_id, reason=reason)

    @event("Joined")
    def _joined(self, person_id: UUID) -> None:
        self.person_ids.append(person_id)

    @event("Left")
    def _left(self, person_id: UUID, reason: str) -> None:
        self.person_ids.remove(person_id)


class CorrectionTicket(ChainedAggregate):
    """A correction request's id → the person whose record it is about (its id is the request id)."""

    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Issued: ClassVar[type[ChainedAggregate.Created]]

    @event("Issued")
    def __init__(self, person_id: UUID, code_digest: str) -> None:
        self.person_id = person_id
        self.code_digest = code_digest

    @classmethod
    def issue(cls, request_id: UUID, person_id: UUID, code_digest: str) -> CorrectionTicket:
        return cls._create(cls.Issued, id=request_id, person_id=person_id, code_digest=code_digest)
