"""The site directory: list (e.g. the provisional sites awaiting review), add, review."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.auth import actor, province_scope, require_province
from api.dependencies import Ledger, ProvinceOrAuditorPrincipal, ProvincePrincipal, Views
from api.listing import Column, Listing, PageQuery, answer
from api.models import READS, WRITES, problems
from api.services import caught_up
from api.sites.models import ReviewIn, SiteIn, SiteList, SiteOut, SiteWritten
from ledger import rules
from ledger.errors import SiteNotFound

router = APIRouter(prefix="/v1/sites", tags=["sites"])


SITES = Listing[dict[str, Any]](
    name="sites",
    columns=(
        Column("site_id", "Site id"),
        Column("name", "Name"),
        Column("province", "Province"),
        Column("district", "District"),
        Column("status", "Kind"),
        Column("review_status", "Review"),
    ),
    key=lambda row: (row["site_id"],),
    to_dict=lambda row: SiteOut.model_validate(row).model_dump(mode="json"),
    items_key="sites",
    key_types=(str,),
)


@router.get(
    "",
    response_model=SiteList,
    responses=READS,
    summary="Sites, by status (provisional sites come from doses naming unlisted sites)",
    description="By site id. Without `limit` or `cursor`, every site (as this list always answered); "
    "with them, a page and its `next_cursor` (and a `Link` header). `format=csv|xlsx` (or `Accept`): "
    "the whole list as a file.",
)
def list_sites(
    request: Request,
    principal: ProvinceOrAuditorPrincipal,
    views: Views,
    page: PageQuery,
    status: Literal["provisional", "official", "mobile"] | None = None,
    min_position: Annotated[int | None, Query(ge=0, description="wait for this position")] = None,
) -> Response:
    caught_up(request, min_position)
    scope = province_scope(principal)

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        return views.review.sites(status, provinces=scope, after=after[0] if after else None, limit=limit)

    return answer(request, SITES, page, fetch, default_limit=None)


@router.post(
    "",
    status_code=201,
    response_model=SiteWritten,
    responses={**WRITES, **problems(409)},
    summary="Add an official or mobile site",
)
def add_site(body: SiteIn, principal: ProvincePrincipal, ledger: Ledger) -> SiteWritten:
    require_province(principal, rules.province(body.province), ["body", "province"])
    written = ledger.register_site(
        body.site_id,
        name=body.name,
        kind=body.kind,
        province=body.province,
        district=body.district,
        actor=actor(principal),
    )
    return SiteWritten(site_id=body.site_id, position=written.position)


@router.post(
    "/{site_id}/review",
    response_model=SiteWritten,
    responses={**WRITES, **problems(404)},
    summary="Approve (as official or mobile) or reject a site",
)
def review_site(site_id: str, body: ReviewIn, principal: ProvincePrincipal, ledger: Ledger) -> SiteWritten:
    site = ledger.site(site_id)
    if site is None:
        raise SiteNotFound(site_id)
    require_province(principal, site.province, ["path", "site_id"])
    if body.province is not None:
        require_province(principal, rules.province(body.province), ["body", "province"])
    written = ledger.review_site(
        site_id,
        body.decision,
        kind=body.kind,
        name=body.name,
        province=body.province,
        district=body.district,
        reason=body.reason,
        actor=actor(principal),
    )
    return SiteWritten(site_id=site_id, position=written.position)
