"""FHIR R4: a person's record as a Bundle ($everything), Immunizations searched by patient and
date, and a transaction Bundle of Immunizations posted in.

Reads come from the event store (intake/fhir/records.py), so a resource just posted is read
back at once; every read of a person's record is logged as the JSON reads are. A posted bundle
is booked entry by entry: each Immunization booked, already booked, voided or refused on its
own, with an OperationOutcome naming the FHIR path at fault; nothing is stored for a refused one.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from api.access_log import recorded_read
from api.auth import require_province
from api.dependencies import Ledger, SitePrincipal, SiteProvinceOrAuditorPrincipal
from api.fhir.booking import book_bundle, outcome
from api.fhir.search import DateFilter, date_filters
from api.models import READS, problems
from api.problems import Problem, field_error
from intake.fhir import resources
from intake.fhir.bundle import BundleRefused, Issue
from intake.fhir.records import person_doses
from ledger.principal import SITE, Principal
from usecases import series_rules
from usecases.application import DoseLedger

router = APIRouter(prefix="/v1/fhir", tags=["fhir"])

FHIR_JSON = "application/fhir+json"
PAGE_SIZE, PAGE_MAX = 50, 200
EXAMPLE = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "fullUrl": "urn:uuid:9b1f1c2e-0f6a-4c1e-8d1a-2f3b4c5d6e7f",
            "resource": {
                "resourceType": "Patient",
                "name": [{"text": "Nguyễn Thị Lan"}],
                "birthDate": "1985-03-14",
            },
        },
        {
            "resource": {
                "resourceType": "Immunization",
                "status": "completed",
                "identifier": [{"system": "urn:doseledger:site:01-TYT-001", "value": "TYT001-2021-000317"}],
                "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "208"}]},
                "patient": {"reference": "urn:uuid:9b1f1c2e-0f6a-4c1e-8d1a-2f3b4c5d6e7f"},
                "occurrenceDateTime": "2021-08-01",
                "lotNumber": "FA1234",
            },
            "request": {"method": "POST", "url": "Immunization"},
        },
    ],
}
FHIR_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {FHIR_JSON: {}}, "description": "a FHIR Bundle"}
}


def fhir(content: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=FHIR_JSON)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/v1/fhir"


def record_resources(
    ledger: DoseLedger, person_id: UUID, principal: Principal
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The person's Patient and every Immunization, in administered order (PersonNotFound if none)."""
    read = person_doses(ledger, person_id)
    person = read.person
    require_province(principal, person.details.get("province"), ["path", "person_id"])
    if person.merged_into is not None:  # the doses moved with the merge: the record is the survivor's
        replaced = resources.patient(str(person.id), person.details, contact=principal.role != SITE)
        replaced["active"] = False
        replaced["link"] = [{"other": {"reference": f"Patient/{person.merged_into}"}, "type": "replaced-by"}]
        return replaced, []
    rules = series_rules.in_force(ledger)
    numbers = resources.numbers(person.doses.values(), rules)
    sites = {site_id: ledger.site(site_id) for site_id in {d["site_id"] for d in person.doses.values()}}
    immunizations = []
    for dose in sorted(person.doses.values(), key=lambda d: (d["administered_at"], d["seq"])):
        record = read.site_records.get(dose["dose_id"])
        if record is not None:  # retro imports keep the record id in its claim, not the source
            dose = {
                **dose,
                "source": {
                    **(dose.get("source") or {}),
                    "site_id": record.site_id,
                    "site_record_id": record.site_record_id,
                },
            }
        immunizations.append(
            resources.immunization(
                str(person.id), dose, numbers.get(dose["dose_id"]), sites[dose["site_id"]], rules
            )
        )
    return resources.patient(str(person.id), person.details, contact=principal.role != SITE), immunizations


@router.get(
    "/Patient/{person_id}/$everything",
    response_class=Response,
    responses={**FHIR_RESPONSES, **READS, **problems(404)},
    summary="A person's record as a FHIR Bundle: the Patient and every Immunization",
    description="Voided doses are `entered-in-error`; retro-imported and historical doses have "
    "`primarySource` false and a `reportOrigin`; dose numbers are the ledger's (the series rules in "
    "force); each Immunization's identifier is its site record.",
)
def everything(
    request: Request, person_id: UUID, principal: SiteProvinceOrAuditorPrincipal, ledger: Ledger
) -> Response:
    patient, immunizations = record_resources(ledger, person_id, principal)
    recorded_read(request, principal, [person_id], "fhir.everything")
    base = base_url(request)
    return fhir(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": 1 + len(immunizations),
            "entry": [resources.entry(r, base, "match") for r in (patient, *immunizations)],
        }
    )


@router.get(
    "/Immunization",
    response_class=Response,
    responses={**FHIR_RESPONSES, **READS, **problems(404)},
    summary="A person's Immunizations, by date, as a paged FHIR searchset",
    description="`patient`: the person id (or `Patient/<id>`); `date`: repeat for a range, each "
    "with an optional prefix eq, ne, lt, le, gt, ge (`ge2021-01-01`); `_count` per page "
    f"(default {PAGE_SIZE}, at most {PAGE_MAX}), `_offset` to page on (the `next` link gives it).",
)
def search(
    request: Request,
    principal: SiteProvinceOrAuditorPrincipal,
    ledger: Ledger,
    patient: Annotated[str, Query(description="the person id, or Patient/<person id>")],
    date: Annotated[list[str] | None, Query(description="ge2021-01-01, lt2022-01-01, 2021-08-01, …")] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=PAGE_MAX)] = PAGE_SIZE,
    offset: Annotated[int, Query(alias="_offset", ge=0)] = 0,
) -> Response:
    person_id = patient_id(patient)
    filters: list[DateFilter] = date_filters(date or [])
    _, immunizations = record_resources(ledger, person_id, principal)
    matched = [i for i in immunizations if all(f.matches(i["occurrenceDateTime"]) for f in filters)]
    page = matched[offset : offset + count]
    recorded_read(request, principal, [person_id], "fhir.immunization_search")
    base = base_url(request)
    query = f"patient={person_id}" + "".join(f"&date={d}" for d in date or []) + f"&_count={count}"
    links = [{"relation": "self", "url": f"{base}/Immunization?{query}&_offset={offset}"}]
    if offset + count < len(matched):
        links.append({"relation": "next", "url": f"{base}/Immunization?{query}&_offset={offset + count}"})
    return fhir(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matched),
            "link": links,
            "entry": [resources.entry(r, base, "match") for r in page],
        }
    )


def patient_id(value: str) -> UUID:
    try:
        return UUID(value.removeprefix("Patient/"))
    except ValueError:
        msg = "must be a person id or Patient/<person id>"
        raise Problem(422, "validation", msg, errors=[field_error(["query", "patient"], msg)]) from None


@router.post(
    "",
    response_class=Response,
    responses={
        200: {
            "content": {FHIR_JSON: {}},
            "description": "a transaction-response Bundle: one outcome per entry",
        },
        400: {
            "content": {FHIR_JSON: {}},
            "description": "not a Bundle this endpoint takes: an OperationOutcome",
        },
        **problems(401, 403, 413, 503),
    },
    summary="Book a transaction Bundle of Immunizations (and the Patients they reference)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FHIR_JSON: {
                    "schema": {"type": "object", "description": "a FHIR R4 Bundle"},
                    "example": EXAMPLE,
                },
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
    description="Each Immunization is booked on its own, idempotent on its identifier (its site "
    "record); an entered-in-error one voids the dose it identifies; each entry's response carries an "
    "OperationOutcome. A `batch` or a `collection` (a SMART Health Card's bundle) is taken the same way.",
)
async def post_bundle(request: Request, principal: SitePrincipal, ledger: Ledger) -> Response:
    raw = await request.body()
    try:
        bundle = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return fhir(outcome([Issue("Bundle", f"not JSON: {error}", code="structure")]), 400)
    try:
        booked = await run_in_threadpool(book_bundle, ledger, principal, bundle)
    except BundleRefused as refused:
        return fhir(outcome([refused.issue]), 400)
    if booked.matched:  # people found by the details sent: the answer names them
        recorded_read(request, principal, booked.matched, "fhir.transaction")
    return fhir(booked.bundle)
