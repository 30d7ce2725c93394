"""Statistics from the statistics and backlog projections: dose counts, people by status, the
backlog of doses given but not recorded.

Dose counts and coverage are lists of counted rows: the whole list as JSON (as these always
answered), a page of it with `limit`/`cursor`, or a CSV/XLSX file. The rows are few (one per
group) and counted in one query; pages are cut from them by the groups' values, which are codes,
days and bands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.auth import narrow_provinces
from api.dependencies import ProvinceReporterOrAuditorPrincipal, Provinces, Views, provinces
from api.listing import DEFAULT_LIMIT, Column, Listing, PageQuery, answer, chosen_format, decode_cursor
from api.models import READS
from api.problems import Problem, field_error
from api.services import caught_up
from api.stats.models import BACKLOG_GROUPS, COVERAGE_GROUPS, GROUPS, Backlog, Coverage, DoseCounts
from projections.backlog import AGES

router = APIRouter(prefix="/v1/stats", tags=["statistics"])

HEADERS = {
    "date": "Date",
    "province": "Province",
    "district": "District",
    "site_id": "Site id",
    "vaccine": "Vaccine",
    "dose_number": "Dose number",
    "age_band": "Age band",
    "sex": "Sex",
    "status": "Status",
    "doses": "Doses",
    "people": "People",
}
INTEGER_GROUPS = {"dose_number"}


_FIGURES = (
    Column("tallied", "Tallied"),
    Column("recorded", "Recorded"),
    Column("backlog", "Backlog"),
    Column("difference", "Difference"),
    Column("days", "Site-days"),
)
_SITES = (Column("sites", "Sites"),)
AGE_LABELS = tuple(label for label, _, _ in AGES)


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A group as the JSON answer always showed it: the figures, and the names it has."""
    return {k: v for k, v in row.items() if v is not None}


def _backlog_listing(
    group: str, columns: tuple[Column, ...], key: Any, key_types: tuple[type, ...]
) -> Listing[Any]:
    return Listing[dict[str, Any]](
        name=f"backlog-{group}",
        columns=columns,
        key=key,
        to_dict=_shown,
        items_key="rows",
        key_types=key_types,
    )


# One list per grouping (its cursors name it): keys of codes and ids only, unique per group.
BACKLOG_LISTS = {
    "site": _backlog_listing(
        "site",
        (
            Column("site_id", "Site"),
            Column("name", "Name"),
            Column("province", "Province"),
            Column("district", "District"),
            *_FIGURES,
        ),
        lambda row: (row["site_id"] or "",),
        (str,),
    ),
    "district": _backlog_listing(
        "district",
        (Column("province", "Province"), Column("district", "District"), *_FIGURES, *_SITES),
        lambda row: (row["province"] or "", row["district"] or ""),
        (str, str),
    ),
    "province": _backlog_listing(
        "province",
        (Column("province", "Province"), *_FIGURES, *_SITES),
        lambda row: (row["province"] or "",),
        (str,),
    ),
    "age": _backlog_listing(
        "age",
        (Column("age", "Days since the day tallied"), *_FIGURES, *_SITES),
        lambda row: (AGE_LABELS.index(row["age"]),),
        (int,),
    ),
}


def _invalid(loc: list[str | int], msg: str) -> Problem:
    return Problem(422, "validation", f"{loc[-1]}: {msg}", errors=[field_error(loc, msg)])


def _groups(group_by: str, allowed: Sequence[str]) -> list[str]:
    groups = list(dict.fromkeys(g.strip() for g in group_by.split(",") if g.strip()))
    unknown = [g for g in groups if g not in allowed]
    if unknown:
        raise _invalid(["query", "group_by"], f"unknown group {unknown[0]!r}; use {', '.join(allowed)}")
    return groups


def _counted(name: str, fields: list[str], count: str) -> Listing[dict[str, Any]]:
    """A list of counted rows, keyed by its group fields (an unknown district or sex: "")."""
    return Listing(
        name=name,
        columns=tuple(Column(f, HEADERS[f]) for f in (*fields, count)),
        key=lambda row: tuple("" if row[f] is None else row[f] for f in fields),
        to_dict=dict,
        items_key="rows",
        key_types=tuple(int if f in INTEGER_GROUPS else str for f in fields),
    )


def _pages(
    listing: Listing[dict[str, Any]], rows: list[dict[str, Any]]
) -> Callable[..., list[dict[str, Any]]]:
    """Pages cut from rows counted once: in the key's order (the same on both stores)."""
    ordered = sorted(rows, key=listing.key)

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        rest = ordered if after is None else [r for r in ordered if listing.key(r) > after]
        return rest[:limit]

    return fetch


def _read_once(listing: Listing[Any], rows: list[dict[str, Any]]) -> Callable[..., list[dict[str, Any]]]:
    """Pages of rows read once, in the order read (the store's): the rows start after the
    request's cursor; a later page after the row whose key the walk hands back."""
    positions = {listing.key(row): n for n, row in enumerate(rows)}

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        start = positions[after] + 1 if after is not None and after in positions else 0
        return rows[start : start + limit]

    return fetch


@router.get(
    "/doses",
    response_model=DoseCounts,
    response_model_exclude_none=True,
    responses=READS,
    summary=f"Dose counts, grouped by any of {', '.join(GROUPS)}",
    description="`district`: the site's (see the statistics view), given with its province. "
    "`age_band`: the person's on the dose's day (0-11, 12-17, 18-49, 50-64, 65+; unknown for an "
    "erased person). A district or sex unknown is null. Every row (by the groups' values) unless "
    "`limit` or `cursor` asks for a page; `format=csv|xlsx` (or `Accept`) answers a file.",
)
def dose_counts(
    request: Request,
    principal: ProvinceReporterOrAuditorPrincipal,
    views: Views,
    page: PageQuery,
    group_by: Annotated[
        str, Query(description=f"comma list of {', '.join(GROUPS)}", examples=["date,province"])
    ] = "",
    date_from: Annotated[date | None, Query(alias="from", description="administered on or after")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="administered on or before")] = None,
    province: Provinces = (),
    min_position: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    groups = _groups(group_by, GROUPS)
    if "district" in groups and "province" not in groups:  # a district's name is its province's
        groups.insert(groups.index("district"), "province")
    if date_from and date_to and date_from > date_to:
        raise _invalid(["query", "from"], "is after `to`")
    scope = narrow_provinces(principal, provinces(province), ["query", "province"])
    caught_up(request, min_position)
    rows = views.statistics.dose_counts(groups, date_from, date_to, scope)
    listing = _counted("dose-counts", groups, "doses")
    total = sum(row["doses"] for row in rows)
    return answer(request, listing, page, _pages(listing, rows), extra={"total": total}, default_limit=None)


@router.get(
    "/coverage",
    response_model=Coverage,
    response_model_exclude_none=True,
    responses=READS,
    summary="People by vaccination status, per province (and district, age band)",
    description="`group_by=district,age_band`: per district and/or age band too (the age band "
    "today; unknown for an erased person). Every row unless `limit` or `cursor` asks for a page; "
    "`format=csv|xlsx` (or `Accept`) answers a file.",
)
def coverage(
    request: Request,
    principal: ProvinceReporterOrAuditorPrincipal,
    views: Views,
    page: PageQuery,
    group_by: Annotated[
        str,
        Query(description=f"comma list of {', '.join(COVERAGE_GROUPS)}", examples=["district,age_band"]),
    ] = "province",
    province: Provinces = (),
    min_position: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    groups = ["province", *(g for g in _groups(group_by, COVERAGE_GROUPS) if g != "province")]
    scope = narrow_provinces(principal, provinces(province), ["query", "province"])
    caught_up(request, min_position)
    rows = views.statistics.coverage(scope, group_by=groups)
    listing = _counted("coverage", [*groups, "status"], "people")
    total = sum(row["people"] for row in rows)
    return answer(request, listing, page, _pages(listing, rows), extra={"total": total}, default_limit=None)


@router.get(
    "/backlog",
    response_model=Backlog,
    response_model_exclude_none=True,
    responses=READS,
    summary="Doses given but not recorded: sites' tallies against the ledger, by site, district, province or age",
    description="Per group, over the site-days a site tallied (`from`/`to`: the days): `tallied` (the "
    "days' latest tallies), `recorded` (valid doses of those days at those sites), `backlog` (each "
    "site-day's max(tallied - recorded, 0), summed), `difference` (tallied - recorded). `age`: days "
    "since the day tallied, 0-7, 8-30, 31-90, >90 (Vietnam's today). A province token reads its provinces. "
    "Groups by their key (site id; province and district; province; age). Without `limit` or `cursor` "
    "every group; with them a page, the next in `next_cursor` and `Link`. `format=csv|xlsx` (or `Accept`): "
    "every group as a file. `total` is over every group, whatever the page, and read with the rows in "
    "one statement: one state of the view, the rows always adding up to it.",
)
def backlog(
    request: Request,
    principal: ProvinceReporterOrAuditorPrincipal,
    views: Views,
    page: PageQuery,
    group_by: Annotated[
        Literal["site", "district", "province", "age"],
        Query(description=f"one of {', '.join(BACKLOG_GROUPS)}"),
    ] = "province",
    date_from: Annotated[date | None, Query(alias="from", description="days tallied on or after")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="days tallied on or before")] = None,
    province: Provinces = (),
    min_position: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    if date_from and date_to and date_from > date_to:
        raise _invalid(["query", "from"], "is after `to`")
    scope = narrow_provinces(principal, provinces(province), ["query", "province"])
    caught_up(request, min_position)
    listing = BACKLOG_LISTS[group_by]
    after = decode_cursor(listing, page.cursor) if page.cursor else None
    # The rows and the total of one answer come from one read of the view: a page of them (one
    # more row than asked, which tells there is a next), or every row (a whole list, a file).
    paged = chosen_format(request, page.format) == "json" and (page.limit or page.cursor) is not None
    limit = (page.limit or DEFAULT_LIMIT) + 1 if paged else None
    if group_by == "age":  # four fixed bands, in their order: a page of them cut in memory
        figures = views.backlog.figures("age", scope, date_from, date_to)
        start = after[0] + 1 if after is not None else 0
        rows = figures.rows[start : None if limit is None else start + limit]
    else:
        figures = views.backlog.figures(group_by, scope, date_from, date_to, after=after, limit=limit)
        rows = figures.rows
    return answer(
        request,
        listing,
        page,
        _read_once(listing, rows),
        extra={"group_by": group_by, "total": figures.total},
        filename=f"backlog-{group_by}",
        default_limit=None,
    )
