"""CDC CVRS flat files: `POST /v1/cvrs` with the tab-delimited file as the body (`text/plain`
or `text/tab-separated-values`), answered with each row's outcome.

Who: `site` (rows of its own sites only: another site's row is refused) and `admin`. A file
that is not a CVRS is refused whole (422) and books nothing; each row is booked through the
same path as its HL7 v2 twin, and the same file twice books nothing new. A person's province
and CDC's placeholder codes follow the feeds' settings (`DOSELEDGER_FEED_DEFAULT_PROVINCE`,
`DOSELEDGER_FEED_TEST_CODES`); `?dry_run=true` checks every row and stores nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.auth import actor
from api.cvrs.models import CvrsReport
from api.dependencies import AppSettings, Ledger, SitePrincipal
from api.models import WRITES, problems
from api.problems import Problem, field_error
from intake.cvrs import CvrsRefused
from intake.cvrs.booking import book_file, report
from ledger.principal import SITE

router = APIRouter(prefix="/v1/cvrs", tags=["feeds"])

BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/tab-separated-values": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "",
    response_model=CvrsReport,
    responses={**WRITES, **problems(422)},
    openapi_extra=BODY,
    summary="Book a CDC CVRS flat file (each row's outcome)",
)
async def book_cvrs(
    request: Request,
    principal: SitePrincipal,
    ledger: Ledger,
    settings: AppSettings,
    dry_run: bool = False,
) -> CvrsReport:
    data = await request.body()
    allowed = list(principal.sites) if principal.role == SITE else None
    try:
        outcomes = await run_in_threadpool(
            book_file,
            ledger,
            data,
            actor(principal),
            allowed_sites=allowed,
            default_province=settings.feed_default_province,
            test_codes=settings.feed_test_codes,
            dry_run=dry_run,
        )
    except CvrsRefused as refused:
        raise Problem(
            422,
            "invalid",
            f"not a CVRS file: {refused.reason}",
            errors=[field_error(["body"], refused.reason)],
        ) from None
    return CvrsReport.model_validate(report(outcomes))
