"""The review queues as pages: provisional sites (approve or reject), correction requests
(assign, answer). Each form posts to a page route that calls the use case the API calls, with the
API's own scope rules; bad input is named beside its field, in the page's language, and nothing
is stored (the use case is not called, or refuses as a whole)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from api.access_log import recorded_read
from api.auth import actor
from api.corrections.router import _check_holder as check_holder  # the API's rule: who holds a request
from api.pages.i18n import text
from api.pages.rendering import language, render
from api.pages.session import Session, SignedIn
from api.problems import Problem
from ledger.catalog import provinces
from ledger.errors import Conflict, CorrectionNotFound, InvalidValue
from ledger.principal import ADMIN, PROVINCE, SITE

router = APIRouter(prefix="/console", include_in_schema=False)
QUEUE_PAGE = 500  # the corrections queue shows the oldest this many, and says how many wait
Reviewer = Annotated[Session, Depends(SignedIn(ADMIN, PROVINCE))]
Worker = Annotated[Session, Depends(SignedIn(ADMIN, PROVINCE, SITE))]


# --- provisional sites -------------------------------------------------------------------------


@router.get("/sites")
def sites(request: Request, session: Reviewer, done: str = "") -> Response:
    return _sites_page(request, session, {}, "", done=done)


@router.post("/sites/{site_id}/review")
async def review_site(request: Request, site_id: str, session: Reviewer) -> Response:
    lang = language(request)
    form = await request.form()
    decision = str(form.get("decision") or "")
    kind = str(form.get("kind") or "") or None
    name = str(form.get("name") or "").strip() or None
    reason = str(form.get("reason") or "").strip() or None
    ledger = request.app.state.ledger
    site = await run_in_threadpool(ledger.site, site_id)
    if site is None:
        return _message(request, session, 404, text(lang, "No such site"), text(lang, "No site has this id."))
    if session.provinces is not None and site.province not in session.provinces:
        return _message(
            request,
            session,
            403,
            text(lang, "Not your province"),
            text(lang, "This site is in another province."),
        )
    errors: dict[str, str] = {}
    if decision not in ("approved", "rejected"):
        errors["decision"] = text(lang, "Choose approve or reject.")
    elif decision == "approved" and kind not in ("official", "mobile"):
        errors["kind"] = text(lang, "Choose whether the site is official or mobile.")
    elif decision == "rejected" and not reason:
        errors["reason"] = text(lang, "Give the reason for rejecting the site.")
    if not errors:
        try:
            await run_in_threadpool(
                ledger.review_site,
                site_id,
                decision,
                kind=kind if decision == "approved" else None,
                name=name,
                reason=reason,
                actor=actor(session.principal),
            )
        except InvalidValue as refused:  # the domain's own checks: named beside its field
            errors[refused.field if refused.field in ("kind", "name", "reason") else "decision"] = (
                refused.message
            )
    if errors:
        return _sites_page(request, session, errors, site_id, status=422, form=dict(form))
    return RedirectResponse(f"/console/sites?done={site_id}", status_code=303)


def _sites_page(
    request: Request,
    session: Session,
    errors: dict[str, str],
    failed: str,
    *,
    status: int = 200,
    done: str = "",
    form: dict[str, Any] | None = None,
) -> Response:
    views = request.app.state.views
    waiting = views.review.sites("provisional", provinces=session.provinces)
    return render(
        request,
        "sites.html",
        {
            "sites": waiting,
            "errors": errors,
            "failed": failed,
            "done": done,
            "form": form or {},
            "province_names": provinces(),
            "here": "/console/sites",
        },
        status,
        session=session,
    )


# --- correction requests -----------------------------------------------------------------------


@router.get("/corrections")
def corrections(request: Request, session: Worker, done: str = "") -> Response:
    return _corrections_page(request, session, {}, "", done=done)


@router.post("/corrections/{request_id}/assign")
async def assign(request: Request, request_id: UUID, session: Worker) -> Response:
    lang = language(request)
    form = await request.form()
    target = str(form.get("to") or "")
    value = str(form.get("assignee") or "").strip()
    errors: dict[str, str] = {}
    if target not in ("province", "site"):
        errors["to"] = text(lang, "Choose a province or a site.")
    elif not value:
        errors["assignee"] = text(lang, "Name the province or site to assign the request to.")
    elif target == "province" and value.zfill(2) not in provinces():
        errors["assignee"] = text(lang, "Not a province code (two digits, for example 01).")
    if not errors:
        refused = await _work(
            request, session, request_id, "assign_correction", {target: value}, actor=actor(session.principal)
        )
        if isinstance(refused, Response):
            return refused
        errors.update(refused)
    if errors:
        return _corrections_page(request, session, errors, str(request_id), status=422, form=dict(form))
    return RedirectResponse(f"/console/corrections?done={request_id}", status_code=303)


@router.post("/corrections/{request_id}/resolve")
async def resolve(request: Request, request_id: UUID, session: Worker) -> Response:
    lang = language(request)
    form = await request.form()
    outcome = str(form.get("outcome") or "")
    reason = str(form.get("reason") or "").strip()
    errors: dict[str, str] = {}
    if outcome not in ("accepted", "rejected"):
        errors["outcome"] = text(lang, "Choose accept or reject.")
    if not reason:
        errors["reason"] = text(lang, "Give the reason; the citizen is told it with the answer.")
    if not errors:
        refused = await _work(
            request,
            session,
            request_id,
            "resolve_correction",
            outcome,
            reason,
            actor=actor(session.principal),
        )
        if isinstance(refused, Response):
            return refused
        errors.update(refused)
    if errors:
        return _corrections_page(request, session, errors, str(request_id), status=422, form=dict(form))
    return RedirectResponse(f"/console/corrections?done={request_id}", status_code=303)


async def _work(
    request: Request, session: Session, request_id: UUID, use_case: str, *args: Any, **kwargs: Any
) -> dict[str, str] | Response:
    """The use case called as the API calls it, for the request's holder only: {} once done,
    the errors by field if the ledger refused, or the page to answer instead."""
    lang = language(request)
    ledger = request.app.state.ledger
    try:
        await run_in_threadpool(check_holder, session.principal, ledger, request_id)
        await run_in_threadpool(getattr(ledger, use_case), request_id, *args, **kwargs)
    except CorrectionNotFound:
        return _message(
            request,
            session,
            404,
            text(lang, "No such request"),
            text(lang, "No correction request has this id."),
        )
    except Conflict:
        return {"form": text(lang, "This request was answered already.")}
    except InvalidValue as refused:  # the domain's own check, in its words (English)
        field = refused.field
        return {
            "assignee"
            if field in ("province", "site")
            else field
            if field in ("outcome", "reason")
            else "form": refused.message
        }
    except Problem as refused:
        if refused.status == 403:
            return _message(
                request,
                session,
                403,
                text(lang, "Not yours to answer"),
                text(lang, "This request is assigned to another province or site."),
            )
        raise
    return {}


def _corrections_page(
    request: Request,
    session: Session,
    errors: dict[str, str],
    failed: str,
    *,
    status: int = 200,
    done: str = "",
    form: dict[str, Any] | None = None,
) -> Response:
    views = request.app.state.views
    after = timedelta(days=request.app.state.settings.correction_overdue_days)
    # The oldest QUEUE_PAGE, and how many wait: the page says so when there are more.
    if session.principal.role == SITE:
        # A site's own: those given to it (assigned), read by site; one passed on to a province
        # keeps the claim's site in that column, and is the province's.
        sites = list(session.sites or [])
        rows = [
            r
            for r in views.corrections.requests(
                ["assigned"], None, sites=sites, overdue_after=after, limit=QUEUE_PAGE
            )
            if (r.get("assignee") or {}).get("site") in sites
        ]
        waiting = views.corrections.count(["assigned"], None, sites)
    else:
        rows = views.corrections.requests(
            ["unresolved"], session.provinces, overdue_after=after, limit=QUEUE_PAGE
        )
        waiting = views.corrections.count(["unresolved"], session.provinces)
    rows.sort(key=lambda r: -r["age_days"])  # oldest first: the queue by age
    # Claims and contacts are people's data: this page's read is logged as the API's list is.
    recorded_read(request, session.principal, [r["person_id"] for r in rows], "pages.corrections")
    return render(
        request,
        "corrections.html",
        {
            "requests": rows,
            "waiting": waiting,
            "errors": errors,
            "failed": failed,
            "done": done,
            "form": form or {},
            "province_names": provinces(),
            "here": "/console/corrections",
        },
        status,
        session=session,
    )


def _message(request: Request, session: Session, status: int, title: str, body: str) -> Response:
    return render(request, "message.html", {"title": title, "text": body}, status, session=session)
