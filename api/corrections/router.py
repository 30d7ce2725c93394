"""Correction requests: a citizen's claim filed (portal, site, admin), listed for the people
accountable for it, assigned, answered; its status checked by the citizen with no token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from api.access_log import recorded_read
from api.auth import actor, acts_for, narrow_provinces
from api.corrections.models import (
    AssignIn,
    CorrectionFiled,
    CorrectionIn,
    CorrectionList,
    CorrectionStatus,
    CorrectionSummary,
    CorrectionWritten,
    ResolveIn,
)
from api.dependencies import (
    AppSettings,
    Ledger,
    PortalOrSitePrincipal,
    ProvinceOrAuditorPrincipal,
    ProvinceOrSitePrincipal,
    ProvinceReporterOrAuditorPrincipal,
    Provinces,
    Views,
    provinces,
)
from api.models import READS, WRITES, problems
from api.problems import Problem, field_error, forbidden
from api.services import caught_up
from api.throttle import Throttle, client_address
from config.settings import Settings
from ledger.corrections import filed_moment
from ledger.errors import CorrectionNotFound
from ledger.principal import ADMIN, PROVINCE, SITE, Principal
from ledger.rules import now_ict
from usecases.application import DoseLedger

router = APIRouter(tags=["corrections"])

PATH = "/v1/correction-requests"


def _overdue_after(settings: Settings) -> timedelta:
    return timedelta(days=settings.correction_overdue_days)


@router.post(
    PATH,
    status_code=201,
    response_model=CorrectionFiled,
    responses={**WRITES, **problems(404)},
    summary="File a citizen's claim (201 new, with its code; 200 when the same claim is "
    "open already: linked to it)",
)
def file_request(
    body: CorrectionIn, response: Response, principal: PortalOrSitePrincipal, ledger: Ledger
) -> CorrectionFiled:
    # Any site may file for a citizen who walks in: the claim may name any site.
    filed = ledger.request_correction(
        body.person_id,
        body.kind,
        body.claim,
        evidence_ref=body.evidence_ref,
        contact=body.contact,
        channel=body.channel or principal.role,
        actor=actor(principal),
    )
    if filed.linked:
        response.status_code = 200
    age = (now_ict() - filed_moment(filed.filed_at)).total_seconds()
    return CorrectionFiled(
        request_id=filed.request_id,
        linked=filed.linked,
        code=filed.code,
        filed_at=filed.filed_at,
        age_days=round(max(age, 0) / 86400, 2),
        position=filed.position,
    )


@router.get(
    PATH,
    response_model=CorrectionList,
    responses=READS,
    summary="Correction requests, oldest first: by status, province, overdue",
)
def list_requests(
    request: Request,
    principal: ProvinceOrAuditorPrincipal,
    views: Views,
    settings: AppSettings,
    status: Annotated[
        Sequence[str],
        Query(
            description="open, assigned, accepted, rejected, or unresolved / resolved "
            "(repeat, or comma-separated)"
        ),
    ] = (),
    province: Provinces = (),
    overdue: Annotated[bool | None, Query(description="true: only the overdue; false: none of them")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    min_position: Annotated[int | None, Query(ge=0, description="wait for this position")] = None,
) -> dict[str, Any]:
    statuses = [v.strip() for raw in status for v in raw.split(",") if v.strip()] or None
    scope = narrow_provinces(principal, provinces(province), ["query", "province"])
    caught_up(request, min_position)
    after = _overdue_after(settings)
    rows = views.corrections.requests(
        statuses, scope, overdue=overdue, overdue_after=after, limit=limit, offset=offset
    )
    # Claims and contacts are people's data: a province official's or an auditor's read is logged.
    recorded_read(request, principal, [r["person_id"] for r in rows], "corrections.list")
    return {"requests": rows, "overdue_after_days": after.total_seconds() / 86400}


@router.get(
    "/v1/stats/corrections",
    response_model=CorrectionSummary,
    responses=READS,
    tags=["statistics"],
    summary="Correction requests: open per province and site with their age, overdue, "
    "resolved by outcome, median and p90 days to resolution",
)
def summary(
    request: Request,
    principal: ProvinceReporterOrAuditorPrincipal,
    views: Views,
    settings: AppSettings,
    province: Provinces = (),
    min_position: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    scope = narrow_provinces(principal, provinces(province), ["query", "province"])
    caught_up(request, min_position)
    after = _overdue_after(settings)
    return {
        **views.corrections.summary(scope, overdue_after=after),
        "overdue_after_days": after.total_seconds() / 86400,
    }


def _check_holder(principal: Principal, ledger: DoseLedger, request_id: UUID) -> None:
    """Admin, or whoever the request is assigned to: the site, or the province (of the site)."""
    if principal.role == ADMIN:
        return
    assignee = ledger.correction(request_id)["assignee"] or {}
    if principal.role == SITE and "site" in assignee and acts_for(principal, assignee["site"]):
        return
    if principal.role == PROVINCE:
        province = assignee.get("province")
        if "site" in assignee:
            site = ledger.site(assignee["site"])
            province = site.province if site is not None else None
        if province in principal.provinces:
            return
    raise forbidden(
        f"correction request {request_id} is not assigned to this token's "
        f"{'sites' if principal.role == SITE else 'provinces'}",
        ["path", "request_id"],
    )


@router.post(
    PATH + "/{request_id}/assign",
    response_model=CorrectionWritten,
    responses={**WRITES, **problems(404, 409)},
    summary="Assign a request to a province or a site (admin; or its holder passing it on)",
)
def assign(
    request_id: UUID, body: AssignIn, principal: ProvinceOrSitePrincipal, ledger: Ledger
) -> CorrectionWritten:
    _check_holder(principal, ledger, request_id)
    written = ledger.assign_correction(request_id, body.model_dump(exclude_none=True), actor=actor(principal))
    return CorrectionWritten(request_id=request_id, person_id=written.aggregate_id, position=written.position)


@router.post(
    PATH + "/{request_id}/resolve",
    response_model=CorrectionWritten,
    responses={**WRITES, **problems(404, 409)},
    summary="Answer a request: accepted (the correction is made in the same transaction) "
    "or rejected, with a reason",
)
def resolve(
    request_id: UUID, body: ResolveIn, principal: ProvinceOrSitePrincipal, ledger: Ledger
) -> CorrectionWritten:
    _check_holder(principal, ledger, request_id)
    written = ledger.resolve_correction(request_id, body.outcome, body.reason, actor=actor(principal))
    return CorrectionWritten(request_id=request_id, person_id=written.aggregate_id, position=written.position)


async def _throttled(request: Request) -> None:
    throttle: Throttle = request.app.state.status_checks
    await throttle.check_on_loop(client_address(request), "status checks from this address")


NOT_FOUND = "no correction request has this id and code"


@router.get(
    PATH + "/{request_id}/status",
    response_model=CorrectionStatus,
    responses=problems(404, 422, 429, 503),
    dependencies=[Depends(_throttled)],
    summary="A citizen's status check: no token; the request id and the code given at filing",
)
def status(
    request_id: str, code: Annotated[str, Query(min_length=1, max_length=32)], ledger: Ledger
) -> dict[str, Any]:
    try:
        return ledger.correction_status(request_id, code)
    except CorrectionNotFound:
        # The same answer for a wrong code and an unknown id: guessing learns nothing.
        raise Problem(
            404, "not-found", NOT_FOUND, errors=[field_error(["query", "code"], NOT_FOUND)]
        ) from None
