"""People: register, look up (by phone: everyone who shares it), merge duplicates."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from api.access_log import recorded_read
from api.auth import actor, province_scope
from api.dependencies import AdminPrincipal, Ledger, SitePrincipal, SiteProvinceOrAuditorPrincipal, Views
from api.models import READS, WRITES, problems
from api.persons.models import ErasureIn, MergeIn, PersonIn, PersonList, PersonRegistered, Written
from api.problems import Problem, field_error
from api.services import caught_up
from ledger import rules

router = APIRouter(prefix="/v1/persons", tags=["persons"])


@router.post(
    "",
    status_code=201,
    response_model=PersonRegistered,
    responses=WRITES,
    summary="Register a person (an existing national id answers 200 with that person)",
)
def register(
    body: PersonIn, response: Response, principal: SitePrincipal, ledger: Ledger
) -> PersonRegistered:
    registration = ledger.register_person(body.model_dump(), actor=actor(principal), channel="api")
    if not registration.created:
        response.status_code = 200
    return PersonRegistered(
        person_id=registration.person_id, created=registration.created, position=registration.position
    )


@router.get(
    "",
    response_model=PersonList,
    responses=READS,
    summary="Look people up by phone (all who share it) or national id",
)
def look_up(
    request: Request,
    principal: SiteProvinceOrAuditorPrincipal,
    views: Views,
    phone: Annotated[str | None, Query(examples=["0912345678"])] = None,
    national_id: Annotated[str | None, Query(examples=["001185012345"])] = None,
    min_position: Annotated[int | None, Query(ge=0, description="wait for this position")] = None,
) -> dict[str, Any]:
    if (phone is None) == (national_id is None):
        msg = "give exactly one of phone or national_id"
        raise Problem(
            422,
            "validation",
            msg,
            errors=[field_error(["query", "phone"], msg), field_error(["query", "national_id"], msg)],
        )
    caught_up(request, min_position)
    persons = views.localities.find(
        phone=rules.phone(phone),
        national_id=rules.national_id(national_id),
        provinces=province_scope(principal),
    )
    recorded_read(request, principal, [p["person_id"] for p in persons], "persons.look_up")
    return {"persons": persons}


@router.post(
    "/{person_id}/merge",
    response_model=Written,
    responses={**WRITES, **problems(404, 409)},
    summary="Merge a duplicate person into this one (admin)",
)
def merge(person_id: UUID, body: MergeIn, principal: AdminPrincipal, ledger: Ledger) -> Written:
    written = ledger.merge_persons(person_id, body.duplicate_person_id, body.reason, actor=actor(principal))
    return Written(person_id=written.aggregate_id, position=written.position)


@router.post(
    "/{person_id}/erasure",
    response_model=Written,
    responses={**WRITES, **problems(404, 409)},
    summary="Erase a person's personal data (admin): their key is destroyed, the events stay",
)
def erase(person_id: UUID, body: ErasureIn, principal: AdminPrincipal, ledger: Ledger) -> Written:
    """Name, birth date, national id, phone, address, correction claims and contacts can no
    longer be read; the views mask them, the doses and every count stay. 404: no such person;
    409: already erased."""
    written = ledger.erase_person(
        person_id, body.reason, actor=actor(principal), source={"kind": "api", "route": "erasure"}
    )
    return Written(person_id=written.aggregate_id, position=written.position)
