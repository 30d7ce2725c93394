"""A person's record written as FHIR R4 resources: a Patient, and an Immunization per dose.

Each Immunization carries one identifier, its site record (system: the site's URI, value: the
site's record id), so a site system finds its own records in what it reads back and a resource
posted back is the same dose, not a new one. Dose numbers are the ledger's (the series rules in
force), never the ones a site reported; a voided dose stays, `entered-in-error`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from intake import codes
from ledger.series import evaluate
from ledger.series_rules import SeriesRules
from ledger.site import Site

CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
EU_PRODUCT_SYSTEM = "https://ec.europa.eu/health/documents/community-register/html/"
SITE_SYSTEM_PREFIX = "urn:doseledger:site:"  # + the site id: one record-id namespace per site
ORIGIN_SYSTEM = "http://terminology.hl7.org/CodeSystem/immunization-origin"
# Retro imports copy earlier paper records: the origin the FHIR value set calls "record".
RETRO_ORIGIN = {"code": "record", "display": "Written Record"}


def site_system(site_id: str) -> str:
    return SITE_SYSTEM_PREFIX + site_id


def patient(person_id: str, details: Mapping[str, Any], *, contact: bool = True) -> dict[str, Any]:
    """The person's details as a Patient (an erased person: the id and nothing personal).

    contact=False leaves out what a vaccinator does not need (national id, phone, address and
    district), as a site token's look-up does; name, sex and birth date are on the certificate."""
    if not contact:
        details = {
            k: v for k, v in details.items() if k not in ("national_id", "phone", "address", "district")
        }
    resource: dict[str, Any] = {"resourceType": "Patient", "id": person_id}
    if details.get("full_name"):
        resource["name"] = [{"text": details["full_name"]}]
    if details.get("sex"):
        resource["gender"] = details["sex"]
    if details.get("birth_date"):
        resource["birthDate"] = details["birth_date"]
    if details.get("national_id"):
        resource["identifier"] = [
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}]
                },
                "value": details["national_id"],
            }
        ]
    if details.get("phone"):
        resource["telecom"] = [{"system": "phone", "value": details["phone"]}]
    address = {
        k: v
        for k, v in (
            ("text", details.get("address")),
            ("district", details.get("district")),
            ("state", details.get("province")),
            ("country", "VN"),
        )
        if v
    }
    resource["address"] = [address]
    return resource


def numbers(doses: Iterable[Mapping[str, Any]], rules: SeriesRules) -> dict[str, int]:
    """Each valid dose's number under `rules` (voided doses have none)."""
    evaluation = evaluate([dict(d) for d in doses])
    return {str(d.dose["dose_id"]): d.number for d in rules.number(evaluation)}


def immunization(
    person_id: str, dose: Mapping[str, Any], number: int | None, site: Site | None, rules: SeriesRules
) -> dict[str, Any]:
    """One dose of the person's record (the Person aggregate's dose dict) as an Immunization."""
    source = dose.get("source") or {}
    site_id = str(dose["site_id"])
    record_site = str(source.get("site_id") or site_id)
    product = rules.products.get(dose["vaccine"])
    codings = [{"system": EU_PRODUCT_SYSTEM, "code": dose["vaccine"]}]
    sent = source.get("vaccine_code")  # kept as sent, by a feed that sent a CVX code
    if sent is not None and codes.cvx().get(sent) == dose["vaccine"]:  # as sent, unless amended since
        codings.insert(0, {"system": CVX_SYSTEM, "code": sent})
    elif product is not None and product.cvx:
        codings.insert(0, {"system": CVX_SYSTEM, "code": product.cvx})
    resource: dict[str, Any] = {
        "resourceType": "Immunization",
        "id": str(dose["dose_id"]),
        "status": "entered-in-error" if dose.get("voided") else "completed",
        "vaccineCode": {"coding": codings},
        "patient": {"reference": f"Patient/{person_id}"},
        "occurrenceDateTime": dose["administered_at"],
        "primarySource": True,
        "location": {
            "identifier": {"system": SITE_SYSTEM_PREFIX.rstrip(":"), "value": site_id},
            **({"display": site.name} if site is not None and site.name else {}),
        },
    }
    if source.get("site_record_id"):
        resource["identifier"] = [
            {"system": site_system(record_site), "value": str(source["site_record_id"])}
        ]
    if source.get("kind") == "retro_import" or source.get("historical"):
        resource["primarySource"] = False
        origin = source.get("report_origin") or RETRO_ORIGIN
        resource["reportOrigin"] = {"coding": [{"system": ORIGIN_SYSTEM, **origin}]}
    if dose.get("lot"):
        resource["lotNumber"] = dose["lot"]
    performer = source.get("site_name") or (site.name if site is not None else None)
    if performer:
        resource["performer"] = [{"actor": {"display": performer}}]
    if number is not None:
        resource["protocolApplied"] = [{"doseNumberPositiveInt": number}]
    return resource


def entry(resource: Mapping[str, Any], base: str, mode: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
    }
    if mode is not None:
        found["search"] = {"mode": mode}
    return found
