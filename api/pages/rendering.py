"""Rendering a page: its template in the request's language, with the headers every page sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import Response

from api.pages import i18n

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_environment = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(), auto_reload=False
)
i18n.install(_environment)
templates = Jinja2Templates(env=_environment)

HEADERS = {
    "Cache-Control": "no-store",  # people's records stay out of shared and disk caches
    # Nothing from elsewhere, no inline script or style: the stylesheet and images are the app's.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    # Nothing leaves for another site; same-origin keeps the Origin header on our own forms.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
LANG_COOKIE_DAYS = 365


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    *,
    session: Any = None,
) -> Response:
    """`template` (under templates/pages/) in the request's language. `session`: the signed-in
    session (the nav, the sign-out form and every form's CSRF field need it)."""
    lang, chosen_now = i18n.chosen(request)
    # The language links: this page again in the other language (a page answering a POST
    # names the page its form belongs to, `here`, since a link cannot resend the form).
    here = (context or {}).get("here") or request.url.path
    # `here_query`: the query that page needs (two records' ids, say), without the form's.
    query = (
        dict((context or {}).get("here_query") or {})
        if "here" in (context or {})
        else dict(request.query_params)
    )
    switch = {code: f"{here}?{urlencode({**query, 'lang': code})}" for code in i18n.LANGUAGES}
    values = {
        "switch": switch,
        "lang": lang,
        "languages": i18n.NAMES,
        "session": session,
        "principal": session.principal if session is not None else None,
        "csrf": session.csrf if session is not None else "",
        "path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(
        request, f"pages/{template}", values, status_code=status, headers=HEADERS
    )
    if chosen_now:
        response.set_cookie(
            i18n.COOKIE,
            lang,
            max_age=LANG_COOKIE_DAYS * 86400,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


def language(request: Request) -> str:
    return i18n.chosen(request)[0]


def written_at(request: Request, position: int) -> None:
    """Read-your-writes for a page a form redirects to (`?at=` the write's position): wait,
    bounded by DOSELEDGER_READ_WAIT_SECONDS, for the views to reach it. Past the wait the page
    shows what the views hold (a page has no 503 to give a person at a desk)."""
    if position > 0:
        request.app.state.views.wait(position, request.app.state.settings.read_wait_seconds)
