"""Data-quality flags as a page (`?kind=` one kind): the flags no resolution holds for, in the
session's provinces, each with a form to resolve it with a reason.

The list is the review API's (`views.review.flags`), a recorded read of each person listed; the
form calls the use case `POST /v1/review/flags/resolution` calls (`DoseLedger.resolve_flag`),
with its rule: an admin or a province official of the dose holder's province. Bad input is
named beside its field in the page's language; a refused resolution stores nothing.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from api.access_log import recorded_read
from api.auth import actor
from api.pages.i18n import text
from api.pages.rendering import language, render, written_at
from api.pages.session import Session, SignedIn
from ledger.catalog import provinces
from ledger.errors import Conflict, DoseNotFound, FlagAlreadyResolved, InvalidValue
from ledger.flags import FLAG_KINDS
from ledger.principal import ADMIN, PROVINCE

router = APIRouter(prefix="/console", include_in_schema=False)
Reviewer = Annotated[Session, Depends(SignedIn(ADMIN, PROVINCE))]
SHOWN = 200  # flags a page lists; the download has every one


def kind_names(lang: str) -> dict[str, str]:
    """ledger.flags.FLAG_KINDS as the page names them."""
    return {
        "dose-number-mismatch": text(lang, "Dose number differs from the series"),
        "interval-too-short": text(lang, "Interval too short"),
        "dose-before-birth": text(lang, "Dose before birth"),
        "feed-warning": text(lang, "Feed warning"),
    }


@router.get("/flags")
def flags(request: Request, session: Reviewer, kind: str = "", done: str = "", at: int = 0) -> Response:
    written_at(request, at)
    errors: dict[str, str] = {}
    if kind and kind not in FLAG_KINDS:
        errors["kind"] = text(language(request), "Choose a kind of flag from the list.")
    return _flags_page(request, session, kind if not errors else "", errors, "", done=done)


@router.post("/flags/resolve")
async def resolve(request: Request, session: Reviewer) -> Response:
    lang = language(request)
    form = await request.form()
    kind = str(form.get("kind") or "")
    reason = str(form.get("reason") or "").strip()
    shown_kind = str(form.get("shown_kind") or "")
    shown_kind = shown_kind if shown_kind in FLAG_KINDS else ""
    try:
        dose_id = UUID(str(form.get("dose_id") or ""))
    except ValueError:
        return _flags_page(
            request, session, shown_kind, {"form": text(lang, "No dose has this id.")}, "", status=422
        )
    failed = f"{dose_id}:{kind}"
    errors: dict[str, str] = {}
    if kind not in FLAG_KINDS:
        errors["form"] = text(lang, "Choose a kind of flag from the list.")
    elif not reason:
        errors["reason"] = text(lang, "Give the reason the flag needs nothing more.")
    ledger = request.app.state.ledger
    if not errors:
        try:
            holder, _ = await run_in_threadpool(ledger.dose_origin, dose_id)
            province = (await run_in_threadpool(ledger.person, holder)).details["province"]
            if session.provinces is not None and province not in session.provinces:
                errors["form"] = text(lang, "This dose's person is in another province.")
            else:
                written = await run_in_threadpool(
                    ledger.resolve_flag,
                    dose_id,
                    kind,
                    reason,
                    actor=actor(session.principal),
                    source={"kind": "page", "route": "flags.resolve"},
                )
        except DoseNotFound:
            errors["form"] = text(lang, "No dose has this id.")
        except FlagAlreadyResolved:
            errors["form"] = text(lang, "This flag was resolved already.")
        except InvalidValue as refused:  # the dose has no such flag, or the reason is refused
            errors["reason" if refused.field == "reason" else "form"] = refused.message
        except Conflict as refused:
            errors["form"] = refused.message
    if errors:
        return _flags_page(request, session, shown_kind, errors, failed, status=422, form=dict(form))
    back = f"/console/flags?done=1&at={written.position}" + (f"&kind={shown_kind}" if shown_kind else "")
    return RedirectResponse(back, status_code=303)


def _flags_page(
    request: Request,
    session: Session,
    kind: str,
    errors: dict[str, str],
    failed: str,
    *,
    status: int | None = None,
    done: str = "",
    form: dict[str, Any] | None = None,
) -> Response:
    lang = language(request)
    rows = request.app.state.views.review.flags(kind or None, session.provinces, limit=SHOWN)
    if rows:
        recorded_read(request, session.principal, [r["person_id"] for r in rows], "pages.flags")
    return render(
        request,
        "flags.html",
        {
            "flags": rows,
            "kind": kind,
            "kinds": kind_names(lang),
            "errors": errors,
            "failed": failed,
            "done": done,
            "form": form or {},
            "shown": SHOWN,
            "province_names": provinces(),
            "here": "/console/flags",
            "here_query": {"kind": kind} if kind else {},
        },
        status if status is not None else (422 if errors else 200),
        session=session,
    )
