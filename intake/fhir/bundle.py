"""A posted Bundle read into what the ledger books: dose reports, voids, and per entry the
issues found, each naming the FHIR path at fault.

Reading decides nothing and stores nothing: the API books the doses read here through the
ledger's batch path and voids the entered-in-error ones, entry by entry, so one bad entry costs
only itself. Rules, stated once:

- An Immunization is its site's record: the identifier `urn:doseledger:site:<site>|<record>`
  (what `$everything` writes), else its first identifier's value as a record of the site the
  resource names (`location.identifier`) or the sending site token's one site. One without any
  identifier (a SMART Health Card's) is the record of a keyed digest of the patient, vaccine,
  date and lot: sent again, it is the same record, and the id reveals none of them.
- `status` completed records a dose; entered-in-error voids the dose it identifies; not-done
  books nothing (the ledger has no room for a vaccination not given).
- The vaccine is a CVX code (through intake's shared table) or the EU product code.
- The patient is a Patient of the bundle (registered with the dose, matched by name, birth date
  and phone, or national id, as a retro import's people are) or `Patient/<person id>`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from intake import codes
from intake.fhir.resources import CVX_SYSTEM, EU_PRODUCT_SYSTEM, SITE_SYSTEM_PREFIX
from intake.fhir.validation import Fault, checked
from ledger.catalog import vaccine_catalog
from ledger.keys import IdKey, dose_id_for
from ledger.names import match_key

BUNDLE_TYPES = ("transaction", "batch", "collection")
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
    dose: dict[str, Any] | None = None  # record: the fields of ledger.record_doses
    source: dict[str, Any] | None = None
    dose_id: UUID | None = None  # void: the dose it names
    site_id: str | None = None
    person_ref: str | None = None  # record: the bundle's reference to its Patient
    full_url: str | None = None  # the entry's own fullUrl (a Patient's, for the answer)
    issues: list[Issue] = field(default_factory=list)


class BundleRefused(ValueError):
    """The bundle as a whole cannot be read (not a Bundle, a type this endpoint does not take)."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(f"{issue.expression}: {issue.reason}")
        self.issue = issue


def read(
    bundle: Any, *, ids: IdKey, default_site: str | None, province_of_site: Callable[[str], str | None]
) -> list[Entry]:
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
    patients = _patients(entries)
    referenced = set()
    read_entries: list[Entry] = []
    for index, item in enumerate(entries):
        resource = item.get("resource") if isinstance(item, dict) else None
        kind = str(resource.get("resourceType")) if isinstance(resource, dict) else "?"
        where = f"Bundle.entry[{index}]"
        if kind == "Immunization" and isinstance(resource, dict):
            entry = _immunization(index, resource, patients, ids, default_site, province_of_site)
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


def _patients(entries: list[Any]) -> dict[str, dict[str, Any]]:
    """The bundle's Patients by every name an Immunization may reference them by."""
    found: dict[str, dict[str, Any]] = {}
    for item in entries:
        if not isinstance(item, dict):
            continue
        resource = item.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            if isinstance(item.get("fullUrl"), str):
                found[item["fullUrl"]] = resource
            if isinstance(resource.get("id"), str):
                found[f"Patient/{resource['id']}"] = resource
    return found


def _refused(index: int, *issues: Issue) -> Entry:
    return Entry(index, "Immunization", "refused", issues=list(issues))


def _immunization(
    index: int,
    resource: dict[str, Any],
    patients: dict[str, dict[str, Any]],
    ids: IdKey,
    default_site: str | None,
    province_of_site: Callable[[str], str | None],
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
    site_id, record_id = _site_record(resource, default_site)
    if status == "not-done":
        issue = Issue(
            "Immunization.status",
            "not-done: a vaccination not given books no dose",
            "information",
            "informational",
        )
        return Entry(index, "Immunization", "none", issues=[issue])
    if status == "entered-in-error":
        dose_id = _named_dose(resource, site_id, record_id)
        if dose_id is None:
            return _refused(
                index,
                Issue(
                    "Immunization.identifier",
                    "an entered-in-error Immunization must identify the dose it voids",
                ),
            )
        return Entry(index, "Immunization", "void", dose_id=dose_id, site_id=site_id)
    if status != "completed":
        return _refused(
            index,
            Issue(
                "Immunization.status",
                f"must be completed, entered-in-error or not-done, got {status!r}",
                code="value",
            ),
        )
    issues: list[Issue] = []
    vaccine, cvx_sent = _vaccine(resource, issues)
    administered = resource.get("occurrenceDateTime")
    if not administered:
        issues.append(
            Issue(
                "Immunization.occurrenceDateTime", "the date the dose was given is required", code="required"
            )
        )
    person_ref, person_id, person = _patient(resource, patients, issues)
    if site_id is None:
        issues.append(
            Issue(
                "Immunization.location",
                "name the site (location.identifier) or send with a site token of one site",
                code="required",
            )
        )
    if person is not None and person.get("province") is None and site_id is not None:
        person["province"] = province_of_site(site_id)  # a Patient without an address lives where vaccinated
    if issues:
        return _refused(index, *issues)
    assert site_id is not None and vaccine is not None
    if record_id is None:
        record_id = _derived_record(ids, person_id, person, resource, vaccine, str(administered))
    dose: dict[str, Any] = {
        "site_id": site_id,
        "site_record_id": record_id,
        "vaccine": vaccine,
        "administered_at": administered,
        "lot": resource.get("lotNumber"),
        "dose_number": _dose_number(resource),
    }
    dose.update({"person_id": person_id} if person_id is not None else {"person": person})
    source: dict[str, Any] = {"kind": "fhir", "site_id": site_id, "site_record_id": record_id}
    if cvx_sent is not None:
        source["cvx"] = cvx_sent
    performer = _performer(resource)
    if performer:
        source["performer"] = performer
    if resource.get("primarySource") is False:
        source["historical"] = True
        origin = ((resource.get("reportOrigin") or {}).get("coding") or [{}])[0]
        if origin.get("code"):
            source["report_origin"] = {k: origin[k] for k in ("code", "display") if origin.get(k)}
    return Entry(
        index, "Immunization", "record", dose=dose, source=source, site_id=site_id, person_ref=person_ref
    )


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


def _named_dose(resource: dict[str, Any], site_id: str | None, record_id: str | None) -> UUID | None:
    if site_id is not None and record_id is not None:
        return dose_id_for(site_id, record_id)
    try:
        return UUID(str(resource.get("id")))
    except ValueError:
        return None


def _vaccine(resource: dict[str, Any], issues: list[Issue]) -> tuple[str | None, str | None]:
    """(the catalog code, the CVX code as sent): several CVX codes name one product (207 and
    229 are both Spikevax), so the one sent is kept to be given back."""
    codings = [c for c in (resource.get("vaccineCode") or {}).get("coding") or [] if isinstance(c, dict)]
    catalog = vaccine_catalog()
    for coding in codings:
        code = str(coding.get("code") or "")
        if coding.get("system") == CVX_SYSTEM and code in codes.cvx():
            return codes.cvx()[code], code
        if coding.get("system") == EU_PRODUCT_SYSTEM and catalog.lookup(code) is not None:
            return catalog.lookup(code).code, None  # type: ignore[union-attr]
    sent = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings) or "none"
    reason = f"no CVX code of a COVID-19 vaccine or EU product code the catalog knows (sent: {sent})"
    issues.append(Issue("Immunization.vaccineCode", reason, code="code-invalid"))
    return None, None


def _patient(
    resource: dict[str, Any], patients: dict[str, dict[str, Any]], issues: list[Issue]
) -> tuple[str | None, UUID | None, dict[str, Any] | None]:
    """(the reference, a known person's id, or the details of a Patient of the bundle)."""
    reference = str((resource.get("patient") or {}).get("reference") or "")
    found = patients.get(reference)
    if found is not None:
        try:
            checked(found, "Patient")
        except Fault as fault:
            issues.append(Issue(fault.expression, fault.reason, code="structure"))
            return reference, None, None
        return reference, None, person_details(found)
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
    full_name = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
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


def _performer(resource: dict[str, Any]) -> str | None:
    """The first performer's display: a facility's name as the sender gives it."""
    for performer in resource.get("performer") or []:
        display = (performer.get("actor") or {}).get("display")
        if display:
            return str(display)[:200]
    return None


def _dose_number(resource: dict[str, Any]) -> int | None:
    for applied in resource.get("protocolApplied") or []:
        number = applied.get("doseNumberPositiveInt")
        if isinstance(number, int):
            return number
    return None


def _derived_record(
    ids: IdKey,
    person_id: UUID | None,
    person: dict[str, Any] | None,
    resource: dict[str, Any],
    vaccine: str,
    administered: str,
) -> str:
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
