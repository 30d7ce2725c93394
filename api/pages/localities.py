"""A locality's people as a page: a province's (or one district's) people with their status, a
keyset page at a time (the API's cursor, `api.listing`), and the whole list as a file.

The rows are the locality API's (`views.localities.people_after`, `GET /v1/localities/{code}/
people`), with its rule: an admin any province, a province official theirs. Every person shown
is a recorded read (`pages.localities`).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from api.access_log import recorded_read
from api.listing import decode_cursor, encode_cursor
from api.localities.router import PEOPLE
from api.pages.dashboard import status_names
from api.pages.downloads import STATUSES
from api.pages.i18n import text
from api.pages.rendering import language, render
from api.pages.session import Session, SignedIn
from api.problems import Problem
from ledger.catalog import provinces
from ledger.principal import ADMIN, PROVINCE

router = APIRouter(prefix="/console", include_in_schema=False)
Reviewer = Annotated[Session, Depends(SignedIn(ADMIN, PROVINCE))]
PAGE = 100
DISTRICT_MAX = 100


@router.get("/localities")
def choose(
    request: Request, session: Reviewer, province: str = "", district: str = "", status: str = ""
) -> Response:
    """The form: which province (of the session's), district and status; then the list."""
    lang = language(request)
    errors: dict[str, str] = {}
    code = province.strip().zfill(2) if province.strip() else ""
    if code:
        if code not in _choices(session):
            errors["province"] = text(lang, "Choose a province from the list.")
        else:
            query = {k: v for k, v in (("district", district.strip()), ("status", status)) if v}
            return RedirectResponse(
                f"/console/localities/{code}" + (f"?{urlencode(query)}" if query else ""), status_code=303
            )
    return _page(request, session, "", {}, errors, [], None, 422 if errors else 200)


@router.get("/localities/{code}")
def locality(
    request: Request, session: Reviewer, code: str, district: str = "", status: str = "", cursor: str = ""
) -> Response:
    lang = language(request)
    errors: dict[str, str] = {}
    province = code.strip().zfill(2)
    if province not in _choices(session):
        return _page(
            request,
            session,
            "",
            {},
            {"province": text(lang, "Choose a province from the list.")},
            [],
            None,
            404,
        )
    district = district.strip()
    if len(district) > DISTRICT_MAX or any(ord(c) < 32 for c in district):
        errors["district"] = text(lang, "Not a district name.")
    if status and status not in STATUSES:
        errors["status"] = text(lang, "Choose a status from the list.")
    after = None
    if cursor:
        try:
            after = decode_cursor(PEOPLE, cursor)
        except Problem:
            errors["cursor"] = text(lang, "This page's link is not one these pages made; start again.")
    filters = {"district": district, "status": status}
    if errors:
        return _page(request, session, province, filters, errors, [], None, 422)
    rows = request.app.state.views.localities.people_after(
        province, district or None, status or None, after[0] if after else None, PAGE + 1
    )
    following = encode_cursor(PEOPLE, PEOPLE.key(rows[PAGE - 1])) if len(rows) > PAGE else None
    rows = rows[:PAGE]
    if rows:
        recorded_read(request, session.principal, [r["person_id"] for r in rows], "pages.localities")
    return _page(request, session, province, filters, {}, rows, following, 200)


def _choices(session: Session) -> dict[str, str]:
    names = provinces()
    return names if session.provinces is None else {p: names.get(p, p) for p in session.provinces}


def _page(
    request: Request,
    session: Session,
    province: str,
    filters: dict[str, str],
    errors: dict[str, str],
    rows: list[dict[str, Any]],
    following: str | None,
    status: int,
) -> Response:
    query = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "locality.html",
        {
            "province": province,
            "filters": filters,
            "errors": errors,
            "people": rows,
            "next": f"?{urlencode({**query, 'cursor': following})}" if following else "",
            "download": urlencode(query),
            "choices": _choices(session),
            "province_names": provinces(),
            "status_names": status_names(language(request)),
        },
        status,
        session=session,
    )
