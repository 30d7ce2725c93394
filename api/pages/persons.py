"""A person's record as a page: details, doses, the certificate's status and QR codes, and for
the roles the audit API serves (admin; auditor) the history (api/audit/timeline.py). Every view
is a recorded read.

Scope as the API's: an admin anyone; a province official the people of their provinces; site
staff the people with a dose at one of their sites. What each reads is the API's too: site staff
the look-up's minimum (`SitePersonList`: name, birth year, status, the valid doses), never the
birth date, phone, national id or address, nor the history, whose changes carry them. The QR
images are this app's own routes (the signed forms of api/signed, drawn by signing.qr), read and
logged like the page.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

import replay
from api.access_log import recorded_read
from api.audit.pages import _principal_names as principal_names
from api.audit.timeline import timeline
from api.pages.i18n import text
from api.pages.rendering import HEADERS, language, render
from api.pages.session import Session, SignedIn
from api.problems import Problem
from api.signed.forms import current_forms
from ledger.catalog import provinces
from ledger.errors import InvalidValue, PersonNotFound
from ledger.principal import ADMIN, AUDITOR, SITE
from signing.qr import png

router = APIRouter(prefix="/console", include_in_schema=False)
# The roles GET /v1/audit/persons/{id}/history answers (api/audit/router.py): every details
# change is in it, so the page shows it to them alone.
HISTORY_ROLES = frozenset({ADMIN, AUDITOR})
Reader = Annotated[Session, Depends(SignedIn())]


@router.get("/persons")
def find(request: Request, session: Reader, person_id: str = "") -> Response:
    """The form: a person id typed in (ids come from the queues' links and the API's look-ups)."""
    lang = language(request)
    errors: dict[str, str] = {}
    if person_id.strip():
        try:
            return RedirectResponse(f"/console/persons/{UUID(person_id.strip())}", status_code=303)
        except ValueError:
            errors["person_id"] = text(lang, "Not a person id (a UUID, as the look-ups answer it).")
    return render(request, "person_find.html", {"errors": errors}, 422 if errors else 200, session=session)


@router.get("/persons/{person_id}")
def person(request: Request, person_id: str, session: Reader) -> Response:
    lang = language(request)
    ledger = request.app.state.ledger
    try:
        history = replay.history(ledger, person_id)
    except (PersonNotFound, InvalidValue):
        return render(
            request,
            "message.html",
            {"title": text(lang, "No such person"), "text": text(lang, "No person has this id.")},
            404,
            session=session,
        )
    current = history["events"][-1]["state"] if history["events"] else {}
    if not _in_scope(session, current):
        return render(
            request,
            "message.html",
            {
                "title": text(lang, "Not in your scope"),
                "text": text(lang, "This person's record is not yours to read."),
            },
            403,
            session=session,
        )
    recorded_read(request, session.principal, [history["person_id"]], "pages.person")
    certificate = request.app.state.views.certificates.certificate(history["person_id"])
    qr = _qr_codes(request, session, history["person_id"])
    minimum = session.principal.role == SITE
    shows_history = session.principal.role in HISTORY_ROLES
    return render(
        request,
        "person.html",
        {
            "person_id": history["person_id"],
            "current": _site_minimum(current) if minimum else current,
            "minimum": minimum,
            "shows_history": shows_history,
            "rows": timeline(history, principal_names(ledger)) if shows_history else [],
            "certificate": certificate,
            "qr": qr,
            "province_names": provinces(),
        },
        session=session,
    )


@router.get("/persons/{person_id}/qr/{form}")
async def qr_image(request: Request, person_id: UUID, form: str, session: Reader, chunk: int = 1) -> Response:
    """The certificate's QR code as a PNG: `dcc` (the latest dose's) or `shc` (chunk n)."""
    if form not in ("dcc", "shc"):
        return Response(status_code=404)
    ledger = request.app.state.ledger
    history = await run_in_threadpool(replay.history, ledger, str(person_id))
    current = history["events"][-1]["state"] if history["events"] else {}
    if not _in_scope(session, current):
        return Response(status_code=403)
    try:
        found = await run_in_threadpool(
            current_forms, ledger, request.app.state.views, session.principal, person_id, form
        )
    except Problem:
        return Response(status_code=404)
    if form == "dcc":
        documents = found.forms.dcc
        if not documents:
            return Response(status_code=404)
        content = documents[-1]["qr"]
    else:
        card = found.forms.shc
        if card is None or not 1 <= chunk <= len(card["qr"]):
            return Response(status_code=404)
        content = card["qr"][chunk - 1]
    recorded_read(request, session.principal, [person_id], f"pages.certificate.{form}")
    image = await run_in_threadpool(png, content)
    return Response(image, media_type="image/png", headers=HEADERS)


def _site_minimum(state: dict[str, Any]) -> dict[str, Any]:
    """What a site token's look-up answers of a person (api/persons `SitePersonSummary`)."""
    details = state.get("details") or {}
    return {
        "details": {
            "full_name": details.get("full_name"),
            "birth_year": str(details.get("birth_date") or "")[:4],
        }
        if details
        else None,
        "status": state.get("status"),
        "merged_into": state.get("merged_into"),
        "doses": [
            {
                "dose_number": d.get("dose_number"),
                "vaccine": d.get("vaccine"),
                "vaccine_name": d.get("vaccine_name"),
                "administered_at": str(d.get("administered_at") or "")[:10],
            }
            for d in state.get("doses") or []
            if not d.get("voided")
        ],
    }


def _in_scope(session: Session, state: dict[str, Any]) -> bool:
    if session.provinces is not None:
        return (state.get("details") or {}).get("province") in session.provinces
    if session.principal.role == SITE:
        mine = set(session.sites or [])
        return any(d.get("site_id") in mine for d in state.get("doses") or [])
    return True


def _qr_codes(request: Request, session: Session, person_id: Any) -> list[dict[str, str]]:
    """The QR images the page shows: which forms are signed for the current version."""
    found: list[dict[str, str]] = []
    for form in ("dcc", "shc"):
        try:
            signed = current_forms(
                request.app.state.ledger, request.app.state.views, session.principal, person_id, form
            )
        except Problem:
            continue
        if form == "dcc" and signed.forms.dcc:
            found.append({"form": "dcc", "src": f"/console/persons/{person_id}/qr/dcc"})
        if form == "shc" and signed.forms.shc is not None:
            for n in range(1, len(signed.forms.shc["qr"]) + 1):
                found.append({"form": "shc", "src": f"/console/persons/{person_id}/qr/shc?chunk={n}"})
    return found
