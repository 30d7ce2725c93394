"""A site's daily tallies: what it counted it gave each day (JSON, or its tally sheet as CSV),
and reading them back beside what the ledger recorded for those days (the backlog view)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.responses import Response

from api.auth import actor, acts_for, require_province
from api.dependencies import Ledger, SitePrincipal, SiteProvinceOrAuditorPrincipal, Views
from api.listing import Column, Listing, PageQuery, answer, chosen_format
from api.models import READS, WRITES, example, problems
from api.problems import Problem, field_error, forbidden
from api.responses import ORJSON
from api.services import caught_up
from intake.tally_sheets import TallyRowError, read_tally_sheet
from ledger import rules
from ledger.errors import SiteNotFound
from ledger.principal import Principal
from ledger.tallies import BASES
from usecases.application import DoseLedger

router = APIRouter(prefix="/v1/sites", tags=["sites"])

CSV = "text/csv"
MOST_TALLIES = 1000  # tallies in one JSON request (a CSV sheet has its own limit of rows)
TALLY = {"day": "2021-08-01", "counts": {"EU/1/20/1528": 120, "EU/1/21/1529": 35}, "source": "tally_sheet"}
SHEET = "day,vaccine,doses\n2021-08-01,EU/1/20/1528,120\n2021-08-01,EU/1/21/1529,35\n"


class TallyIn(BaseModel):
    """One day's tally (the OpenAPI document's shape; the ledger checks each field)."""

    model_config = example({**TALLY, "request_id": "sheet-2021-08-01"})
    day: str
    counts: dict[str, int]
    source: Literal["tally_sheet", "vials_opened", "other"] = "tally_sheet"
    request_id: str | None = None


BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        TallyIn.model_json_schema(),
                        {"type": "array", "items": TallyIn.model_json_schema()},
                    ]
                },
                "example": TALLY,
            },
            CSV: {"schema": {"type": "string"}, "example": SHEET},
        },
    }
}


class TallyResult(BaseModel):
    model_config = example({"day": "2021-08-01", "recorded": True})
    day: str
    recorded: bool  # False: the same tally was already there (a retry), nothing written


class TalliesWritten(BaseModel):
    model_config = example(
        {
            "site_id": "01-TYT-042",
            "tallies": [{"day": "2021-08-01", "recorded": True}],
            "listed": False,
            "position": 10460,
        }
    )
    site_id: str
    tallies: list[TallyResult]
    listed: bool  # the site was missing from the directory: listed provisional with them
    position: int | None


REPORT = {"counts": TALLY["counts"], "source": "tally_sheet", "request_id": None}
DAY = {**TALLY, "doses": 155, "reports": [REPORT], "tallied": 155, "recorded": 150, "backlog": 5}


class TallyReport(BaseModel):
    model_config = example(REPORT)
    counts: dict[str, int]
    source: str
    request_id: str | None


class TallyDay(BaseModel):
    model_config = example(DAY)
    day: str
    counts: dict[str, int]
    doses: int
    source: str
    reports: list[TallyReport]  # every report of the day, oldest first (the last one counts)
    # The backlog view's figures, all three of one state of it (None: the view is behind):
    tallied: int | None  # the doses it counts the day's tally at (`doses` once it has caught up)
    recorded: int | None  # valid doses the ledger holds for the day
    backlog: int | None  # max(tallied - recorded, 0)


class SiteTallies(BaseModel):
    model_config = example(
        {
            "site_id": "01-TYT-042",
            "tallies": [DAY],
        }
    )
    site_id: str
    tallies: list[TallyDay]
    next_cursor: str | None = None  # a page's: the next page's cursor (asked with `limit` or `cursor`)


def _day_key(day: dict[str, Any]) -> tuple[Any, ...]:
    return (day["day"],)


# A day's tally as JSON, and as a spreadsheet's row (its counts in one cell, its reports counted).
# One name: a cursor of either is the other's.
DAYS = Listing[dict[str, Any]](
    name="site-tallies", columns=(), key=_day_key, to_dict=dict, items_key="tallies", key_types=(str,)
)
DAY_ROWS = Listing[dict[str, Any]](
    name="site-tallies",
    columns=(
        Column("day", "Day"),
        Column("doses", "Doses tallied"),
        Column("counts", "Doses by vaccine"),
        Column("source", "Counted from"),
        Column("tallied", "Tallied (backlog view)"),
        Column("recorded", "Recorded"),
        Column("backlog", "Backlog"),
        Column("reports", "Reports"),
    ),
    key=_day_key,
    to_dict=lambda day: {
        **day,
        "counts": "; ".join(f"{vaccine}={n}" for vaccine, n in day["counts"].items()),
        "reports": len(day["reports"]),
    },
    items_key="tallies",
    key_types=(str,),
)


@router.post(
    "/{site_id}/tallies",
    response_model=TalliesWritten,
    status_code=201,
    responses={**WRITES, **problems(409, 415), 200: {"description": "nothing new: the same tallies again"}},
    openapi_extra=BODY,
    summary="Report a site's daily tallies: JSON (one or a list) or its tally sheet as CSV",
    description="JSON `{day, counts: {vaccine: doses}, source?, request_id?}` or a list of them; or "
    f"`Content-Type: {CSV}` with the columns `day,vaccine,doses`, one row per day and vaccine. All or "
    "nothing: a bad tally or row refuses the request naming it (the row and column of a sheet). A day "
    "already reported is reported again (the latest counts); the same tally again records nothing "
    "(200). A site missing from the directory is listed provisional in `province`, required then.",
)
async def report_tallies(
    request: Request,
    site_id: str,
    principal: SitePrincipal,
    ledger: Ledger,
    province: Annotated[
        str | None, Query(description="the site's province, to list a site missing from the directory")
    ] = None,
    dry_run: Annotated[bool, Query(description="check and decide, store nothing")] = False,
) -> Any:
    if not acts_for(principal, site_id):
        raise forbidden(f"this token does not act for site {site_id!r}", ["path", "site_id"])
    items, numbered = _tallies_of(request.headers.get("content-type", ""), await request.body())
    reported = await run_in_threadpool(
        _report, ledger, principal, site_id, items, numbered, province, dry_run
    )
    body = {
        "site_id": rules.text(site_id, "site_id"),
        "tallies": [{"day": d, "recorded": r} for d, r in zip(reported.days, reported.recorded, strict=True)],
        "listed": reported.listed,
        "position": reported.position,
    }
    return ORJSON(body, status_code=201 if any(reported.recorded) or reported.listed else 200)


def _report(
    ledger: DoseLedger,
    principal: Principal,
    site_id: str,
    items: list[dict[str, Any]],
    numbered: bool,
    province: str | None,
    dry_run: bool,
) -> Any:
    return ledger.report_tallies(
        site_id, items, province=province, numbered=numbered, actor=actor(principal), dry_run=dry_run
    )


def _tallies_of(content_type: str, data: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The tallies of a request body, and whether they came as a list (errors name the item)."""
    media = content_type.split(";")[0].strip().lower()
    if media in (CSV, "text/plain", "application/csv"):
        try:
            tallies = read_tally_sheet(data)
        except TallyRowError as error:
            raise Problem(
                422,
                "invalid",
                str(error),
                errors=[field_error(["body", "row", error.row, error.column], error.message)],
            ) from None
        return tallies, False
    if media not in ("application/json", ""):
        raise Problem(
            415, "unsupported-media-type", f"send tallies as application/json or {CSV}, not {media}"
        )
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise Problem(
            400, "bad-request", "the body is not JSON", errors=[field_error(["body"], "is not JSON")]
        ) from None
    if isinstance(body, dict):
        return [body], False
    if not isinstance(body, list) or not body or not all(isinstance(item, dict) for item in body):
        msg = "must be a tally {day, counts, source?} or a non-empty list of them"
        raise Problem(422, "invalid", f"body: {msg}", errors=[field_error(["body"], msg)])
    if len(body) > MOST_TALLIES:
        msg = f"holds more than {MOST_TALLIES} tallies"
        raise Problem(422, "invalid", f"body: {msg}", errors=[field_error(["body"], msg)])
    return body, True


@router.get(
    "/{site_id}/tallies",
    response_model=SiteTallies,
    responses={**READS, **problems(404)},
    summary="A site's tallies by day, each with the doses the ledger recorded for it",
    description="The day's latest counts (`doses`: their total) and every report of it, from the "
    "ledger; `tallied`, `recorded` and `backlog` from one state of the backlog view (`min_position` "
    "waits for it): `backlog` is max(`tallied` - `recorded`, 0), and `tallied` differs from `doses` "
    "while the view has not yet folded the day's latest tally. A site token reads its own sites, "
    f"a province token its provinces'. Sources: {', '.join(BASES)}. Oldest day first; without `limit` "
    "or `cursor` every day, with them a page, the next in `next_cursor` and `Link`. `format=csv|xlsx` "
    "(or `Accept`): every day as a file.",
)
def read_tallies(
    request: Request,
    site_id: str,
    principal: SiteProvinceOrAuditorPrincipal,
    ledger: Ledger,
    views: Views,
    page: PageQuery,
    min_position: Annotated[int | None, Query(ge=0, description="wait for this position")] = None,
) -> Response:
    if not acts_for(principal, site_id):
        raise forbidden(f"this token does not act for site {site_id!r}", ["path", "site_id"])
    site = ledger.site(site_id)
    if site is None:
        raise SiteNotFound(site_id)
    require_province(principal, site.province, ["path", "site_id"])
    caught_up(request, min_position)

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        # The site's stream holds its every day; the view, what was recorded on each.
        days = [day for day in ledger.site_tallies(site.site_id) if after is None or day["day"] > after[0]]
        days = days[:limit]
        if not days:
            return []
        counted = {
            row["day"]: row for row in views.backlog.site_days(site.site_id, days[0]["day"], days[-1]["day"])
        }
        # `tallied`, `recorded` and `backlog` are one row of the view, one state: beside the
        # ledger's `doses` they show a re-tally the view has not folded yet, never mix it in.
        figures = ("tallied", "recorded", "backlog")
        return [
            {**day, **{k: counted[day["day"]][k] if day["day"] in counted else None for k in figures}}
            for day in days
        ]

    listing = DAYS if chosen_format(request, page.format) == "json" else DAY_ROWS
    return answer(
        request,
        listing,
        page,
        fetch,
        extra={"site_id": site.site_id},
        # A site id is no one's personal data, but it is the sender's text: a header keeps it plain.
        filename="tallies-" + re.sub(r"[^A-Za-z0-9._-]", "_", site.site_id),
        default_limit=None,
    )
