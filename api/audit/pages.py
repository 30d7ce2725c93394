"""The auditor's pages: a person's history as an HTML timeline, for a browser.

A browser cannot send a bearer header from a link, so the pages take the token once, from a
sign-in form (POST: the token is never in a URL, so never in a server log, the browser's
history or a Referer), and keep it in a cookie the page's scripts cannot read (HttpOnly),
sent only to /audit (Path) and never from another site (SameSite=Strict). The cookie is
honoured by these pages only, never by /v1: a site cannot make a signed-in browser write.
The token is checked on every page like a bearer token: revoked or expired, it stops working.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

import replay
from api.access_log import recorded_read
from api.audit.timeline import timeline
from api.pages.cookies import same_origin
from api.problems import Problem
from ledger.errors import InvalidValue, PersonNotFound
from ledger.principal import ADMIN, AUDITOR, Principal
from usecases.principals import find_principal

router = APIRouter(prefix="/audit", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

COOKIE = "doseledger_audit"
PAGE_ROLES = frozenset({AUDITOR, ADMIN})
SIGN_IN_HOURS = 8
# Where a sign-in may send the browser next: these pages only (no open redirect).
NEXT = re.compile(r"/audit/[A-Za-z0-9/_-]*")
HEADERS = {
    "Cache-Control": "no-store",  # people's records stay out of shared and disk caches
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    # Nothing leaves for another site; same-origin keeps the Origin header on the sign-in form.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def audit_links(person_id: UUID | str) -> dict[str, str]:
    """Where the certificate points an auditor to: the page, and the same history as JSON."""
    return {"audit": f"/audit/persons/{person_id}", "history": f"/v1/audit/persons/{person_id}/history"}


@router.get("/login", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str = "/audit/") -> Response:
    return _page(request, "audit_login.html", {"next": _next(next)})


@router.post("/login", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    if not same_origin(request):
        return _page(
            request,
            "audit_login.html",
            {"next": "/audit/", "error": "sign in from this site's own form"},
            403,
        )
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
    token = (form.get("token") or [""])[0].strip()
    next_ = _next((form.get("next") or ["/audit/"])[0])
    try:
        principal = await run_in_threadpool(request.app.state.tokens.principal, token) if token else None
    except Problem as refused:  # unknown, revoked or expired
        principal, error = None, refused.detail
    else:
        error = "enter a token"
    if principal is None:
        return _page(request, "audit_login.html", {"next": next_, "error": error}, 401)
    if principal.role not in PAGE_ROLES:
        return _page(
            request,
            "audit_login.html",
            {"next": next_, "error": f"a {principal.role} token may not open the audit pages"},
            403,
        )
    response = RedirectResponse(next_, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=SIGN_IN_HOURS * 3600,
        path="/audit",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def sign_out() -> Response:
    response = RedirectResponse("/audit/login", status_code=303)
    response.delete_cookie(COOKIE, path="/audit", httponly=True, samesite="strict")
    return response


@router.get("/", response_class=HTMLResponse)
def start(request: Request) -> Response:
    principal = _signed_in(request)
    if not isinstance(principal, Principal):
        return principal
    return _page(request, "audit_start.html", {"principal": principal})


@router.get("/persons", response_class=HTMLResponse)
def open_person(request: Request, person_id: str = "") -> Response:
    """The start page's form: a person id typed in, checked, then its page."""
    try:
        return RedirectResponse(f"/audit/persons/{UUID(person_id.strip())}", status_code=303)
    except ValueError:
        return _message(request, 422, "Not a person id", f"{person_id!r} is not a person id (a UUID).")


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person(request: Request, person_id: str) -> Response:
    principal = _signed_in(request)
    if not isinstance(principal, Principal):
        return principal
    ledger = request.app.state.ledger
    try:
        history = replay.history(ledger, person_id)
    except PersonNotFound:
        return _message(request, 404, "No such person", f"No person has the id {person_id}.")
    except InvalidValue:
        return _message(request, 422, "Not a person id", f"{person_id!r} is not a person id (a UUID).")
    recorded_read(request, principal, [history["person_id"]], "audit.page")
    rows = timeline(history, _principal_names(ledger))
    return _page(
        request,
        "audit_person.html",
        {
            "principal": principal,
            "person_id": history["person_id"],
            "rows": rows,
            "current": history["events"][-1]["state"] if history["events"] else None,
            "links": audit_links(history["person_id"]),
        },
    )


def _signed_in(request: Request) -> Principal | Response:
    """The cookie's principal, or the answer to give instead (sign in; not for this role)."""
    token = request.cookies.get(COOKIE)
    principal: Principal | None = None
    if token:
        try:
            principal = request.app.state.tokens.principal(token)
        except Problem:
            principal = None
    if principal is None:
        return RedirectResponse(f"/audit/login?next={quote(request.url.path)}", status_code=303)
    if principal.role not in PAGE_ROLES:
        return _message(
            request, 403, "Not for this token", f"A {principal.role} token may not open the audit pages."
        )
    return principal


def _principal_names(ledger: Any) -> Any:
    known: dict[str, str | None] = {}

    def name(principal_id: str) -> str | None:
        if principal_id not in known:
            try:
                found = find_principal(ledger, UUID(principal_id))
            except ValueError:  # "system", a CLI's name: not a token
                found = None
            known[principal_id] = found.name if found is not None else None
        return known[principal_id]

    return name


def _next(path: str) -> str:
    return path if NEXT.fullmatch(path) else "/audit/"


def _message(request: Request, status: int, title: str, text: str) -> Response:
    return _page(request, "audit_message.html", {"title": title, "text": text}, status)


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return templates.TemplateResponse(request, template, context, status_code=status, headers=HEADERS)
