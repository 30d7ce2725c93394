"""The citizens' page (/citizen/): no sign-in. A person finds their own certificate with what
they hold, sees its doses, status and QR codes, files a correction and checks its status.

What a citizen holds: a correction request's id and code (given at filing), or the certificate
code printed at the site (usecases.certificate_codes) with their birth date. A wrong value of
any kind answers the same "not found", and every attempt counts against the per-address limit
the status checks have (DOSELEDGER_STATUS_CHECKS_PER_MINUTE): guessing learns nothing, slowly.

Once found, the person is known to a short-lived session: a cookie signed here (HttpOnly,
SameSite=Strict, Path=/citizen) holding the person's internal id, a random key and how it was
opened. Opened by a correction request's id and code, it shows the certificate but not the
certificate code: that code is permanent and opens the record for good, while a request's code
was only meant to follow one request (opened by the certificate code, the holder has it already).
A filing counts against a per-address limit of its own, the status checks' number: each is stored
on the person's stream and queued for officials. The QR images
are addressed by that key (`/citizen/qr/{key}/dcc.png`), never by anything of the person's.
Every read of the person's data is in the access log under the principal `citizen-page`.
Forms carry a nonce kept in a cookie of their own (CSRF) and must come from this site's pages.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any, cast
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from api.pages.cookies import keep, same_origin
from api.pages.i18n import text
from api.pages.rendering import language, render
from api.problems import Problem
from api.signed.forms import current_forms
from api.throttle import Throttle, client_address
from ledger.errors import CorrectionNotFound, LedgerError
from ledger.principal import PORTAL, Principal
from ledger.values import Actor, CorrectionKind
from signing.qr import png

router = APIRouter(prefix="/citizen", include_in_schema=False)

PATH = "/citizen"
SESSION_COOKIE = "doseledger_citizen"
FORM_COOKIE = "doseledger_citizen_form"
SESSION_SECONDS = 15 * 60  # long enough to read and file; a shared computer forgets soon
FORM_SECONDS = 3600
PRINCIPAL = "citizen-page"  # who read, in the access log; who filed, in the request's events
ACTOR = Actor(PRINCIPAL, PORTAL)
KINDS = tuple(CorrectionKind)
DETAILS = ("full_name", "birth_date", "sex", "phone", "national_id", "province", "district", "address")
FORMS = ("dcc", "shc")


class _CitizenPage:
    """The page as a reader of certificates: every province (current_forms narrows a province
    token's reads only); the citizen is narrowed to their own record by the lookup."""

    id = PRINCIPAL
    role = PORTAL
    provinces: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()


READER = cast(Principal, _CitizenPage())


# --- the pages -----------------------------------------------------------------------------


@router.get("/")
def start(request: Request) -> Response:
    return _page(request, "citizen.html", {"errors": {}, "values": {}})


@router.post("/lookup")
async def lookup(request: Request) -> Response:
    form, refused = await _form(request)
    if refused is not None:
        return refused
    lang = language(request)
    way = str(form.get("way") or "")
    values = {
        k: str(form.get(k) or "").strip() for k in ("request_id", "code", "certificate_code", "birth_date")
    }
    context: dict[str, Any] = {"values": {**values, "way": way}, "here": f"{PATH}/"}
    needed = ("request_id", "code") if way == "request" else ("certificate_code", "birth_date")
    errors = {name: text(lang, "Enter this value.") for name in needed if not values[name]}
    if way not in ("request", "certificate"):
        errors = {"form": text(lang, "Choose how to find your certificate.")}
    if errors:
        return _page(request, "citizen.html", {**context, "errors": errors}, 422)
    throttled = await _throttled(request)
    if throttled is not None:
        return _page(
            request, "citizen.html", {**context, "errors": {"form": throttled[0]}}, 429, throttled[1]
        )
    ledger = request.app.state.ledger
    if way == "request":
        person_id = await run_in_threadpool(_by_request, ledger, values["request_id"], values["code"])
    else:
        person_id = await run_in_threadpool(
            _by_certificate_code, request, values["certificate_code"], values["birth_date"]
        )
    if person_id is None:
        field = "code" if way == "request" else "birth_date"
        errors = {field: text(lang, "Nothing was found with these values. Check them and try again.")}
        return _page(request, "citizen.html", {**context, "errors": errors}, 404)
    response = RedirectResponse(f"{PATH}/certificate", status_code=303)
    keep(
        request,
        response,
        SESSION_COOKIE,
        _sessions(request).dumps({"p": str(person_id), "k": _key(), "w": way}),
        SESSION_SECONDS,
        PATH,
    )
    return response


@router.get("/certificate")
async def certificate(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return RedirectResponse(f"{PATH}/", status_code=303)
    return await run_in_threadpool(_certificate_page, request, session, {}, {}, 200)


@router.get("/qr/{key}/{form}.png")
async def qr(request: Request, key: str, form: str) -> Response:
    session = _session(request)
    if session is None or form not in FORMS or not hmac.compare_digest(key.encode(), session["k"].encode()):
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    image = await run_in_threadpool(_qr_image, request, UUID(session["p"]), form)
    if image is None:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    return Response(image, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/corrections")
async def file_correction(request: Request) -> Response:
    form, refused = await _form(request)
    if refused is not None:
        return refused
    session = _session(request)
    if session is None:
        return RedirectResponse(f"{PATH}/", status_code=303)
    lang = language(request)
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    kind = values.get("kind", "")
    if kind not in KINDS:
        return await run_in_threadpool(
            _certificate_page, request, session, values, {"kind": text(lang, "Choose what is wrong.")}, 422
        )
    claim, errors = _claim(lang, kind, values)
    if errors:
        return await run_in_threadpool(_certificate_page, request, session, values, errors, 422)
    # Each filing is stored on the person's stream and queued for officials: an anonymous page
    # files at the pace of its look-ups, per address (a limit of its own, the same number).
    throttled = await _throttled(request, request.app.state.citizen_filings, "correction requests")
    if throttled is not None:
        refused = await run_in_threadpool(
            _certificate_page, request, session, values, {"form": throttled[0]}, 429
        )
        refused.headers.update(throttled[1])
        return refused
    ledger = request.app.state.ledger
    try:
        filed = await run_in_threadpool(
            ledger.request_correction,
            UUID(session["p"]),
            kind,
            claim,
            contact=values.get("contact") or None,
            channel=PRINCIPAL,
            actor=ACTOR,
        )
    except LedgerError as error:  # nothing was stored: the decision saves all or nothing
        field = _form_field(error.field)
        message = (
            text(lang, "This value is not accepted. Check it and send again.")
            if field != "form"
            else text(lang, "This claim cannot be filed on your record. Check it and send again.")
        )
        return await run_in_threadpool(_certificate_page, request, session, values, {field: message}, 422)
    context = {"filed": filed, "here": f"{PATH}/certificate"}
    return _page(request, "citizen_filed.html", context, 200 if filed.linked else 201)


@router.post("/status")
async def status(request: Request) -> Response:
    form, refused = await _form(request)
    if refused is not None:
        return refused
    lang = language(request)
    values = {k: str(form.get(k) or "").strip() for k in ("status_request_id", "status_code")}
    context: dict[str, Any] = {"values": values, "here": f"{PATH}/"}
    errors = {name: text(lang, "Enter this value.") for name, v in values.items() if not v}
    if errors:
        return _page(request, "citizen.html", {**context, "errors": errors}, 422)
    throttled = await _throttled(request)
    if throttled is not None:
        return _page(
            request, "citizen.html", {**context, "errors": {"status": throttled[0]}}, 429, throttled[1]
        )
    try:
        found = await run_in_threadpool(
            request.app.state.ledger.correction_status, values["status_request_id"], values["status_code"]
        )
    except CorrectionNotFound:
        errors = {"status_code": text(lang, "Nothing was found with these values. Check them and try again.")}
        return _page(request, "citizen.html", {**context, "errors": errors}, 404)
    return _page(request, "citizen_status.html", {"found": found, "here": f"{PATH}/"})


@router.post("/leave")
async def leave(request: Request) -> Response:
    _form_data, refused = await _form(request)
    if refused is not None:
        return refused
    response = RedirectResponse(f"{PATH}/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PATH, httponly=True, samesite="strict")
    return response


# --- finding the person --------------------------------------------------------------------


def _by_request(ledger: Any, request_id: str, code: str) -> UUID | None:
    try:
        ledger.correction_status(request_id, code)  # the code checked in constant time
        return UUID(ledger.correction(request_id)["person_id"])
    except LedgerError:  # not found, or the person since erased: the same "not found"
        return None


def _by_certificate_code(request: Request, code: str, birth_date: str) -> UUID | None:
    person_id = request.app.state.certificate_codes.person_id(code)
    if person_id is None:
        return None
    ledger = request.app.state.ledger
    try:
        person = ledger.person(person_id)
        for _ in range(8):  # merged into another: the survivor's certificate is theirs
            if person.merged_into is None:
                break
            person = ledger.person(person.merged_into)
    except LedgerError:
        return None
    if person.erased or person.merged_into is not None:
        return None
    born = str(person.details.get("birth_date") or "")
    if not hmac.compare_digest(born.encode(), birth_date.encode()):
        return None
    return UUID(str(person.id))


# --- what the page shows -------------------------------------------------------------------


def _certificate_page(
    request: Request, session: dict[str, str], values: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    person_id = UUID(session["p"])
    ledger = request.app.state.ledger
    loaded = request.app.state.views.certificates.load([str(person_id)]).get(str(person_id))
    document = loaded[1] if loaded is not None else None
    person = ledger.person(person_id)
    ledger.access_log.record(PRINCIPAL, PORTAL, [person_id], "citizen.certificate", client_address(request))
    doses = (document or {}).get("doses") or []
    context = {
        "document": document,
        "doses": doses,
        "full_name": person.details.get("full_name"),
        # Only a session opened by the certificate code shows it (the holder has it already).
        "certificate_code": request.app.state.certificate_codes.code(person_id)
        if session["w"] == "certificate"
        else None,
        "qr": {form: f"{PATH}/qr/{session['k']}/{form}.png" for form in FORMS},
        "kinds": KINDS,
        "details": DETAILS,
        "values": values,
        "errors": errors,
        "here": f"{PATH}/certificate",
    }
    return _page(request, "citizen_certificate.html", context, status)


def _qr_image(request: Request, person_id: UUID, form: str) -> bytes | None:
    app = request.app
    try:
        found = current_forms(app.state.ledger, app.state.views, READER, person_id, form)
    except Problem:  # not issued (yet), or no certificate: no image
        return None
    if form == "dcc":
        payload = found.forms.dcc[-1]["qr"] if found.forms.dcc else None
    else:
        payload = found.forms.shc["qr"][0] if found.forms.shc else None
    if payload is None:
        return None
    app.state.ledger.access_log.record(
        PRINCIPAL, PORTAL, [person_id], f"citizen.certificate.{form}", client_address(request)
    )
    image: bytes = png(payload)
    return image


def _claim(lang: str, kind: str, values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The claim the form describes, or the fields missing from it (each with its message)."""
    missing = text(lang, "Enter this value.")
    if kind == CorrectionKind.MISSING_DOSE:
        needed = ("vaccine", "administered_at", "site_id")
        errors = {name: missing for name in needed if not values.get(name)}
        claim = {name: values[name] for name in (*needed, "lot") if values.get(name)}
        return claim, errors
    if kind == CorrectionKind.WRONG_DOSE:
        if not values.get("dose_id"):
            return {}, {"dose_id": text(lang, "Choose the dose.")}
        if values.get("not_given"):
            return {"dose_id": values["dose_id"], "not_given": True}, {}
        changes = {k: values[f"dose_{k}"] for k in ("lot", "administered_at") if values.get(f"dose_{k}")}
        if not changes:
            return {}, {"dose_lot": text(lang, "Give the right value, or tick that the dose was not given.")}
        return {"dose_id": values["dose_id"], "changes": changes}, {}
    errors = {name: missing for name in ("detail", "detail_value") if not values.get(name)}
    if values.get("detail") and values["detail"] not in DETAILS:
        errors["detail"] = text(lang, "Choose what is wrong.")
    return (
        {"changes": {values.get("detail", ""): values.get("detail_value", "")}} if not errors else {}
    ), errors


def _form_field(field: str) -> str:
    """The form's field for a ledger's field name (claim.vaccine → vaccine)."""
    name = field.removeprefix("claim.")
    if name.startswith("changes."):
        name = name.removeprefix("changes.")
        return "detail_value" if name in DETAILS else f"dose_{name}"
    return {"changes": "detail_value"}.get(name, name if name in _FIELDS else "form")


_FIELDS = {
    "kind",
    "vaccine",
    "administered_at",
    "site_id",
    "lot",
    "dose_id",
    "contact",
    "detail",
    "detail_value",
}


def _names(lang: str) -> dict[str, str]:
    """What the page calls a certificate's status, a request's status and a person's detail."""
    return {
        "none": text(lang, "No valid dose yet"),
        "partial": text(lang, "Partly vaccinated"),
        "complete": text(lang, "Fully vaccinated"),
        "booster": text(lang, "Fully vaccinated, with a booster"),
        "open": text(lang, "Received, waiting to be worked on"),
        "assigned": text(lang, "Being checked"),
        "accepted": text(lang, "Accepted: your record was corrected"),
        "rejected": text(lang, "Not accepted"),
        "full_name": text(lang, "Full name"),
        "birth_date": text(lang, "Birth date"),
        "sex": text(lang, "Sex"),
        "phone": text(lang, "Phone"),
        "national_id": text(lang, "National id number"),
        "province": text(lang, "Province code"),
        "district": text(lang, "District"),
        "address": text(lang, "Address"),
    }


# --- sessions, forms, limits ---------------------------------------------------------------


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    nonce = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    names = _names(language(request))
    response = render(request, template, {"csrf": nonce, "names": names, **context}, status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    keep(request, response, FORM_COOKIE, nonce, FORM_SECONDS, PATH)
    return response


async def _form(request: Request) -> tuple[FormData, Response | None]:
    """The POSTed form, or the page that refuses it (not from this site's own page)."""
    form = await request.form(max_fields=24, max_files=0)
    given = str(form.get("csrf") or "")
    kept = request.cookies.get(FORM_COOKIE) or ""
    if same_origin(request) and kept and hmac.compare_digest(given.encode(), kept.encode()):
        return form, None
    message = text(
        language(request),
        "This form was not sent from this site's own page. Open the page again and resend it.",
    )
    return form, _page(
        request, "citizen.html", {"errors": {"form": message}, "values": {}, "here": f"{PATH}/"}, 403
    )


async def _throttled(
    request: Request, throttle: Throttle | None = None, what: str = "look-ups"
) -> tuple[str, dict[str, str]] | None:
    """None if this address may go on (look, or file); else the message and the Retry-After header."""
    try:
        await (throttle or request.app.state.status_checks).check_on_loop(
            client_address(request), f"{what} from this address"
        )
    except Problem as refused:
        if refused.status != 429:
            raise
        retry = (refused.headers or {}).get("Retry-After", "60")
        return text(
            language(request), "Too many attempts from this address. Try again in %(s)s seconds.", s=retry
        ), {"Retry-After": retry}
    return None


def _sessions(request: Request) -> URLSafeTimedSerializer:
    key = request.app.state.page_sessions.serializer.secret_key
    return URLSafeTimedSerializer(key, salt="doseledger.citizen.session")


def _session(request: Request) -> dict[str, str] | None:
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    try:
        found = _sessions(request).loads(value, max_age=SESSION_SECONDS)
        UUID(found["p"])
        return {"p": str(found["p"]), "k": str(found["k"]), "w": str(found.get("w") or "request")}
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def _key() -> str:
    return secrets.token_urlsafe(18)
