"""Unique keys without a global lock.

Each key is a tiny aggregate whose id is the uuid5 of the key. It is saved in the same
transaction as the events it guards, so the store's unique (originator_id, version) makes the
second claimant fail atomically: no dose is stored twice, no national id names two people.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from ledger.chain import ChainedAggregate

NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger.example/ids")


def dose_id_for(site_id: str, site_record_id: str) -> UUID:
    """A dose's id is derived from the record that reported it: the same record, the same id."""
    return uuid5(NAMESPACE, f"dose/{site_id}/{site_record_id}")


def person_id_for_record(site_id: str, site_record_id: str) -> UUID:
    """A person registered inline with a dose: a retried request finds the same person."""
    return uuid5(NAMESPACE, f"person-of/{site_id}/{site_record_id}")


def national_id_key(national_id: str) -> UUID:
    return uuid5(NAMESPACE, f"national-id/{national_id}")


def site_key(site_id: str) -> UUID:
    return uuid5(NAMESPACE, f"site/{site_id}")


class SiteRecord(ChainedAggregate):
    """(site_id, site_record_id) → the one dose it reported. Its id is the dose id."""

    @event("Claimed")
    def __init__(self, person_id: UUID, site_id: str, site_record_id: str, content_digest: str) -> None:
        self.person_id = person_id
        self.site_id = site_id
        self.site_record_id = site_record_id
        self.content_digest = content_digest

    @classmethod
    def claim(cls, person_id: UUID, site_id: str, site_record_id: str, content_digest: str) -> SiteRecord:
        return cls._create(cls.Claimed, id=dose_id_for(site_id, site_record_id), person_id=person_id,
                           site_id=site_id, site_record_id=site_record_id, content_digest=content_digest)


class NationalIdClaim(ChainedAggregate):
    """A national id → the one person holding it."""

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




class CorrectionTicket(ChainedAggregate):
    """A correction request's id → the person whose record it is about (its id is the request id)."""

    @event("Issued")
    def __init__(self, person_id: UUID, code_digest: str) -> None:
        self.person_id = person_id
        self.code_digest = code_digest

    @classmethod
    def issue(cls, request_id: UUID, person_id: UUID, code_digest: str) -> CorrectionTicket:
        return cls._create(cls.Issued, id=request_id, person_id=person_id, code_digest=code_digest)
