"""Unique keys without a global lock.

A site's record is a row of a key table beside the events (store.site_records), inserted in the
same transaction as the dose, whose unique index makes the second claimant fail atomically; a
national id's holder and an identity key's people likewise (store.person_keys, under keyed ids).
Every other key is a tiny aggregate whose id is derived from the key (a site: a uuid5, no one's
personal data), saved in the same transaction as the events it guards, so the store's unique
(originator_id, version) makes the second claimant fail atomically. The ids of keys made from
personal data are HMACs under the deployment's secret (IdKey; the store records which secret
in the KeyedIds stream): no dose is stored twice, no national id names two people.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from ledger.chain import ChainedAggregate
from ledger.names import clean

NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger.example/ids")
# A decision asks for the same key several times (to prefetch it, to check it, to claim it): a
# derivation is a hash and a UUID object each time. The last few thousand are remembered.
remembered = lru_cache(maxsize=16_384)
# What the fingerprint of the ids secret is an HMAC of: a constant, so that it tells which secret
# made a store's keys and nothing else (no personal data, not the secret).
_FINGERPRINTED = b"doseledger keyed ids"


@remembered
def dose_id_for(site_id: str, site_record_id: str) -> UUID:
    """A dose's id is derived from the record that reported it: the same record, the same id.

    Not keyed: a site's id and its own record number are no one's personal data."""
    return uuid5(NAMESPACE, f"dose/{site_id}/{site_record_id}")


@remembered
def site_key(site_id: str) -> UUID:
    return uuid5(NAMESPACE, f"site/{site_id}")


@remembered
def _keyed(secret: bytes, name: str) -> UUID:
    """HMAC-SHA256 of the name under the secret, its first 16 bytes as a version-8 UUID.

    Version 8 (RFC 9562, "custom") and not 4 or 5: the id is neither random nor the RFC's
    public name-based hash, and the version digit tells a keyed id from an old uuid5 one at a
    glance. 122 of the 128 bits are the HMAC's."""
    # A copy of the HMAC keyed once (as ledger.chain's digests): hmac.new hashes the key's
    # two padded blocks again for every name.
    mac = _keyed_mac(secret).copy()
    mac.update(name.encode())
    raw = bytearray(mac.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC's variant
    return UUID(bytes=bytes(raw))


@lru_cache(maxsize=4)  # the deployment's one secret (a few more in tests)
def _keyed_mac(secret: bytes) -> hmac.HMAC:
    return hmac.new(secret, digestmod=hashlib.sha256)


def _fingerprint(secret: bytes) -> str:
    return hmac.new(secret, _FINGERPRINTED, hashlib.sha256).hexdigest()


KEYED_DIGEST = "hmac:"  # how a site-record key row's keyed digest begins (IdKey.site_record_digest)


class IdKey:
    """The ids of keys made from personal data, derived under the deployment's secret.

    A uuid5 of a national id can be reversed by anyone: half of a Vietnamese national id is
    fixed by province, sex, century and birth year, so its few million candidates are hashed in
    seconds. Keyed with a secret kept apart from the store, an id says nothing without it.
    The domain is handed the secret's bytes; it never reads them itself.
    """

    __slots__ = ("_secret", "_site_record_key")

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the ids secret is shorter than 16 bytes")
        self._secret = secret
        self._site_record_key: bytes | None = None

    def __repr__(self) -> str:  # never the secret, in a log or a traceback
        return f"IdKey(fingerprint={self.fingerprint[:12]}…)"

    @property
    def fingerprint(self) -> str:
        """Which secret this is, as stored with the ledger: it reveals nothing of the secret."""
        return _fingerprint(self._secret)

    def derived(self, purpose: str) -> bytes:
        """A key of its own for `purpose` (HMAC of "derived/" + purpose under the secret): the
        certificate ids, UVCIs and revocation ids are keyed by it, never by the secret itself,
        so that no digest published with a certificate is ever made under the ids' own key."""
        return hmac.new(self._secret, f"derived/{purpose}".encode(), hashlib.sha256).digest()

    def site_record_digest(self, digest: str) -> str:
        """A report's content digest as its site-record key row keeps it: keyed ("hmac:" and an
        HMAC under a key derived for it). The plain digest is over the details of a person a
        site sent with the dose (name, birth date, national id, phone): kept in a row that
        outlives the person's erasure, it would confirm a guess of them."""
        if self._site_record_key is None:
            self._site_record_key = self.derived("site-record-digest")
        return KEYED_DIGEST + hmac.new(self._site_record_key, digest.encode(), hashlib.sha256).hexdigest()

    def person_of_record(self, site_id: str, site_record_id: str) -> UUID:
        """A person registered inline with a dose: a retried request finds the same person."""
        return _keyed(self._secret, f"person-of/{site_id}/{site_record_id}")

    def national_id(self, national_id: str) -> UUID:
        return _keyed(self._secret, f"national-id/{national_id}")

    def identity(self, full_name: str, birth_date: str, phone: str | None) -> UUID:
        """Name (NFC, spaces folded, case folded; diacritics kept), birth date and phone (or none)."""
        return _keyed(self._secret, f"identity/{clean(full_name).casefold()}|{birth_date}|{phone or ''}")


class SiteRecord(ChainedAggregate):
    """(site_id, site_record_id) → the one dose it reported. Its id is the dose id.

    How stores written before the key table (store.site_records) kept the key: its events stay,
    under their topic, and are copied into the table at each start (usecases.site_record_keys);
    the code since the table writes nothing new as this aggregate."""

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
    """A national id → the one person holding it.

    How stores written before the national-id key table (store.person_keys) kept the key: its
    events stay, under their topics, and are copied into the table at each start
    (usecases.person_key_copy); the code since the table writes nothing new as this aggregate."""

    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Claimed: ClassVar[type[ChainedAggregate.Created]]
        Reassigned: ClassVar[type[ChainedAggregate.Event]]

    @event("Claimed")
    def __init__(self, person_id: UUID) -> None:
        self.person_id: UUID | None = person_id

    @classmethod
    def claim(cls, key: UUID, person_id: UUID) -> NationalIdClaim:
        """Claimed under `key`, the national id's keyed id (IdKey.national_id)."""
        return cls._create(cls.Claimed, id=key, person_id=person_id)

    def reassign(self, person_id: UUID | None, reason: str) -> None:
        self._reassigned(person_id=person_id, reason=reason)

    @event("Reassigned")
    def _reassigned(self, person_id: UUID | None, reason: str) -> None:
        self.person_id = person_id


class IdentityKey(ChainedAggregate):
    """(name, birth date, phone) → every person registered with them.

    Not unique: twins, or a family sharing a phone, may share it. A retro import matches a
    row to a person through it, and refuses a row that finds more than one.

    How stores written before the identity key table (store.person_keys) kept the key: its
    events stay, under their topics, and are copied into the table at each start
    (usecases.person_key_copy); the code since the table writes nothing new as this aggregate.
    """

    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Claimed: ClassVar[type[ChainedAggregate.Created]]
        Joined: ClassVar[type[ChainedAggregate.Event]]
        Left: ClassVar[type[ChainedAggregate.Event]]

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
        Moved: ClassVar[type[ChainedAggregate.Event]]

    @event("Issued")
    def __init__(self, person_id: UUID, code_digest: str) -> None:
        self.person_id = person_id
        self.code_digest = code_digest

    @classmethod
    def issue(cls, request_id: UUID, person_id: UUID, code_digest: str) -> CorrectionTicket:
        return cls._create(cls.Issued, id=request_id, person_id=person_id, code_digest=code_digest)

    def move(self, person_id: UUID, reason: str) -> None:
        """The request went to another person's record with the dose it is about (an unmerge)."""
        if person_id != self.person_id:
            self._moved(person_id=person_id, reason=reason)

    @event("Moved")
    def _moved(self, person_id: UUID, reason: str) -> None:
        self.person_id = person_id


KEYED_IDS_ID = uuid5(NAMESPACE, "keyed-ids")


class KeyedIds(ChainedAggregate):
    """Which secret made the store's keyed ids (its fingerprint): one stream at a fixed id.

    Recorded in the same transaction as the store's first keyed id, so that no key is ever
    stored without it; a ledger started with another secret refuses to run rather than make
    a second person for a national id it can no longer find.
    """

    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Adopted: ClassVar[type[ChainedAggregate.Created]]

    @event("Adopted")
    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    @classmethod
    def adopt(cls, fingerprint: str) -> KeyedIds:
        return cls._create(cls.Adopted, id=KEYED_IDS_ID, fingerprint=fingerprint)
