"""The console's lists as files: every list a page shows, whole, as CSV or XLSX (`?format=`).

Opened with the session cookie (a link a browser follows: no bearer header), each through the
API's own declaration of the list (`api.listing.Listing`: columns, key, rows) and its streamed
writers (`api.listing.export`), with the page's scope. A file naming people is a recorded read
of each of them, logged a page of rows at a time before those rows leave, as the API's exports
are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

import projections
from api.access_log import recorded_read
from api.listing import Column, Listing, export
from api.localities.router import PEOPLE
from api.pages.i18n import text
from api.pages.rendering import language, render
from api.pages.session import Session, SignedIn
from api.review.router import DUPLICATES_EXPORT, FLAGS_EXPORT, SITES
from api.review.router import _masked as masked
from ledger import rules
from ledger.errors import InvalidValue
from ledger.flags import FLAG_KINDS
from ledger.principal import ADMIN, PROVINCE, SITE
from usecases.access_log import AccessLogUnavailable

router = APIRouter(prefix="/console", include_in_schema=False)
Reviewer = Annotated[Session, Depends(SignedIn(ADMIN, PROVINCE))]
Worker = Annotated[Session, Depends(SignedIn(ADMIN, PROVINCE, SITE))]
FORMATS = ("csv", "xlsx")
STATUSES = ("none", "partial", "complete", "booster")

# The correction queue's file: what the page lists, without the claim and contact (a citizen's
# words and phone stay on the page, which a person reads, not in a file that travels).
CORRECTIONS = Listing[dict[str, Any]](
    name="correction-requests",
    columns=(
        Column("request_id", "Request id"),
        Column("person_id", "Person id"),
        Column("province", "Province"),
        Column("site_id", "Site"),
        Column("kind", "Kind"),
        Column("status", "Status"),
        Column("assigned_to", "Assigned to"),
        Column("filed_at", "Filed at"),
        Column("age_days", "Age, days"),
        Column("overdue", "Overdue"),
    ),
    key=lambda row: (row["request_id"],),
    to_dict=lambda row: {
        **{k: row.get(k) for k in ("request_id", "person_id", "province", "site_id", "kind", "status")},
        "assigned_to": ";".join(str(v) for v in (row.get("assignee") or {}).values()),
        "filed_at": row.get("filed_at"),
        "age_days": round(float(row["age_days"]), 2),
        "overdue": row["overdue"],
    },
)


def _bad_format(request: Request, session: Session) -> Response:
    lang = language(request)
    return render(
        request,
        "message.html",
        {"title": text(lang, "No such file"), "text": text(lang, "Choose CSV or XLSX.")},
        422,
        session=session,
    )


def _logged(request: Request, session: Session, what: str, ids: Callable[[dict[str, Any]], list[Any]]) -> Any:
    """A `seen` for `export`: each page's people logged as read before the page leaves."""

    def seen(items: list[dict[str, Any]]) -> None:
        people = [pid for item in items for pid in ids(item)]
        if not people:
            return
        try:
            recorded_read(request, session.principal, people, what)
        except AccessLogUnavailable:
            # As the API's locality export: store what waits (this is the export's own thread),
            # then log; a store that is down refuses still, and nothing leaves unlogged.
            request.app.state.ledger.access_log.flush()
            recorded_read(request, session.principal, people, what)

    return seen


def _format(value: str) -> Literal["csv", "xlsx"] | None:
    return cast(Literal["csv", "xlsx"], value) if value in FORMATS else None


@router.get("/duplicates/export")
def duplicates(request: Request, session: Reviewer, format: str = "") -> Response:
    fmt = _format(format)
    if fmt is None:
        return _bad_format(request, session)
    scope = session.provinces
    views: projections.Views = request.app.state.views

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        groups = views.review.possible_duplicates(scope, after=after[0] if after else None, limit=limit)
        return [masked(g, scope) for g in groups]

    seen = _logged(request, session, "pages.duplicates.export", lambda item: item["read"])
    return export(DUPLICATES_EXPORT, fetch, fmt, seen=seen)


@router.get("/flags/export")
def flags(request: Request, session: Reviewer, format: str = "", kind: str = "") -> Response:
    fmt = _format(format)
    if fmt is None or (kind and kind not in FLAG_KINDS):
        return _bad_format(request, session)
    scope = session.provinces
    views: projections.Views = request.app.state.views

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        key = None if after is None else (str(after[0]), str(after[1]), str(after[2]))
        return views.review.flags(kind or None, scope, after=key, limit=limit)

    seen = _logged(request, session, "pages.flags.export", lambda item: [item["person_id"]])
    return export(FLAGS_EXPORT, fetch, fmt, seen=seen, filename=f"flags-{kind}" if kind else "flags")


@router.get("/sites/export")
def sites(request: Request, session: Reviewer, format: str = "") -> Response:
    fmt = _format(format)
    if fmt is None:
        return _bad_format(request, session)
    scope = session.provinces
    views: projections.Views = request.app.state.views

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        return views.review.sites(
            "provisional", scope, review_status="pending", after=after[0] if after else None, limit=limit
        )

    return export(SITES, fetch, fmt, filename="provisional-sites-pending")


@router.get("/corrections/export")
def corrections(request: Request, session: Worker, format: str = "") -> Response:
    fmt = _format(format)
    if fmt is None:
        return _bad_format(request, session)
    views: projections.Views = request.app.state.views
    overdue_after = timedelta(days=request.app.state.settings.correction_overdue_days)
    # The queue the page shows, oldest first as the page, then cut by request id for the file's
    # keyset walk (one read: a queue is hundreds of rows, not millions).
    if session.principal.role == SITE:
        mine = set(session.sites or [])
        rows = [
            r
            for r in views.corrections.requests(
                ["unresolved"], None, overdue_after=overdue_after, limit=10_000
            )
            if (r.get("assignee") or {}).get("site") in mine
        ]
    else:
        rows = views.corrections.requests(
            ["unresolved"], session.provinces, overdue_after=overdue_after, limit=10_000
        )
    ordered = sorted(rows, key=lambda r: str(r["request_id"]))

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        rest = ordered if after is None else [r for r in ordered if str(r["request_id"]) > str(after[0])]
        return rest[:limit]

    seen = _logged(request, session, "pages.corrections.export", lambda item: [item["person_id"]])
    return export(CORRECTIONS, fetch, fmt, seen=seen)


@router.get("/localities/{code}/export")
def locality_people(
    request: Request, session: Reviewer, code: str, format: str = "", district: str = "", status: str = ""
) -> Response:
    fmt = _format(format)
    try:
        province = rules.province(code, "code")
    except InvalidValue:
        province = ""
    if (
        fmt is None
        or not province
        or (status and status not in STATUSES)
        or (session.provinces is not None and province not in session.provinces)
    ):
        return _bad_format(request, session)
    views: projections.Views = request.app.state.views

    def fetch(after: tuple[Any, ...] | None, limit: int) -> list[dict[str, Any]]:
        return views.localities.people_after(
            province, district or None, status or None, after[0] if after else None, limit
        )

    seen = _logged(request, session, "pages.localities.export", lambda item: [item["person_id"]])
    name = f"people-{province}" + (f"-{status}" if status else "")
    return export(PEOPLE, fetch, fmt, seen=seen, filename=name)
