"""The issuer: each certificate version that becomes current is signed once and recorded as an
Issuance; each issued version a later one supersedes is revoked, naming the successor.

It follows the certificates view as a process application does: the view, after folding a
page and before committing it, hands the issuer what became current and what was superseded,
and the issuer saves its Issuances first, in one transaction. Whatever is handed again (a
retried page, a process stopped between this save and the view's commit, a rebuild, a second
issuer) finds its Issuance stored and is not signed again: the Issuance's id is the version's
certificate id, so the store's unique (id, version) also stops two issuers racing.

A rebuild of the view signs nothing; `issue_missing` (the projector at its start, `doseledger
certificates issue`) signs afterwards the current versions that have no Issuance. Without
signing keys the issuer signs nothing (certificates carry no signed forms, and that is no
error) but still revokes: revoking needs no key, and a version signed by `doseledger
certificates issue` must not keep verifying once superseded.

A version whose signing raises ValueError (content no form can carry) is left unsigned and
logged by its certificate id only; the others are signed: one version never stalls the view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ledger.certification import Certified, content_digest
from ledger.issuance import Issuance
from ledger.values import Actor

log = logging.getLogger("issuance")

ISSUER = Actor("issuer", "system")
CERTIFICATES = "certificates"  # the purpose of the key certificate ids are derived under (IdKey.derived)

# (certified, certificate id, the key its UVCIs and SHC rid are derived under, now) → the Issued
# event's `dcc` entries and `shc` entry: signing.documents.sign_version with the signers bound.
Sign = Callable[[Certified, str, bytes, datetime], tuple[list[dict[str, Any]], dict[str, Any] | None]]


@dataclass(frozen=True)
class Current:
    """A certificate version that became current: what it certifies, its id, whose, which."""

    certified: Certified
    certificate_id: str
    person_id: str
    version: int


@dataclass(frozen=True)
class Superseded:
    """A version a later one replaced, why (ledger.issuance.REASONS), and by which (None: by
    no certificate: a merge, an erasure, the last dose voided)."""

    certificate_id: str
    reason: str
    successor: str | None

    def as_data(self) -> dict[str, Any]:
        return {"certificate_id": self.certificate_id, "reason": self.reason, "successor": self.successor}


@dataclass(frozen=True)
class Issued:
    """What one hand-over recorded."""

    issued: list[str]
    revoked: list[str]
    signatures: int  # versions signed (each once)


class Issuer:
    """Signs through `sign` (signing.documents.sign_version with the keys bound; None: no key,
    nothing is signed but revocations are recorded) and records through `ledger`
    (usecases.application.DoseLedger)."""

    def __init__(
        self,
        ledger: Any,
        sign: Sign | None,
        actor: Actor = ISSUER,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.ledger = ledger
        self.sign = sign
        self.actor = actor.as_data()
        self.clock = clock

    def issue(self, current: Iterable[Current], superseded: Iterable[Superseded] = ()) -> Issued:
        """Sign and record the versions that have no Issuance yet, and revoke the superseded
        versions that have one, in one save; what is already recorded is left as it is."""
        current, superseded = list(current), list(superseded)
        if self.sign is None:
            current = []  # nothing to sign with: only the revocations are recorded
        if not current and not superseded:
            return Issued([], [], 0)
        stored = self._stored([c.certificate_id for c in current] + [s.certificate_id for s in superseded])
        now, key = self.clock(), self._key()  # the key: one derivation per hand-over
        new: list[Issuance] = []
        for version in current:
            if version.certificate_id in stored or any(str(i.id) == version.certificate_id for i in new):
                continue
            signed = self._signed(version, key, now)
            if signed is None:
                continue
            dcc, shc = signed
            if not dcc and shc is None:
                continue  # no key signs any form: nothing to record
            new.append(
                Issuance.issue(
                    UUID(version.certificate_id),
                    version.person_id,
                    version.version,
                    content_digest(version.certified, key),
                    version.certified.rules_version,
                    dcc,
                    shc,
                    self.actor,
                )
            )
        revoked = self._revoke(stored, superseded)
        if new or revoked:
            self._save(new, revoked, superseded)
        return Issued([str(i.id) for i in new], [str(i.id) for i in revoked], signatures=len(new))

    def _signed(
        self, version: Current, key: bytes, now: datetime
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None] | None:
        """The version's signed entries; None when its content cannot be signed (ValueError),
        which is logged by the certificate id alone: the message may quote the content."""
        assert self.sign is not None
        try:
            return self.sign(version.certified, version.certificate_id, key, now)
        except ValueError as error:
            log.error(
                "issuance: certificate %s cannot be signed (%s); left unsigned",
                version.certificate_id,
                error.__class__.__name__,
            )
            return None

    def _key(self) -> bytes:
        return bytes(self.ledger.ids.derived(CERTIFICATES))

    def _stored(self, ids: list[str]) -> dict[str, Issuance]:
        """The Issuances stored of these certificate ids, in one read."""
        wanted = sorted({UUID(i) for i in ids})
        working = self.ledger.decisions.working_set()
        working.prefetch(wanted)
        found = {str(i): working.get(Issuance, i) for i in wanted}
        return {i: issuance for i, issuance in found.items() if issuance is not None}

    def _revoke(self, stored: dict[str, Issuance], superseded: list[Superseded]) -> list[Issuance]:
        revoked = []
        for entry in superseded:
            issuance = stored.get(entry.certificate_id)
            if issuance is None or issuance.revoked is not None:
                continue  # never issued (no keys then, or current too briefly), or revoked already
            issuance.revoke(entry.reason, entry.successor, self.actor)
            revoked.append(issuance)
        return revoked

    def _save(self, new: list[Issuance], revoked: list[Issuance], superseded: list[Superseded]) -> None:
        try:
            self.ledger.decisions.save(*new, *revoked)
        except IntegrityError:
            # Another issuer (or this one, before a crash) recorded some of them first. Each is
            # saved alone then: those already there are left, and nothing is signed again.
            log.info("issuance: some versions were recorded meanwhile; saving one by one")
            for issuance in new:
                try:
                    self.ledger.decisions.save(issuance)
                except IntegrityError:
                    continue
            again = self._stored([s.certificate_id for s in superseded])
            for issuance in self._revoke(again, superseded):
                try:
                    self.ledger.decisions.save(issuance)
                except IntegrityError:
                    continue
