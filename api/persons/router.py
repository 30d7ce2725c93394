"""People: register, look up (by phone: everyone who shares it), merge duplicates and undo a merge."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from api.access_log import recorded_read
from api.auth import actor, province_scope
from api.dependencies import (
    AdminPrincipal,
    Ledger,
    ProvincePrincipal,
    SitePrincipal,
    SiteProvinceOrAuditorPrincipal,
    Views,
)
from api.models import READS, WRITES, problems
from api.persons.models import (
    ErasureIn,
    MergeIn,
    PersonIn,
    PersonList,
    PersonRegistered,
    SiteDose,
    SitePersonList,
    SitePersonSummary,
    UnmergeIn,
    Written,
)
from api.problems import Problem, field_error
from api.services import caught_up
from api.throttle import Throttle
from ledger import rules
from ledger.principal import SITE

router = APIRouter(prefix="/v1/persons", tags=["persons"])


@router.post(
    "",
    status_code=201,
    response_model=PersonRegistered,
    responses=WRITES,
    summary="Register a person (an existing national id answers 200 with that person)",
)
def register(
    request: Request, body: PersonIn, response: Response, principal: SitePrincipal, ledger: Ledger
) -> PersonRegistered:
    registration = ledger.register_person(body.model_dump(), actor=actor(principal), channel="api")
    if not registration.created:
        response.status_code = 200
        # The person a national id names, found: a look-up by national id in all but name.
        recorded_read(request, principal, [registration.person_id], "persons.register")
    return PersonRegistered(
        person_id=registration.person_id, created=registration.created, position=registration.position
    )


@router.get(
    "",
    response_model=PersonList | SitePersonList,
    responses={**READS, **problems(429)},
    summary="Look people up by phone (all who share it) or national id",
    description="A site token reads `SitePersonList`: the person id, name, birth year, status and "
    "doses only; it may look up `DOSELEDGER_LOOKUPS_PER_MINUTE` times a minute (429 beyond). "
    "Other tokens read `PersonList`.",
)
def look_up(
    request: Request,
    principal: SiteProvinceOrAuditorPrincipal,
    views: Views,
    phone: Annotated[str | None, Query(examples=["0912345678"])] = None,
    national_id: Annotated[str | None, Query(examples=["001185012345"])] = None,
    min_position: Annotated[int | None, Query(ge=0, description="wait for this position")] = None,
) -> PersonList | SitePersonList:
    if (phone is None) == (national_id is None):
        msg = "give exactly one of phone or national_id"
        raise Problem(
            422,
            "validation",
            msg,
            errors=[field_error(["query", "phone"], msg), field_error(["query", "national_id"], msg)],
        )
    if principal.role == SITE:
        lookups: Throttle = request.app.state.lookups
        lookups.check(str(principal.id), "look-ups by this token")
    caught_up(request, min_position)
    persons = views.localities.find(
        phone=rules.phone(phone),
        national_id=rules.national_id(national_id),
        provinces=province_scope(principal),
    )
    recorded_read(request, principal, [p["person_id"] for p in persons], "persons.look_up")
    if principal.role == SITE:
        return SitePersonList(persons=site_summaries(views, persons))
    return PersonList.model_validate({"persons": persons})


def site_summaries(views: Any, persons: list[dict[str, Any]]) -> list[SitePersonSummary]:
    """The minimum a vaccinator needs of each person found: the doses from their certificate."""
    certificates = views.certificates.certificates([p["person_id"] for p in persons])
    summaries = []
    for person in persons:
        certificate = certificates.get(person["person_id"]) or {"doses": []}
        doses = [
            SiteDose(
                vaccine=d["vaccine"],
                administered_on=d["administered_at"][:10],
                dose_number=d["dose_number"],
                booster=d.get("booster"),
            )
            for d in certificate["doses"]
        ]
        summaries.append(
            SitePersonSummary(
                person_id=person["person_id"],
                full_name=person["full_name"],
                birth_year=int(person["birth_date"][:4]),
                status=person["status"],
                doses=doses,
            )
        )
    return summaries


@router.post(
    "/{person_id}/merge",
    response_model=Written,
    responses={**WRITES, **problems(404, 409)},
    summary="Merge a duplicate person into this one (admin, province)",
    description="The duplicate's doses move to this person; both streams say so, in one "
    "transaction. A province token merges two people of its provinces only. 403: this person "
    "(`person_id`) or the duplicate (`duplicate_person_id`), as the decision reads them, is "
    "outside the token's provinces, and nothing is stored; 404: an unknown person; 409: either "
    "merged or erased already; 422: the same person twice, or no reason.",
)
def merge(person_id: UUID, body: MergeIn, principal: ProvincePrincipal, ledger: Ledger) -> Written:
    # The scope is checked inside the decision, on its own reads of both people.
    written = ledger.merge_persons(
        person_id,
        body.duplicate_person_id,
        body.reason,
        actor=actor(principal),
        provinces=province_scope(principal),
    )
    return Written(person_id=written.aggregate_id, position=written.position)


@router.post(
    "/{person_id}/unmerge",
    response_model=Written,
    responses={**WRITES, **problems(404, 409)},
    summary="Undo the merge of a duplicate into this person (admin, province)",
)
def unmerge(person_id: UUID, body: UnmergeIn, principal: ProvincePrincipal, ledger: Ledger) -> Written:
    """The doses and correction requests the merge carried go back to the duplicate, as they are
    now (amended, voided, answered since); doses recorded on this person after the merge stay.
    Both certificates are issued again. A province token undoes a merge of two people of its
    provinces only. 403: this person (`person_id`) or the duplicate (`duplicate_person_id`), as
    the decision reads them, is outside the token's provinces, and nothing is stored; 404: an
    unknown person; 409: this person or the duplicate erased, this person merged on, or a
    carried request accepted since; 422: a duplicate not merged into this person, or no reason."""
    # The scope is checked inside the decision, on its own reads of both people.
    written = ledger.unmerge_persons(
        person_id,
        body.duplicate_person_id,
        body.reason,
        actor=actor(principal),
        source={"kind": "api", "route": "unmerge"},
        provinces=province_scope(principal),
    )
    return Written(person_id=person_id, position=written.position)


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
