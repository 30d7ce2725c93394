"""The review queues for officials: possible duplicates (and two records side by side for the
merge page), data-quality flags and their resolution, provisional sites to review.

Admin reads every province, a province token its own, an auditor everything (reading only).
Every list pages by a key of ids behind an opaque cursor (`?limit=&cursor=`) or is exported
whole (`?format=csv|xlsx`, or `Accept`). Every person whose data an answer shows is a read
in the access log (`review.duplicates`, `review.compare`, `review.flags`), exports included.
A duplicates group is "these people share this name and birth date", so each of its people is a
read, those a province token sees by id and province only as well.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.access_log import recorded_page_read, recorded_read
from api.auth import actor, province_scope, require_province
from api.dependencies import Ledger, ProvinceOrAuditorPrincipal, ProvincePrincipal, Views
from api.listing import Column, Listing, PageQuery, answer, chosen_format
from api.models import READS, WRITES, problems
from api.problems import Problem, field_error
from api.review.models import (
    Comparison,
    DuplicateGroups,
    FlagKind,
    FlagList,
    FlagResolutionIn,
    FlagResolved,
)
from api.services import caught_up
from api.sites.models import SiteList
from api.sites.router import SITES as DIRECTORY
from ledger.flags import feed_flags, unresolved
from projections.records import PersonRecord

router = APIRouter(prefix="/v1/review", tags=["review"])

MinPosition = Annotated[int | None, Query(ge=0, description="wait for this position")]
_MEMBER = ("person_id", "full_name", "birth_date", "province", "district")


def _group(row: dict[str, Any]) -> dict[str, Any]:
    return {"group_id": row["group_id"], "birth_date": row["birth_date"], "people": row["people"]}


def _group_row(row: dict[str, Any]) -> dict[str, Any]:
    """A group as one spreadsheet row: each column lists its people's values in one order."""
    people = row["people"]
    return {
        "group_id": row["group_id"],
        "birth_date": row["birth_date"],
        "people": len(people),
        **{f"{k}s": [p.get(k) or "" for p in people] for k in _MEMBER if k != "birth_date"},
        "read": _members(row),  # not a column: who the row shows (the access log's)
    }


def _members(group: dict[str, Any]) -> list[str]:
    """The people whose data a group shows: all of them, since a group is one name and birth
    date, and a person masked to id and province still shows as having both."""
    return [p["person_id"] for p in group["people"]]


# By name and birth date, after the group of the person in the cursor (its first person's id
# then): a key of ids (a group's name never leaves in a cursor), and one a merge of that person
# leaves in place (the view still finds the person's name and birth date).
DUPLICATES = Listing[dict[str, Any]](
    name="duplicates",
    columns=(),
    key=lambda row: (row["group_id"],),
    to_dict=_group,
    items_key="groups",
    key_types=(str,),
)
DUPLICATES_EXPORT = Listing[dict[str, Any]](
    name="duplicates",
    columns=(
        Column("group_id", "Group"),
        Column("birth_date", "Birth date"),
        Column("people", "People"),
        Column("person_ids", "Person ids"),
        Column("full_names", "Full names"),
        Column("provinces", "Provinces"),
        Column("districts", "Districts"),
    ),
    key=DUPLICATES.key,
    to_dict=_group_row,
    key_types=(str,),
)


def _flag_row(flag: dict[str, Any]) -> dict[str, Any]:
    warnings = flag.get("warnings")
    return {**flag, "warnings": [f"{w['where']}: {w['reason']}" for w in warnings] if warnings else None}


FLAGS = Listing[dict[str, Any]](
    name="flags",
    columns=(
        Column("person_id", "Person id"),
        Column("province", "Province"),
        Column("dose_id", "Dose id"),
        Column("kind", "Flag"),
        Column("reported", "Reported number"),
        Column("computed", "Computed number"),
        Column("days", "Days since the dose before"),
        Column("minimum", "Minimum days"),
        Column("site_id", "Site"),
        Column("warnings", "Feed warnings"),
    ),
    key=lambda row: (row["person_id"], row["dose_id"], row["kind"]),
    to_dict=dict,
    items_key="flags",
    key_types=(str, str, str),
)
FLAGS_EXPORT = Listing[dict[str, Any]](
    name="flags", columns=FLAGS.columns, key=FLAGS.key, to_dict=_flag_row, key_types=FLAGS.key_types
)

# The provisional sites' queue lists the directory's rows as the directory does; its own name
# keeps a cursor of one list from being taken by the other.
SITES = replace(DIRECTORY, name="review-sites")


def _masked(group: dict[str, Any], scope: list[str] | None) -> dict[str, Any]:
    """A group as a token reads it: a person outside a province token's provinces by id and
    province only."""
    if scope is None:
        return group
    people = [
        p if p["province"] in scope else {"person_id": p["person_id"], "province": p["province"]}
        for p in group["people"]
    ]
    return {**group, "people": people}


@router.get(
    "/duplicates",
    response_model=DuplicateGroups,
    responses=READS,
    summary="People who may be one person: same name (accents, case and spacing aside) and birth date",
    description="Groups of two or more people not merged away, by name and birth date (`group_id` "
    "the group's first person's id); `limit` a page (default 100), the next in `next_cursor` and "
    "`Link`: a walk sees each group once, however its people are merged meanwhile. "
    "`format=csv|xlsx` (or `Accept`): every group as a file, one row each. A province token reads "
    "the groups with someone of its provinces, the others in them by id and province only. Every "
    "person of a group is a logged read, those by id and province too: the group shows that they "
    "have its name and birth date.",
)
def duplicates(
    request: Request,
    principal: ProvinceOrAuditorPrincipal,
    views: Views,
    page: PageQuery,
    min_position: MinPosition = None,
) -> Response:
    caught_up(request, min_position)
    scope = province_scope(principal)

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        groups = views.review.possible_duplicates(scope, after=after[0] if after else None, limit=limit)
        return [_masked(g, scope) for g in groups]

    def seen(items: list[dict[str, Any]]) -> None:  # a page's groups, or an export's rows
        shown = [i for item in items for i in (item["read"] if "read" in item else _members(item))]
        recorded_page_read(request, principal, shown, "review.duplicates")

    listing = DUPLICATES if chosen_format(request, page.format) == "json" else DUPLICATES_EXPORT
    return answer(request, listing, page, fetch, seen=seen)


@router.get(
    "/duplicates/compare",
    response_model=Comparison,
    responses={**READS, **problems(404)},
    summary="Two people's records side by side (the merge page): details, doses, flags",
    description="Each person's details, every dose (numbered by the series rules; voided ones "
    "without a number), the flags not resolved, and whom they were merged into. Both reads are "
    "logged. A province token reads people of its provinces only.",
)
def compare(
    request: Request,
    principal: ProvinceOrAuditorPrincipal,
    views: Views,
    a: Annotated[UUID, Query(description="a person id")],
    b: Annotated[UUID, Query(description="another person id")],
    min_position: MinPosition = None,
) -> dict[str, Any]:
    if a == b:
        msg = "must name another person than a"
        raise Problem(422, "validation", f"b: {msg}", errors=[field_error(["query", "b"], msg)])
    caught_up(request, min_position)
    records = views.review.records([str(a), str(b)])
    people = []
    for name, pid in (("a", a), ("b", b)):
        record = records.get(str(pid))
        if record is None:
            msg = f"no person with id {pid}"
            raise Problem(404, "not-found", f"{name}: {msg}", errors=[field_error(["query", name], msg)])
        require_province(principal, record.details["province"], ["query", name])
        people.append(_compared(record))
    recorded_read(request, principal, [a, b], "review.compare")
    return {"people": people}


def _compared(record: PersonRecord) -> dict[str, Any]:
    evaluation = record.evaluation()
    numbered = {n.dose["dose_id"]: n for n in evaluation.doses}
    doses = []
    for dose in sorted(record.doses.values(), key=lambda d: (d["administered_at"], d["seq"])):
        n = numbered.get(dose["dose_id"])
        doses.append(
            {
                **{k: dose.get(k) for k in ("dose_id", "vaccine", "lot", "administered_at", "site_id")},
                "reported_dose_number": dose.get("reported_dose_number"),
                "voided": dose["voided"],
                "dose_number": None if n is None else n.number,
                "booster": False if n is None else n.booster,
            }
        )
    raised = (*evaluation.flags, *feed_flags(record.doses.values()))
    return {
        **{
            k: record.details.get(k)
            for k in ("full_name", "birth_date", "national_id", "phone", "province", "district")
        },
        "person_id": record.person_id,
        "status": evaluation.status,
        "merged_into": record.merged_into,
        "erased": record.erased,
        "doses": doses,
        "flags": unresolved(raised, record.doses, record.resolved),
    }


@router.get(
    "/flags",
    response_model=FlagList,
    responses=READS,
    summary="Data-quality flags not resolved: dose numbers, intervals, doses before birth, feed warnings",
    description="By person id, dose id and kind; `kind` one of them. `limit` a page (default 100), "
    "the next in `next_cursor` and `Link`; `format=csv|xlsx` (or `Accept`): every flag as a file. "
    "A province token reads its provinces' flags. Each person listed is a logged read.",
)
def flags(
    request: Request,
    principal: ProvinceOrAuditorPrincipal,
    views: Views,
    page: PageQuery,
    kind: Annotated[FlagKind | None, Query(description="only flags of this kind")] = None,
    min_position: MinPosition = None,
) -> Response:
    caught_up(request, min_position)
    scope = province_scope(principal)

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        key = None if after is None else (str(after[0]), str(after[1]), str(after[2]))
        return views.review.flags(kind, scope, after=key, limit=limit)

    def seen(items: list[dict[str, Any]]) -> None:
        recorded_page_read(request, principal, [i["person_id"] for i in items], "review.flags")

    listing = FLAGS if chosen_format(request, page.format) == "json" else FLAGS_EXPORT
    return answer(
        request, listing, page, fetch, seen=seen, filename="flags" if kind is None else f"flags-{kind}"
    )


@router.post(
    "/flags/resolution",
    response_model=FlagResolved,
    responses={**WRITES, **problems(404, 409)},
    summary="Resolve a data-quality flag of a dose, with a reason (admin, province)",
    description="A `FlagResolved` on the person's stream: the flag leaves the list while the dose "
    "and what the flag says stay as they are now; an amendment of the dose (or a change that makes "
    "the flag say something else) raises it again. 403: the dose's person (read in the decision) is "
    "outside the token's provinces; 404: no such dose; 409: resolved already; 422: "
    "the dose has no such flag, or no reason.",
)
def resolve_flag(body: FlagResolutionIn, principal: ProvincePrincipal, ledger: Ledger) -> FlagResolved:
    # The scope is checked inside the decision, on its own reads of the dose's holder.
    written = ledger.resolve_flag(
        body.dose_id,
        body.kind,
        body.reason,
        actor=actor(principal),
        source={"kind": "api", "route": "review"},
        provinces=province_scope(principal),
    )
    return FlagResolved(person_id=written.aggregate_id, position=written.position)


@router.get(
    "/sites",
    response_model=SiteList,
    responses=READS,
    summary="Provisional sites to review (sites doses named before anyone listed them)",
    description="By site id; `status` the review's: pending (default), approved or rejected. "
    "`limit` a page (default 100); `format=csv|xlsx` (or `Accept`): the whole list as a file. "
    "`POST /v1/sites/{site_id}/review` reviews one.",
)
def sites(
    request: Request,
    principal: ProvinceOrAuditorPrincipal,
    views: Views,
    page: PageQuery,
    status: Literal["pending", "approved", "rejected"] = "pending",
    min_position: MinPosition = None,
) -> Response:
    caught_up(request, min_position)
    scope = province_scope(principal)

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        return views.review.sites(
            "provisional", scope, review_status=status, after=after[0] if after else None, limit=limit
        )

    return answer(request, SITES, page, fetch, filename=f"provisional-sites-{status}")
