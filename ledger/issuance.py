"""Issuance: the fact that one certificate version was signed, and later revoked.

One stream per certificate version, its id the version's certificate id (a keyed digest of
what it certifies: ledger.certification). `Issued` is its first event, so a version is issued
once: a second issuer, a retried page or a rebuild that tries again loses on the store's unique
(id, version) and signs nothing new. `Revoked` follows when a later version supersedes it (an
amendment, a void, a merge, new series rules, an erasure, a new dose) and names the successor.

Nothing personal is recorded: the signatures, key ids, the UVCIs and the SHC revocation id are
not personal data; the QR text is assembled again at read time from the certificate view's
record and the signature stored here (signing/).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from ledger.chain import ChainedAggregate
from ledger.errors import InvalidValue

REASONS = ("dose-added", "amended", "voided", "merged", "unmerged", "rules", "erased", "details-corrected")


class Issuance(ChainedAggregate):
    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Issued: ClassVar[type[Any]]
        Revoked: ClassVar[type[Any]]

    @event("Issued")
    def __init__(
        self,
        person_id: str,
        version: int,
        content_digest: str,
        rules_version: int,
        dcc: list[dict[str, Any]],
        shc: dict[str, Any] | None,
        actor: dict[str, str],
    ) -> None:
        # dcc: one per dose, in dose order: {uvci, kid (base64), iss, iat, exp, signature (base64)}
        # shc: {rid, kid (thumbprint), iss, nbf, signature (base64url)}, or None (no SHC key)
        self.person_id = person_id
        # Not `self.version`: that is the stream's own version, which the library numbers the
        # next event by (a Revoked after the Issued of version 3 was stored as the stream's 4th).
        self.certificate_version = version
        self.content_digest = content_digest
        self.rules_version = rules_version
        self.dcc = dcc
        self.shc = shc
        self.revoked: str | None = None
        self.successor: str | None = None

    @classmethod
    def issue(
        cls,
        certificate_id: UUID,
        person_id: str,
        version: int,
        content_digest: str,
        rules_version: int,
        dcc: list[dict[str, Any]],
        shc: dict[str, Any] | None,
        actor: dict[str, str],
    ) -> Issuance:
        if not dcc and shc is None:
            raise InvalidValue("dcc", "an issuance signs at least one form")
        issuance: Issuance = cls._create(
            cls.Issued,
            id=certificate_id,
            person_id=person_id,
            version=version,
            content_digest=content_digest,
            rules_version=rules_version,
            dcc=dcc,
            shc=shc,
            actor=actor,
        )
        return issuance

    def revoke(self, reason: str, successor: str | None, actor: dict[str, str]) -> None:
        if reason not in REASONS:
            raise InvalidValue("reason", f"must be one of {', '.join(REASONS)}")
        if self.revoked is not None:
            return  # revoked once: a retried revocation records nothing
        self._revoked(reason=reason, successor=successor, actor=actor)

    @event("Revoked")
    def _revoked(self, reason: str, successor: str | None, actor: dict[str, str]) -> None:
        self.revoked = reason
        self.successor = successor
