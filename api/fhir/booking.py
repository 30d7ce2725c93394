"""A posted Bundle booked through `intake.feeds.book`, as every standard's records are: its
Immunizations recorded in one batch, its entered-in-error ones voided, each entry answered with
a status and an OperationOutcome whose `expression` names the FHIR path at fault."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from api.auth import actor, acts_for
from intake.feeds import ALREADY_BOOKED, BOOKED, FLAGGED, NO_DOSE, REFUSED, Outcome, book
from intake.fhir.bundle import Issue, read
from ledger.principal import SITE, Principal
from usecases.application import DoseLedger


@dataclass
class Booked:
    """The transaction-response, and the people the answer names from the details sent (who may
    be people the ledger held already: the caller's access log records them)."""

    bundle: dict[str, Any]
    matched: list[UUID] = field(default_factory=list)


def outcome(issues: list[Issue]) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": i.severity, "code": i.code, "diagnostics": i.reason, "expression": [i.expression]}
            for i in issues
        ]
        or [{"severity": "information", "code": "informational", "diagnostics": "done"}],
    }


# A feed issue's kind as an OperationOutcome issue type (FHIR's IssueType value set).
ISSUE_TYPES = {
    "missing": "required",
    "invalid": "invalid",
    "unknown-code": "code-invalid",
    "malformed": "structure",
    "scope": "forbidden",
    "conflict": "conflict",
}


def issues_of(outcome: Outcome) -> list[Issue]:
    return [
        Issue(
            i.where,
            i.reason,
            i.severity,
            ISSUE_TYPES.get(i.kind, "invalid") if i.severity == "error" else "informational",
        )
        for i in outcome.issues
    ]


# A booking's outcome as the entry's HTTP status, and what its OperationOutcome says besides.
STATUS: dict[str, tuple[str, str | None]] = {
    BOOKED: ("201 Created", "booked"),
    FLAGGED: ("201 Created", "booked, with warnings to look at"),
    ALREADY_BOOKED: ("200 OK", "already booked: nothing new stored"),
    NO_DOSE: ("200 OK", "no dose booked"),
    REFUSED: ("422 Unprocessable Entity", None),
}


def book_bundle(ledger: DoseLedger, principal: Principal, bundle: Any) -> Booked:
    """Book every entry; BundleRefused when the bundle as a whole cannot be read."""
    sites = list(principal.sites) if principal.role == SITE else []
    entries = read(bundle, ids=ledger.ids, default_site=sites[0] if len(sites) == 1 else None)
    responses: list[dict[str, Any] | None] = [None] * len(entries)
    for entry in entries:
        if entry.record is not None and entry.site_id is not None and not acts_for(principal, entry.site_id):
            reason = f"this token does not act for site {entry.site_id!r}"
            where = "Immunization.identifier" if entry.action == "void" else "Immunization.location"
            responses[entry.index] = answer("403 Forbidden", [Issue(where, reason, code="forbidden")])
    booking = [e for e in entries if e.record is not None and responses[e.index] is None]
    outcomes = book(
        ledger,
        [e.record for e in booking if e.record is not None],
        actor(principal),
        allowed_sites=sites if principal.role == SITE else None,
        match_identity=True,
    )
    booked = Booked({})
    people: dict[str, UUID] = {}
    for entry, result in zip(booking, outcomes, strict=True):
        status, note = STATUS[result.status]
        if entry.action == "void" and result.status == BOOKED:
            status, note = "200 OK", "entered-in-error: the dose is voided"
        found = issues_of(result)
        if note is not None:
            found.append(Issue("Immunization", note, "information", "informational"))
        location = f"Immunization/{result.dose_id}" if result.dose_id is not None else None
        responses[entry.index] = answer(status, found, location)
        if result.person_id is not None and entry.person_ref is not None:
            people[entry.person_ref] = result.person_id
            if entry.record is not None and entry.record.person_id is None:
                # Found by the details sent, maybe (a national id, or name, birth date and phone):
                # the answer names them, a look-up in all but name.
                booked.matched.append(result.person_id)
    for entry in entries:
        if responses[entry.index] is not None:
            continue
        if entry.resource_type == "Patient" and entry.full_url in people:
            responses[entry.index] = answer("200 OK", entry.issues, f"Patient/{people[entry.full_url]}")
        elif entry.action == "refused":
            responses[entry.index] = answer("400 Bad Request", entry.issues)
        else:  # nothing to book: a Patient no booked Immunization references, another resource
            responses[entry.index] = answer("200 OK", entry.issues)
    booked.bundle = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": r} for r in responses],
    }
    return booked


def answer(status: str, issues: list[Issue], location: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status, "outcome": outcome(issues)}
    if location is not None:
        response["location"] = location
    return response
