"""Statistics from the statistics projection: dose counts, people by status."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query, Request

from api.auth import Allow, narrow_provinces
from api.models import READS
from api.problems import Problem, field_error
from api.services import caught_up, views_of
from api.stats.models import GROUPS, Coverage, DoseCounts
from ledger import rules
from ledger.principal import AUDITOR, PROVINCE, REPORTER, Principal

router = APIRouter(prefix="/v1/stats", tags=["statistics"])

PROVINCE_QUERY = Query([], description="2-digit province codes (repeat, or comma-separated); "
                                       "a province token reads only its own")


def _provinces(values: list[str]) -> list[str]:
    codes = [code for value in values for code in value.split(",") if code.strip()]
    return sorted({rules.province(code) for code in codes})


def _invalid(loc: list, msg: str) -> Problem:
    return Problem(422, "validation", f"{loc[-1]}: {msg}", errors=[field_error(loc, msg)])


@router.get("/doses", response_model=DoseCounts, response_model_exclude_none=True, responses=READS,
            summary="Dose counts, grouped by any of date, province, site_id, vaccine, dose_number")
def dose_counts(request: Request,
                group_by: str = Query("", description=f"comma list of {', '.join(GROUPS)}",
                                      examples=["date,province"]),
                date_from: date | None = Query(None, alias="from", description="administered on or after"),
                date_to: date | None = Query(None, alias="to", description="administered on or before"),
                province: list[str] = PROVINCE_QUERY,
                min_position: int | None = Query(None, ge=0),
                principal: Principal = Depends(Allow(PROVINCE, REPORTER, AUDITOR)),
                views=Depends(views_of)) -> dict:
    groups = list(dict.fromkeys(g.strip() for g in group_by.split(",") if g.strip()))
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise _invalid(["query", "group_by"], f"unknown group {unknown[0]!r}; use {', '.join(GROUPS)}")
    if date_from and date_to and date_from > date_to:
        raise _invalid(["query", "from"], "is after `to`")
    provinces = narrow_provinces(principal, _provinces(province), ["query", "province"])
    caught_up(request, min_position)
    rows = views.statistics.dose_counts(groups, date_from, date_to, provinces)
    return {"rows": rows, "total": sum(row["doses"] for row in rows)}


@router.get("/coverage", response_model=Coverage, responses=READS,
            summary="People by vaccination status, per province")
def coverage(request: Request, province: list[str] = PROVINCE_QUERY,
             min_position: int | None = Query(None, ge=0),
             principal: Principal = Depends(Allow(PROVINCE, REPORTER, AUDITOR)),
             views=Depends(views_of)) -> dict:
    provinces = narrow_provinces(principal, _provinces(province), ["query", "province"])
    caught_up(request, min_position)
    rows = views.statistics.coverage(provinces)
    return {"rows": rows, "total": sum(row["people"] for row in rows)}
