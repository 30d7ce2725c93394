"""Signing in to the officials' pages (/console), the session that follows, and CSRF.

The token is typed once into a POST form (never in a URL, so never in a server log, the
browser's history or a Referer) and exchanged for a session cookie: HttpOnly (no script reads
it), SameSite=Strict and Path=/console (never sent from another site, nor to /v1: the cookie
opens no API endpoint). The cookie holds the principal's id, a random session id and the
session's CSRF token, signed and timestamped by itsdangerous with a key from the secrets
directory; the server refuses it once older than DOSELEDGER_PAGE_SESSION_HOURS, whatever the
browser keeps. Signing out ends the session on the server (store/ended_sessions.py, looked up
on every page): a copy of the cookie opens nothing after it. The token itself is not in the
cookie, and is checked again on every page by its id: revoked or expired, the session ends.

Every POST carries the session's CSRF token in a hidden field (`csrf`), compared in constant
time, and an Origin header, if the browser sends one, naming this site. The sign-in form has a
CSRF token of its own, kept in a short-lived cookie, so another site cannot sign a browser in.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.responses import RedirectResponse, Response

from api.pages.cookies import keep, same_origin
from api.pages.i18n import text
from api.pages.rendering import language, render
from api.problems import Problem
from ledger.principal import ADMIN, PROVINCE, SITE, Principal, principal_id_for
from store.ended_sessions import EndedSessions

router = APIRouter(prefix="/console", include_in_schema=False)

COOKIE = "doseledger_console"
SIGN_IN_COOKIE = "doseledger_signin"
PATH = "/console"
KEY_NAME = "page_sessions"
PAGE_ROLES = frozenset({ADMIN, PROVINCE, SITE})
SIGN_IN_FORM_SECONDS = 3600
# Where a sign-in may send the browser next: these pages only (no open redirect).
NEXT = re.compile(r"/console/[A-Za-z0-9/_.-]*")


@dataclass(frozen=True)
class Session:
    """A signed-in browser: whose token, and the CSRF token its forms carry."""

    principal: Principal
    csrf: str
    session_id: str

    @property
    def provinces(self) -> list[str] | None:
        """The provinces this session may see: None (all) for an admin."""
        return list(self.principal.provinces) if self.principal.role == PROVINCE else None

    @property
    def sites(self) -> list[str] | None:
        """A site official's sites; None for the other roles."""
        return list(self.principal.sites) if self.principal.role == SITE else None


class Sessions:
    """Makes and reads the session cookie's value; `hours` bounds a session's life."""

    def __init__(self, key: bytes, hours: float, ended: EndedSessions) -> None:
        self.serializer = URLSafeTimedSerializer(key, salt="doseledger.console.session")
        self.sign_in = URLSafeTimedSerializer(key, salt="doseledger.console.sign-in")
        self.hours = hours
        self.ended = ended

    @property
    def seconds(self) -> int:
        return max(int(self.hours * 3600), 1)

    def issue(self, principal_id: UUID) -> tuple[str, str]:
        """A new session's cookie value and its CSRF token."""
        csrf = secrets.token_urlsafe(32)
        session_id = secrets.token_urlsafe(32)
        return self.serializer.dumps({"p": str(principal_id), "s": session_id, "c": csrf}), csrf

    def read(self, value: str) -> tuple[UUID, str, str] | None:
        """The principal id, session id and CSRF token of a cookie value signed here within
        `hours` whose session is not ended, else None (it does I/O: not on the loop)."""
        try:
            found = self.serializer.loads(value, max_age=self.seconds)
            read = UUID(found["p"]), str(found["s"]), str(found["c"])
        except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError):
            return None
        return None if self.ended.ended(read[1]) else read


class Refused(Exception):
    """A page that cannot be shown to this browser: the answer to give instead."""

    def __init__(self, response: Response) -> None:
        super().__init__("page refused")
        self.response = response


def refused_handler(request: Request, refused: Exception) -> Response:
    assert isinstance(refused, Refused)
    return refused.response


class SignedIn:
    """A page's dependency: the session, for the roles given (default: every page role).

    Without a valid session: to the sign-in form (and back here after). A role that may not see
    the page: 403 with a message. A POST without the session's CSRF token or from another
    origin: 403. Use: `session: Annotated[Session, Depends(SignedIn())]`.
    """

    def __init__(self, *roles: str) -> None:
        self.roles = frozenset(roles) or PAGE_ROLES

    async def __call__(self, request: Request) -> Session:
        session = await run_in_threadpool(current, request)
        if session is None:
            target = request.url.path if request.method == "GET" else "/console/"
            raise Refused(RedirectResponse(f"/console/login?next={target}", status_code=303))
        if session.principal.role not in self.roles:
            raise Refused(not_for_role(request, session))
        if request.method == "POST":
            form = await request.form()
            given = form.get("csrf")
            if (
                not same_origin(request)
                or not isinstance(given, str)
                or not hmac.compare_digest(given.encode(), session.csrf.encode())
            ):
                raise Refused(forbidden_form(request, session))
        return session


def current(request: Request) -> Session | None:
    """The request's session if its cookie is signed here, not too old, and its token still valid."""
    value = request.cookies.get(COOKIE)
    sessions: Sessions = request.app.state.page_sessions
    found = sessions.read(value) if value else None
    if found is None:
        return None
    principal_id, session_id, csrf = found
    try:
        principal = request.app.state.tokens.by_id(principal_id)
    except Problem:  # revoked, expired, or unknown: signed out
        return None
    return Session(principal, csrf, session_id)


def not_for_role(request: Request, session: Session | None) -> Response:
    lang = language(request)
    role = session.principal.role if session is not None else ""
    return render(
        request,
        "message.html",
        {
            "title": text(lang, "Not for this token"),
            "text": text(lang, "A %(role)s token may not open these pages.", role=role),
        },
        403,
        session=session if session is not None and session.principal.role in PAGE_ROLES else None,
    )


def forbidden_form(request: Request, session: Session | None) -> Response:
    lang = language(request)
    return render(
        request,
        "message.html",
        {
            "title": text(lang, "Form refused"),
            "text": text(
                lang, "This form was not sent from this site's own page. Open the page again and resend it."
            ),
        },
        403,
        session=session,
    )


@router.get("/login")
def sign_in_form(request: Request, next: str = "/console/") -> Response:
    nonce = secrets.token_urlsafe(32)
    response = render(request, "login.html", {"next": _next(next), "sign_in_csrf": nonce})
    keep(request, response, SIGN_IN_COOKIE, nonce, SIGN_IN_FORM_SECONDS, PATH)
    return response


@router.post("/login")
async def sign_in(request: Request) -> Response:
    lang = language(request)
    form = await request.form(max_fields=8)
    token = str(form.get("token") or "").strip()
    next_ = _next(str(form.get("next") or "/console/"))
    given = str(form.get("csrf") or "")
    kept = request.cookies.get(SIGN_IN_COOKIE) or ""
    if not same_origin(request) or not kept or not hmac.compare_digest(given.encode(), kept.encode()):
        return _sign_in_again(request, next_, {"form": text(lang, "Sign in from this site's own form.")}, 403)
    if not token:
        return _sign_in_again(request, next_, {"token": text(lang, "Enter your token.")}, 422)
    try:
        principal = await run_in_threadpool(request.app.state.tokens.principal, token)
    except Problem:  # unknown, revoked or expired: one message, which tells a guesser nothing
        return _sign_in_again(
            request,
            next_,
            {"token": text(lang, "This token is not valid (unknown, revoked or expired).")},
            401,
        )
    if principal.role not in PAGE_ROLES:
        return _sign_in_again(
            request,
            next_,
            {"token": text(lang, "A %(role)s token may not open these pages.", role=principal.role)},
            403,
        )
    sessions: Sessions = request.app.state.page_sessions
    value, _csrf = sessions.issue(principal_id_for(token))
    response = RedirectResponse(next_, status_code=303)
    keep(request, response, COOKIE, value, sessions.seconds, PATH)
    response.delete_cookie(SIGN_IN_COOKIE, path=PATH, httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def sign_out(request: Request) -> Response:
    session = await run_in_threadpool(current, request)
    if session is not None:
        form = await request.form(max_fields=4)
        given = str(form.get("csrf") or "")
        if not same_origin(request) or not hmac.compare_digest(given.encode(), session.csrf.encode()):
            return forbidden_form(request, session)
        # The browser forgets its cookie; a copy of it must open nothing either.
        await run_in_threadpool(request.app.state.page_sessions.ended.end, session.session_id)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
    return response


def _sign_in_again(request: Request, next_: str, errors: dict[str, str], status: int) -> Response:
    nonce = secrets.token_urlsafe(32)
    response = render(request, "login.html", {"next": next_, "sign_in_csrf": nonce, "errors": errors}, status)
    keep(request, response, SIGN_IN_COOKIE, nonce, SIGN_IN_FORM_SECONDS, PATH)
    return response


def _next(path: str) -> str:
    return path if NEXT.fullmatch(path) and ".." not in path else "/console/"


def install(app: Any) -> None:
    """The answer a refused page gives (the sessions' signer is set on start: `start`)."""
    app.add_exception_handler(Refused, refused_handler)


def start(app: Any, key: bytes, hours: float) -> None:
    """The sessions' signer, and the table of ended sessions beside the events (made here)."""
    ended = EndedSessions(app.state.ledger.recorder.datastore, lifetime_seconds=hours * 3600)
    ended.create_table()
    app.state.page_sessions = Sessions(key, hours, ended)
