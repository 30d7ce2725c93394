"""People: register, look up (by phone: everyone who shares it), merge duplicates."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from api.access_log import recorded_read
from api.auth import Allow, actor, province_scope
from api.models import READS, WRITES, problems
from api.persons.models import MergeIn, PersonIn, PersonList, PersonRegistered, Written
from api.problems import Problem, field_error
from api.services import caught_up, ledger_of, views_of
from ledger import rules
from ledger.principal import AUDITOR, PROVINCE, SITE, Principal
from usecases.application import DoseLedger

router = APIRouter(prefix="/v1/persons", tags=["persons"])


@router.post("", status_code=201, response_model=PersonRegistered, responses=WRITES,
             summary="Register a person (an existing national id answers 200 with that person)")
def register(body: PersonIn, response: Response,
             principal: Principal = Depends(Allow(SITE)),
             ledger: DoseLedger = Depends(ledger_of)) -> PersonRegistered:
    registration = ledger.register_person(body.model_dump(), actor=actor(principal), channel="api")
    if not registration.created:
        response.status_code = 200
    return PersonRegistered(person_id=registration.person_id, created=registration.created,
                            position=registration.position)


@router.get("", response_model=PersonList, responses=READS,
            summary="Look people up by phone (all who share it) or national id")
def look_up(request: Request,
            phone: str | None = Query(None, examples=["0912345678"]),
            national_id: str | None = Query(None, examples=["001185012345"]),
            min_position: int | None = Query(None, ge=0, description="wait for this position"),
            principal: Principal = Depends(Allow(SITE, PROVINCE, AUDITOR)),
            views=Depends(views_of)) -> dict:
    if (phone is None) == (national_id is None):
        msg = "give exactly one of phone or national_id"
        raise Problem(422, "validation", msg, errors=[field_error(["query", "phone"], msg),
                                                      field_error(["query", "national_id"], msg)])
    caught_up(request, min_position)
    persons = views.localities.find(phone=rules.phone(phone), national_id=rules.national_id(national_id),
                                    provinces=province_scope(principal))
    recorded_read(request, principal, [p["person_id"] for p in persons], "persons.look_up")
    return {"persons": persons}


@router.post("/{person_id}/merge", response_model=Written, responses={**WRITES, **problems(404, 409)},
             summary="Merge a duplicate person into this one (admin)")
def merge(person_id: UUID, body: MergeIn,
          principal: Principal = Depends(Allow()),
          ledger: DoseLedger = Depends(ledger_of)) -> Written:
    written = ledger.merge_persons(person_id, body.duplicate_person_id, body.reason,
                                   actor=actor(principal))
    return Written(person_id=written.aggregate_id, position=written.position)
