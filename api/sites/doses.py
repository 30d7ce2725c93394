"""A site pulls back what the ledger holds of its records, page by page in ledger order, to
reconcile what it sent with what was stored (JSON, or FHIR Immunizations as a searchset)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.access_log import recorded_read
from api.auth import acts_for, require_province
from api.dependencies import Ledger, ProvinceOrSitePrincipal
from api.fhir.router import FHIR_JSON, base_url, fhir
from api.models import READS, example, problems
from api.problems import forbidden
from api.responses import ORJSON
from intake.fhir import resources
from intake.fhir.records import SitePage, site_doses
from ledger.errors import SiteNotFound
from usecases import series_rules
from usecases.application import DoseLedger

router = APIRouter(prefix="/v1/sites", tags=["sites"])

PAGE_SIZE, PAGE_MAX = 100, 1000


DOSE = {
    "position": 10452,
    "dose_id": "2b8f8c1e-5d7a-5b6c-8e9f-0a1b2c3d4e5f",
    "person_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "site_record_id": "TYT042-2021-000317",
    "vaccine": "EU/1/20/1528",
    "lot": "FA1234",
    "administered_at": "2021-08-01",
    "site_id": "01-TYT-042",
    "status": "recorded",
}


class SiteDoseOut(BaseModel):
    model_config = example(DOSE)
    position: int
    dose_id: str
    person_id: str
    site_record_id: str
    vaccine: str
    lot: str | None
    administered_at: str
    site_id: str  # where the dose was given now (an amendment may move it)
    status: Literal["recorded", "voided"]


class SiteDosePage(BaseModel):
    model_config = example(
        {"site_id": "01-TYT-042", "doses": [DOSE], "next_since_position": 10452, "more": True}
    )
    site_id: str
    doses: list[SiteDoseOut]
    next_since_position: int
    more: bool


@router.get(
    "/{site_id}/doses",
    response_model=SiteDosePage,
    responses={
        **READS,
        **problems(404),
        200: {
            "content": {"application/json": {}, FHIR_JSON: {}},
            "description": "a page of the site's doses",
        },
    },
    summary="Every dose of a site's records, paged by ledger position (JSON, or FHIR)",
    description="Resume with `since_position` = the page's `next_since_position` until `more` is "
    "false. `?format=fhir` or `Accept: application/fhir+json`: the same page as a FHIR searchset "
    "(its `next` link resumes). A site token reads its own sites; a province token its province's.",
)
def pull_back(
    request: Request,
    site_id: str,
    principal: ProvinceOrSitePrincipal,
    ledger: Ledger,
    since_position: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # a store's position is 64-bit
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_SIZE,
    format: Annotated[Literal["json", "fhir"] | None, Query()] = None,
) -> Any:
    site = ledger.site(site_id)
    if not acts_for(principal, site_id):
        raise forbidden(f"this token does not act for site {site_id!r}", ["path", "site_id"])
    if site is None:
        raise SiteNotFound(site_id)
    require_province(principal, site.province, ["path", "site_id"])
    page = site_doses(ledger, site.site_id, since_position, limit)
    recorded_read(request, principal, {d.person_id for d in page.doses}, "sites.doses")
    wants_fhir = format == "fhir" or (format is None and FHIR_JSON in request.headers.get("accept", ""))
    if wants_fhir:
        return fhir(searchset(request, ledger, site.site_id, page))
    return ORJSON(
        {
            "site_id": site.site_id,
            "doses": [
                {
                    "position": d.position,
                    "dose_id": d.dose["dose_id"],
                    "person_id": d.person_id,
                    "site_record_id": d.site_record_id,
                    "vaccine": d.dose["vaccine"],
                    "lot": d.dose.get("lot"),
                    "administered_at": d.dose["administered_at"],
                    "site_id": d.dose["site_id"],
                    "status": "voided" if d.dose.get("voided") else "recorded",
                }
                for d in page.doses
            ],
            "next_since_position": page.next_position,
            "more": page.more,
        }
    )


def searchset(request: Request, ledger: DoseLedger, site_id: str, page: SitePage) -> dict[str, Any]:
    rules = series_rules.in_force(ledger)
    base = base_url(request)
    site = ledger.site(site_id)
    entries = []
    for d in page.doses:
        dose = {
            **d.dose,
            "source": {
                **(d.dose.get("source") or {}),
                "site_id": site_id,
                "site_record_id": d.site_record_id,
            },
        }
        where = site if dose["site_id"] == site_id else ledger.site(dose["site_id"])
        # Numbers need the holder's whole record: a page of a site's doses leaves them out.
        entries.append(
            resources.entry(resources.immunization(d.person_id, dose, None, where, rules), base, "match")
        )
    url = str(request.url.remove_query_params(["since_position"]).include_query_params(format="fhir"))
    links = [{"relation": "self", "url": str(request.url)}]
    if page.more:
        links.append({"relation": "next", "url": f"{url}&since_position={page.next_position}"})
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
