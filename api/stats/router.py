"""Statistics from the statistics projection: dose counts, people by status."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.auth import narrow_provinces
from api.dependencies import ProvinceReporterOrAuditorPrincipal, Provinces, Views, provinces
from api.models import READS
from api.problems import Problem, field_error
from api.services import caught_up
from api.stats.models import GROUPS, Coverage, DoseCounts

router = APIRouter(prefix="/v1/stats", tags=["statistics"])


def _invalid(loc: list[str | int], msg: str) -> Problem:
    return Problem(422, "validation", f"{loc[-1]}: {msg}", errors=[field_error(loc, msg)])


@router.get(
    "/doses",
    response_model=DoseCounts,
    response_model_exclude_none=True,
    responses=READS,
    summary="Dose counts, grouped by any of date, province, site_id, vaccine, dose_number",
)
def dose_counts(
    request: Request,
    principal: ProvinceReporterOrAuditorPrincipal,
    views: Views,
    group_by: Annotated[
        str, Query(description=f"comma list of {', '.join(GROUPS)}", examples=["date,province"])
    ] = "",
    date_from: Annotated[date | None, Query(alias="from", description="administered on or after")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="administered on or before")] = None,
    province: Provinces = (),
    min_position: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    groups = list(dict.fromkeys(g.strip() for g in group_by.split(",") if g.strip()))
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise _invalid(["query", "group_by"], f"unknown group {unknown[0]!r}; use {', '.join(GROUPS)}")
    if date_from and date_to and date_from > date_to:
        raise _invalid(["query", "from"], "is after `to`")
    scope = narrow_provinces(principal, provinces(province), ["query", "province"])
    caught_up(request, min_position)
    rows = views.statistics.dose_counts(groups, date_from, date_to, scope)
    return {"rows": rows, "total": sum(row["doses"] for row in rows)}


@router.get(
    "/coverage",
    response_model=Coverage,
    responses=READS,
    summary="People by vaccination status, per province",
)
def coverage(
    request: Request,
    principal: ProvinceReporterOrAuditorPrincipal,
    views: Views,
    province: Provinces = (),
    min_position: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    scope = narrow_provinces(principal, provinces(province), ["query", "province"])
    caught_up(request, min_position)
    rows = views.statistics.coverage(scope)
    return {"rows": rows, "total": sum(row["people"] for row in rows)}
