"""A posted Bundle booked: its Immunizations recorded in one batch through the ledger's batch
path, its entered-in-error ones voided, each entry answered with a status and an
OperationOutcome whose `expression` names the FHIR path at fault."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from api.auth import actor, acts_for
from intake.fhir.bundle import Entry, Issue, read
from ledger.errors import DoseAlreadyVoided, LedgerError, NotFound
from ledger.principal import SITE, Principal
from ledger.values import DoseStatus
from usecases.application import DoseLedger

# Where the ledger's fields come from in a FHIR Immunization and its Patient.
EXPRESSIONS = {
    "site_id": "Immunization.location",
    "site_record_id": "Immunization.identifier",
    "vaccine": "Immunization.vaccineCode",
    "administered_at": "Immunization.occurrenceDateTime",
    "lot": "Immunization.lotNumber",
    "dose_number": "Immunization.protocolApplied.doseNumberPositiveInt",
    "person_id": "Immunization.patient",
    "person": "Patient",
    "person.full_name": "Patient.name",
    "person.birth_date": "Patient.birthDate",
    "person.sex": "Patient.gender",
    "person.national_id": "Patient.identifier",
    "person.phone": "Patient.telecom",
    "person.province": "Patient.address.state",
    "person.district": "Patient.address.district",
    "person.address": "Patient.address.text",
}
VOID_REASON = "entered in error, as the site's FHIR Immunization says"


@dataclass
class Booked:
    """The transaction-response, and the people the answer names that were found by their details
    (a look-up by national id, which the caller's access log records)."""

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


def refusal(error: LedgerError) -> Issue:
    expression = EXPRESSIONS.get(error.field, EXPRESSIONS.get(error.field.split(".")[0], "Immunization"))
    code = (
        "not-found" if isinstance(error, NotFound) else "conflict" if error.kind == "conflict" else "invalid"
    )
    return Issue(expression, error.message, code=code)


def book_bundle(ledger: DoseLedger, principal: Principal, bundle: Any) -> Booked:
    """Book every entry; BundleRefused when the bundle as a whole cannot be read."""
    sites = list(principal.sites) if principal.role == SITE else []
    entries = read(
        bundle,
        ids=ledger.ids,
        default_site=sites[0] if len(sites) == 1 else None,
        province_of_site=lambda site_id: getattr(ledger.site(site_id), "province", None),
    )
    responses: list[dict[str, Any] | None] = [None] * len(entries)
    for entry in entries:
        if (
            entry.action in ("record", "void")
            and entry.site_id is not None
            and not acts_for(principal, entry.site_id)
        ):
            issue = Issue(
                "Immunization.location",
                f"this token does not act for site {entry.site_id!r}",
                code="forbidden",
            )
            responses[entry.index] = answer("403 Forbidden", [issue])
    records = [e for e in entries if e.action == "record" and responses[e.index] is None]
    booked = Booked({})
    outcomes = []
    if records:
        outcomes = ledger.record_doses(
            [e.dose for e in records if e.dose is not None],
            actor=actor(principal),
            sources=[e.source for e in records],
            match_identity=True,
        )
        for entry, result in zip(records, outcomes, strict=True):
            responses[entry.index] = recorded(entry, result)
            if result.receipt is not None and result.receipt.matched:
                booked.matched.append(result.receipt.person_id)
    people = {
        e.person_ref: r.receipt.person_id
        for e, r in zip(records, outcomes if records else [], strict=True)
        if r.receipt is not None and e.person_ref is not None
    }
    for entry in entries:
        if responses[entry.index] is not None:
            continue
        if entry.resource_type == "Patient" and entry.full_url in people:
            responses[entry.index] = answer("200 OK", entry.issues, f"Patient/{people[entry.full_url]}")
        elif entry.action == "void":
            responses[entry.index] = voided(ledger, principal, entry)
        elif entry.action == "refused":
            responses[entry.index] = answer("400 Bad Request", entry.issues)
        else:  # nothing to book: a Patient, a not-done Immunization, another resource
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


def recorded(entry: Entry, result: Any) -> dict[str, Any]:
    if result.status in (DoseStatus.CREATED, DoseStatus.DUPLICATE):
        receipt = result.receipt
        created = result.status == DoseStatus.CREATED
        note = "booked" if created else "already booked: nothing new stored"
        issue = Issue("Immunization", note, "information", "informational")
        return answer("201 Created" if created else "200 OK", [issue], f"Immunization/{receipt.dose_id}")
    assert result.error is not None
    status = "409 Conflict" if result.status == DoseStatus.CONFLICT else "422 Unprocessable Entity"
    return answer(status, [refusal(result.error)])


def voided(ledger: DoseLedger, principal: Principal, entry: Entry) -> dict[str, Any]:
    assert entry.dose_id is not None
    location = f"Immunization/{entry.dose_id}"
    try:
        _, recorded_at = ledger.dose_origin(entry.dose_id)
        if not acts_for(principal, recorded_at):
            issue = Issue(
                "Immunization.identifier",
                "the dose was recorded by a site this token does not act for",
                code="forbidden",
            )
            return answer("403 Forbidden", [issue])
        source = {"kind": "fhir", "site_id": recorded_at}
        ledger.void_dose(entry.dose_id, VOID_REASON, actor=actor(principal), source=source)
    except DoseAlreadyVoided:
        issue = Issue(
            "Immunization.status",
            "already entered-in-error: nothing new stored",
            "information",
            "informational",
        )
        return answer("200 OK", [issue], location)
    except NotFound:
        issue = Issue(
            "Immunization.identifier", "no dose of the ledger has this identifier", code="not-found"
        )
        return answer("404 Not Found", [issue])
    except LedgerError as error:
        return answer("422 Unprocessable Entity", [refusal(error)])
    note = Issue(
        "Immunization.status", "entered-in-error: the dose is voided", "information", "informational"
    )
    return answer("200 OK", [note], location)
