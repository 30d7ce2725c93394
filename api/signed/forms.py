"""A person's current signed forms, assembled from the certificates view's record and the
version's issuance.

The certificates view holds the record (name, birth date, doses) and the current version's id;
the issuance holds what was signed. The record and the certificate are read in one statement,
so they are of one version; what they certify is computed again under the rules version the
issuance names, and its digest must be the one that was signed, or no QR is assembled: a QR
whose signature fails is worse than none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from api.auth import require_province
from api.problems import Problem, field_error
from ledger.certification import Certified, content_digest
from ledger.issuance import Issuance
from ledger.principal import Principal
from projections import Views
from projections.certificate_versions import certified_of
from projections.records import as_uuid
from signing.dcc import name_refusal
from signing.documents import SignedForms, assemble_version
from usecases import series_rules
from usecases.application import DoseLedger
from usecases.issuance import CERTIFICATES

log = logging.getLogger("doseledger.api")

PERSON = ["path", "person_id"]


@dataclass(frozen=True)
class CurrentForms:
    certificate_id: str
    version: int
    issued: dict[str, Any]
    forms: SignedForms
    dcc_refused: str | None = None  # why the version has no EU DCC whatever the keys (no personal data)


def not_issued(person_id: UUID, why: str) -> Problem:
    msg = f"the certificate of person {person_id} is not issued yet: {why}"
    return Problem(409, "conflict", msg, errors=[field_error(PERSON, msg)])


def no_dcc(person_id: UUID, why: str) -> Problem:
    msg = f"no EU DCC for this version of the certificate of person {person_id}: {why}"
    return Problem(409, "conflict", msg, errors=[field_error(PERSON, msg)])


def current_forms(
    ledger: DoseLedger, views: Views, principal: Principal, person_id: UUID, form: str
) -> CurrentForms:
    """The current version's signed `form` ("dcc" or "shc"; only that one is assembled: a read
    of one pays for one); 404 for a person the view does not hold, 403 outside the token's
    provinces, 409 when the version has no issuance (yet)."""
    pid = as_uuid(person_id)
    loaded = views.certificates.load([pid]).get(pid)
    if loaded is None:
        msg = f"no certificate for person {person_id}"
        raise Problem(404, "not-found", msg, errors=[field_error(PERSON, msg)])
    record, document = loaded
    require_province(principal, document.get("province"), PERSON)
    certificate_id = document.get("certificate_id")
    if certificate_id is None:
        raise not_issued(person_id, "the current version certifies nothing (no dose, merged or erased)")
    issued = views.issuances.issued(certificate_id) or _issued_in_ledger(ledger, certificate_id)
    if issued is None:
        raise not_issued(person_id, "the issuer has not signed the current version; retry shortly")
    certified = _certified(ledger, views, record, issued)
    key = ledger.ids.derived(CERTIFICATES)
    if certified is None or content_digest(certified, key) != issued["content_digest"]:
        log.warning("certificate %s: the record does not give the content signed", certificate_id)
        raise not_issued(person_id, "the signed content does not match the certificate's record")
    if form == "dcc":
        forms = assemble_version(certified, issued["dcc"], None)
        refused = None if forms.dcc else name_refusal(certified.full_name)
    else:
        forms, refused = assemble_version(certified, [], issued["shc"]), None
    return CurrentForms(certificate_id, int(document["version"]), issued, forms, refused)


def _certified(ledger: DoseLedger, views: Views, record: Any, issued: dict[str, Any]) -> Certified | None:
    """What the record certifies under the rules the version was signed under (the view's
    copy of them, else the rules stream's)."""
    number = int(issued["rules_version"])
    rules = views.certificates.rules_version(number) or series_rules.version(ledger, number)
    return certified_of(record, record.evaluation(), rules)


def _issued_in_ledger(ledger: DoseLedger, certificate_id: str) -> dict[str, Any] | None:
    """The issuance as its stream says, for a reader whose issuances view has not folded it yet
    (a `min_position` read waits for the certificates view, which the issuance follows)."""
    try:
        issuance: Issuance = ledger.repository.get(UUID(certificate_id))
    except AggregateNotFoundError:
        return None
    return {
        "certificate_id": certificate_id,
        "person_id": issuance.person_id,
        "version": issuance.certificate_version,
        "content_digest": issuance.content_digest,
        "rules_version": issuance.rules_version,
        "dcc": issuance.dcc,
        "shc": issuance.shc,
        "revoked": None if issuance.revoked is None else {"reason": issuance.revoked},
    }
