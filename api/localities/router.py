"""People per locality, for the officials who follow them up: a province's (or one of its
districts') people with their status, a keyset page at a time or the whole list as CSV/XLSX.

Every person answered is a read of their data, recorded in the access log page by page before
the page leaves (exports too), as `localities.people`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from api.access_log import recorded_page_read
from api.auth import require_province
from api.dependencies import ProvinceOrAuditorPrincipal, Views
from api.listing import Column, Listing, Page, PageQuery, answer
from api.models import READS
from api.persons.models import PersonSummary
from api.services import caught_up
from ledger import rules

router = APIRouter(prefix="/v1/localities", tags=["persons"])

PEOPLE = Listing[dict[str, Any]](
    name="locality-people",
    columns=(
        Column("person_id", "Person id"),
        Column("full_name", "Full name"),
        Column("birth_date", "Birth date"),
        Column("province", "Province"),
        Column("district", "District"),
        Column("status", "Status"),
    ),
    # By district, then person id; the key is the person id alone, whose district the view
    # looks up: a key travels in URLs and logs, and a district (free text from the record), like
    # a name, never does.
    key=lambda row: (str(row["person_id"]),),
    to_dict=lambda row: {**row, "person_id": str(row["person_id"])},
    key_types=(str,),
)


@router.get(
    "/{code}/people",
    response_model=Page[PersonSummary],
    responses=READS,
    summary="A province's people (or one district's), with their vaccination status",
    description="By district, then person id; `limit` a page (default 100), the next in `Link` and "
    "`next_cursor`. `format=csv|xlsx` (or `Accept`): the whole list as a file. Every person "
    "answered is logged in the access log. Province tokens: their own provinces.",
)
def locality_people(
    request: Request,
    principal: ProvinceOrAuditorPrincipal,
    views: Views,
    page: PageQuery,
    code: Annotated[str, Path(description="the province's 2-digit code, e.g. 01 Hà Nội")],
    district: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[^\x00-\x1f\x7f]+$",
            description="only this district, as people's records name it",
        ),
    ] = None,
    status: Annotated[
        Literal["none", "partial", "complete", "booster"] | None,
        Query(description="none: not vaccinated; partial; complete: primary series; booster"),
    ] = None,
    min_position: Annotated[int | None, Query(ge=0, description="wait for this position")] = None,
) -> Response:
    province = rules.province(code, "code")
    require_province(principal, province, ["path", "code"])
    caught_up(request, min_position)

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        return views.localities.people_after(province, district, status, after[0] if after else None, limit)

    def seen(items: list[dict[str, Any]]) -> None:
        recorded_page_read(request, principal, [item["person_id"] for item in items], "localities.people")

    name = f"people-{province}" + ("" if status is None else f"-{status}")
    return answer(request, PEOPLE, page, fetch, seen=seen, filename=name)
