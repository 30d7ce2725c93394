"""A posted Bundle read into feed records (intake/feeds.py), and per entry the issues found,
each naming the FHIR path at fault.

Reading decides nothing and stores nothing: the API books the records read here through
`intake.feeds.book`, as an HL7 message's or a CVRS row's, entry by entry, so one bad entry costs
only itself. Rules, stated once:

- An Immunization is its site's record: the identifier `urn:doseledger:site:<site>|<record>`
  (what `$everything` writes), else its first identifier's value as a record of the site the
  resource names (`location.identifier`) or the sending site token's one site. One without any
  identifier (a SMART Health Card's) is the record of a keyed digest of the patient, vaccine,
  date and lot: sent again, it is the same record, and the id reveals none of them.
- `status` completed records a dose; entered-in-error voids the dose it identifies; not-done
  books nothing (the ledger has no room for a vaccination not given: HL7's "not administered").
- The vaccine is a CVX code (through intake's shared table) or the EU product code; the CVX
  code and the performing organization's name are kept as sent, for `$everything` to give back.
- `primarySource` false is a historical dose: reported, not administered by the sender.
- The patient is a Patient of the bundle (registered with the dose, matched by name, birth date
  and phone, or national id, as a retro import's people are) or `Patient/<person id>`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from intake import codes
from intake.feeds import FeedRecord
from intake.fhir.resources import CVX_SYSTEM, EU_PRODUCT_SYSTEM, SITE_SYSTEM_PREFIX
from intake.fhir.validation import Fault, checked
from ledger.keys import IdKey
from ledger.names import match_key

BUNDLE_TYPES = ("transaction", "batch", "collection")
MAX_ENTRIES = 1000  # as a JSON batch of doses: one transaction's worth
STATUSES = ("completed", "entered-in-error", "not-done")
# Where each field of a feed record comes from in FHIR: what an issue names.
WHERE = {
    "full_name": "Patient.name",
    "birth_date": "Patient.birthDate",
    "sex": "Patient.gender",
    "national_id": "Patient.identifier",
    "phone": "Patient.telecom",
    "address": "Patient.address",
    "province": "Patient.address.state",
    "district": "Patient.address.district",
    "person_id": "Immunization.patient",
    "site_id": "Immunization.location",
    "site_record_id": "Immunization.identifier",
    "vaccine_code": "Immunization.vaccineCode",
    "code_system": "Immunization.vaccineCode",
    "administered_on": "Immunization.occurrenceDateTime",
    "lot": "Immunization.lotNumber",
    "completion": "Immunization.status",
    "action": "Immunization.status",
}
NATIONAL_ID_TYPE = "NI"  # HL7 v2 table 0203: national unique individual identifier


@dataclass(frozen=True)
class Issue:
    expression: str
    reason: str
    severity: str = "error"  # error | warning | information
    code: str = "invalid"  # the OperationOutcome's issue type


@dataclass
class Entry:
    """What one entry of the bundle asks for, and what was found wrong with it."""

    index: int
    resource_type: str
    action: str  # record | void | none (nothing to book) | refused
    record: FeedRecord | None = None  # record or void: what intake.feeds books
    site_id: str | None = None
    person_ref: str | None = None  # record: the bundle's reference to its Patient
    full_url: str | None = None  # the entry's own fullUrl (a Patient's, for the answer)
    issues: list[Issue] = field(default_factory=list)


class BundleRefused(ValueError):
    """The bundle as a whole cannot be read (not a Bundle, a type this endpoint does not take)."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(f"{issue.expression}: {issue.reason}")
        self.issue = issue


def read(bundle: Any, *, ids: IdKey, default_site: str | None) -> list[Entry]:
    """One Entry per entry of the bundle, in order."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleRefused(
            Issue("Bundle", "the body must be a FHIR Bundle (resourceType Bundle)", code="structure")
        )
    if bundle.get("type") not in BUNDLE_TYPES:
        reason = f"type must be one of {', '.join(BUNDLE_TYPES)}, got {bundle.get('type')!r}"
        raise BundleRefused(Issue("Bundle.type", reason, code="value"))
    entries = bundle.get("entry")
    entries = [] if entries is None else entries
    if not isinstance(entries, list):
        raise BundleRefused(Issue("Bundle.entry", "must be a list", code="structure"))
    if len(entries) > MAX_ENTRIES:
        reason = f"{len(entries)} entries: send at most {MAX_ENTRIES} in one bundle"
        raise BundleRefused(Issue("Bundle.entry", reason, code="too-costly"))
    patients = _patients(entries)
    referenced = set()
    read_entries: list[Entry] = []
    for index, item in enumerate(entries):
        resource = item.get("resource") if isinstance(item, dict) else None
        kind = str(resource.get("resourceType")) if isinstance(resource, dict) else "?"
        where = f"Bundle.entry[{index}]"
        if kind == "Immunization" and isinstance(resource, dict):
            entry = _immunization(index, resource, patients, ids, default_site)
            if entry.person_ref is not None:
                referenced.add(entry.person_ref)
            read_entries.append(entry)
        elif kind == "Patient":
            full_url = item.get("fullUrl") if isinstance(item, dict) else None
            read_entries.append(
                Entry(index, kind, "none", full_url=full_url if isinstance(full_url, str) else None)
            )
        else:
            reason = f"a {kind} is not a vaccination: nothing booked" if kind != "?" else "no resource"
            read_entries.append(
                Entry(
                    index,
                    kind,
                    "none",
                    issues=[Issue(f"{where}.resource", reason, "warning", "not-supported")],
                )
            )
    for entry in read_entries:
        if entry.resource_type == "Patient":
            if entry.full_url in referenced:
                entry.issues.append(
                    Issue(
                        "Patient",
                        "recorded with the Immunizations that reference it",
                        "information",
                        "informational",
                    )
                )
            else:
                entry.issues.append(
                    Issue(
                        "Patient",
                        "no Immunization of the bundle references it: nothing stored",
                        "warning",
                        "not-found",
                    )
                )
    return read_entries


@dataclass
class BundlePatient:
    resource: dict[str, Any]
    checked: bool = False  # a Patient of several Immunizations is checked once
    fault: Fault | None = None


def _patients(entries: list[Any]) -> dict[str, BundlePatient]:
    """The bundle's Patients by every name an Immunization may reference them by."""
    found: dict[str, BundlePatient] = {}
    for item in entries:
        if not isinstance(item, dict):
            continue
        resource = item.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            patient = BundlePatient(resource)
            if isinstance(item.get("fullUrl"), str):
                found[item["fullUrl"]] = patient
            if isinstance(resource.get("id"), str):
                found[f"Patient/{resource['id']}"] = patient
    return found


def _refused(index: int, *issues: Issue) -> Entry:
    return Entry(index, "Immunization", "refused", issues=list(issues))


def _immunization(
    index: int,
    resource: dict[str, Any],
    patients: dict[str, BundlePatient],
    ids: IdKey,
    default_site: str | None,
) -> Entry:
    if not any(k.startswith("occurrence") for k in resource):  # the model says only "Immunization"
        issue = Issue(
            "Immunization.occurrenceDateTime", "the date the dose was given is required", code="required"
        )
        return _refused(index, issue)
    try:
        checked(resource, "Immunization")
    except Fault as fault:
        return _refused(index, Issue(fault.expression, fault.reason, code="structure"))
    status = resource.get("status")
    if status not in STATUSES:
        reason = f"must be one of {', '.join(STATUSES)}, got {status!r}"
        return _refused(index, Issue("Immunization.status", reason, code="value"))
    issues: list[Issue] = []
    site_id, record_id = _site_record(resource, default_site)
    if site_id is None:
        reason = "name the site (location.identifier) or send with a site token of one site"
        issues.append(Issue("Immunization.location", reason, code="required"))
    message_id = str(resource.get("id") or f"entry[{index}]")
    if status == "entered-in-error":
        if record_id is None:
            reason = "an entered-in-error Immunization must identify the dose it voids"
            issues.append(Issue("Immunization.identifier", reason, code="required"))
        if issues:
            return _refused(index, *issues)
        void = FeedRecord(
            message_id,
            "fhir",
            site_id,
            None,
            None,
            None,
            action="void",
            site_id=site_id,
            site_record_id=record_id,
            where=WHERE,
        )
        return Entry(index, "Immunization", "void", record=void, site_id=site_id)
    system, code = _vaccine(resource, issues)
    administered = resource.get("occurrenceDateTime")
    if not administered:
        issues.append(
            Issue(
                "Immunization.occurrenceDateTime", "the date the dose was given is required", code="required"
            )
        )
    person_ref, person_id, person = _patient(resource, patients, issues)
    if issues:
        return _refused(index, *issues)
    assert site_id is not None and code is not None
    if record_id is None:
        record_id = _derived_record(ids, person_id, person, resource, f"{system}:{code}", str(administered))
    organization = _performing_organization(resource)
    record = FeedRecord(
        message_id,
        "fhir",
        site_id,
        **(person or {"full_name": None, "birth_date": None, "sex": None}),
        person_id=person_id,
        site_id=site_id,
        site_name=organization,
        site_record_id=record_id,
        vaccine_code=code,
        code_system=system,
        administered_on=str(administered),
        lot=resource.get("lotNumber"),
        historical=resource.get("primarySource") is False,
        completion="NA" if status == "not-done" else "CP",
        refusal_reason=_status_reason(resource),
        echoed=("vaccine_code", "site_name") if system == "CVX" else ("site_name",),
        where=WHERE,
    )
    return Entry(index, "Immunization", "record", record=record, site_id=site_id, person_ref=person_ref)


def _site_record(resource: dict[str, Any], default_site: str | None) -> tuple[str | None, str | None]:
    """(site id, record id) the resource names: its doseledger identifier, else the location's
    site (or the token's) with its first identifier's value."""
    identifiers = [i for i in resource.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
    for identifier in identifiers:
        system = str(identifier.get("system") or "")
        if system.startswith(SITE_SYSTEM_PREFIX) and len(system) > len(SITE_SYSTEM_PREFIX):
            return system[len(SITE_SYSTEM_PREFIX) :], str(identifier["value"])
    location = resource.get("location") or {}
    site_id = (location.get("identifier") or {}).get("value") or default_site
    reference = str(location.get("reference") or "")
    if reference.startswith("Location/") and not (location.get("identifier") or {}).get("value"):
        site_id = reference.removeprefix("Location/")
    return site_id, (str(identifiers[0]["value"]) if identifiers else None)


def _vaccine(resource: dict[str, Any], issues: list[Issue]) -> tuple[str, str | None]:
    """(code system, code) of the first CVX coding, else of the first EU product coding; the
    booking maps it through intake's shared table."""
    codings = [c for c in (resource.get("vaccineCode") or {}).get("coding") or [] if isinstance(c, dict)]
    for system, name in ((CVX_SYSTEM, "CVX"), (EU_PRODUCT_SYSTEM, "EU")):
        for coding in codings:
            if coding.get("system") == system and coding.get("code"):
                return name, str(coding["code"])
    sent = ", ".join(str(c.get("system")) for c in codings) or "none"
    reason = f"needs a coding of system {CVX_SYSTEM} or {EU_PRODUCT_SYSTEM} (sent: {sent})"
    issues.append(Issue("Immunization.vaccineCode", reason, code="code-invalid"))
    return "CVX", None


def _patient(
    resource: dict[str, Any], patients: dict[str, BundlePatient], issues: list[Issue]
) -> tuple[str | None, UUID | None, dict[str, Any] | None]:
    """(the reference, a known person's id, or the details of a Patient of the bundle)."""
    reference = str((resource.get("patient") or {}).get("reference") or "")
    found = patients.get(reference)
    if found is not None:
        if not found.checked:
            try:
                checked(found.resource, "Patient")
            except Fault as fault:
                found.fault = fault
            found.checked = True
        if found.fault is not None:
            issues.append(Issue(found.fault.expression, found.fault.reason, code="structure"))
            return reference, None, None
        return reference, None, person_details(found.resource)
    if reference.startswith("Patient/"):
        try:
            return reference, UUID(reference.removeprefix("Patient/")), None
        except ValueError:
            pass
    reason = f"must reference a Patient of the bundle or Patient/<person id>, got {reference or 'nothing'!r}"
    issues.append(Issue("Immunization.patient", reason, code="not-found"))
    return None, None, None


def person_details(patient: dict[str, Any]) -> dict[str, Any]:
    """A Patient's details in the ledger's terms (checked by the ledger when booked). A name
    without text is written given names then family, as FHIR's examples write theirs."""
    name = (patient.get("name") or [{}])[0]
    # A null given name is FHIR JSON's place holder for one that has only an extension (`_given`).
    given = [part for part in name.get("given") or [] if isinstance(part, str)]
    full_name = name.get("text") or " ".join([*given, name.get("family") or ""]).strip()
    national_id = next(
        (
            i.get("value")
            for i in patient.get("identifier") or []
            if any(c.get("code") == NATIONAL_ID_TYPE for c in (i.get("type") or {}).get("coding") or [])
        ),
        None,
    )
    phone = next((t.get("value") for t in patient.get("telecom") or [] if t.get("system") == "phone"), None)
    address = (patient.get("address") or [{}])[0]
    state = address.get("state")
    province = codes.province_names().get(match_key(state), state) if isinstance(state, str) else None
    return {
        "full_name": full_name or None,
        "birth_date": patient.get("birthDate"),
        "sex": patient.get("gender") if patient.get("gender") in ("male", "female", "other") else None,
        "national_id": national_id,
        "phone": phone,
        "province": province,
        "district": address.get("district"),
        "address": address.get("text") or ", ".join(address.get("line") or []) or None,
    }


def _performing_organization(resource: dict[str, Any]) -> str | None:
    """The name of the facility that performed, as the sender gives it: the first performer
    that is no Practitioner (a person's name is not kept in the events' clear source)."""
    for performer in resource.get("performer") or []:
        actor = performer.get("actor") or {}
        if str(actor.get("reference") or "").startswith(("Practitioner", "PractitionerRole")):
            continue
        if actor.get("display"):
            return str(actor["display"])[:200]
    return None


def _status_reason(resource: dict[str, Any]) -> str | None:
    codings = (resource.get("statusReason") or {}).get("coding") or []
    return str(codings[0].get("code")) if codings and codings[0].get("code") else None


def _derived_record(
    ids: IdKey,
    person_id: UUID | None,
    person: dict[str, Any] | None,
    resource: dict[str, Any],
    vaccine: str,
    administered: str,
) -> str:
    """A record id for an Immunization without identifier: the same dose sent again gives it."""
    if person_id is not None:
        who = str(person_id)
    else:
        assert person is not None
        who = str(
            ids.identity(
                str(person.get("full_name") or ""), str(person.get("birth_date") or ""), person.get("phone")
            )
        )
    content = "|".join((who, vaccine, administered, str(resource.get("lotNumber") or "")))
    return "fhir-" + hashlib.sha256(content.encode()).hexdigest()[:32]
