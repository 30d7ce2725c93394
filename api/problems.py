"""Every error is RFC 9457 problem+json: type, title, status, detail, and the fields at fault.

`errors` is a list of {"loc": [...], "msg": ...}: loc starts with where the value came from
(body, query, path) and follows the JSON path into it, like FastAPI's own validation errors.
"""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from api import metrics
from api.responses import ProblemJSON
from ledger.errors import Contention, LedgerError, NationalIdTaken, PersonMerged, SiteRecordConflict
from store.data_keys import DataKeyMissing
from usecases.access_log import AccessLogUnavailable

log = logging.getLogger("doseledger.api")

TYPE_BASE = "https://doseledger.example/problems/"
TITLES = {
    "validation": "The request has invalid fields",
    "invalid": "The request has invalid fields",
    "unknown-vaccine": "Unknown vaccine",
    "malformed-body": "The request body is not valid JSON",
    "unauthenticated": "A valid bearer token is required",
    "forbidden": "Outside this token's role or scope",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "conflict": "Conflict with what is stored",
    "too-large": "Request body too large",
    "malformed-form": "The request body is not valid multipart/form-data",
    "unsupported-media-type": "The request body is not of a media type this endpoint reads",
    "too-many-requests": "Too many requests",
    "unavailable": "Temporarily unavailable",
    "internal": "Internal error",
    "data-key-missing": "A person's data key is missing",
}
KIND_STATUS = {"invalid": 422, "unknown-vaccine": 422, "not-found": 404, "conflict": 409, "forbidden": 403}
STATUS_KIND = {
    400: "malformed-body",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    422: "validation",
    429: "too-many-requests",
    503: "unavailable",
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail
        self.errors, self.headers, self.extensions = errors, headers, extensions

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.kind,
            "title": TITLES.get(self.kind, self.kind),
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update({k: v for k, v in self.extensions.items() if v is not None})
        return body

    def response(self) -> ProblemJSON:
        return ProblemJSON(self.body(), status_code=self.status, headers=self.headers)


def field_error(loc: list[Any], msg: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg}


def unauthenticated(detail: str) -> Problem:
    return Problem(401, "unauthenticated", detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str, loc: list[Any] | None = None) -> Problem:
    return Problem(403, "forbidden", detail, errors=[field_error(loc, detail)] if loc else None)


def ledger_loc(field: str, request: Request | None, prefix: tuple[Any, ...] = ("body",)) -> list[Any]:
    """Where a ledger error's field came from: a path or query parameter, else the body."""
    if request is not None and field in request.path_params:
        return ["path", field]
    if request is not None and field in request.query_params:
        return ["query", field]
    if field == "changes":  # "change something": the body as a whole
        return list(prefix)
    return [*prefix, *(int(p) if p.isdigit() else p for p in field.split("."))]


def ledger_problem(error: LedgerError, request: Request | None = None) -> Problem:
    extensions: dict[str, Any] = {}
    if isinstance(error, SiteRecordConflict):
        extensions = {"dose_id": str(error.dose_id), "person_id": str(error.person_id)}
    elif isinstance(error, NationalIdTaken):
        extensions = {"person_id": str(error.person_id)}
    elif isinstance(error, PersonMerged):
        extensions = {"survivor_id": str(error.survivor_id)}
    return Problem(
        KIND_STATUS.get(error.kind, 422),
        error.kind,
        f"{error.field}: {error.message}",
        errors=[field_error(ledger_loc(error.field, request), error.message)],
        **extensions,
    )


def validation_errors(errors: Any, prefix: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """pydantic's errors without their `input` (it may be huge, or personal data)."""
    return [field_error([*prefix, *e["loc"]], e["msg"]) for e in errors]


async def _validation(request: Request, exc: RequestValidationError) -> ProblemJSON:
    errors = exc.errors()
    bad_json = [e for e in errors if e.get("type") == "json_invalid"]
    if bad_json:
        where = bad_json[0]["loc"][-1]
        reason = bad_json[0].get("ctx", {}).get("error", "invalid JSON")
        metrics.rejected("malformed-body")
        return Problem(
            400,
            "malformed-body",
            f"the body is not valid JSON: {reason} at character {where}",
            errors=[field_error(["body"], f"{reason} at character {where}")],
        ).response()
    metrics.rejected("validation")
    fields = validation_errors(errors)
    first = fields[0]
    return Problem(
        422,
        "validation",
        f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        + (f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""),
        errors=fields,
    ).response()


async def _ledger(request: Request, exc: LedgerError) -> ProblemJSON:
    metrics.rejected(exc.kind)
    return ledger_problem(exc, request).response()


async def _problem(request: Request, exc: Problem) -> ProblemJSON:
    return exc.response()


async def _http(request: Request, exc: HTTPException) -> ProblemJSON:
    kind = STATUS_KIND.get(exc.status_code, "internal" if exc.status_code >= 500 else "invalid")
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(kind, "")
    if exc.status_code == 404:
        detail = f"nothing at {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    elif exc.status_code == 400:
        # FastAPI's words for a body it could not parse at all (e.g. nested past the parser's depth)
        detail = "the body could not be parsed as JSON (malformed, or nested too deeply)"
        metrics.rejected("malformed-body")
    return Problem(exc.status_code, kind, detail, headers=dict(exc.headers or {})).response()


async def _unavailable(request: Request, exc: Exception) -> ProblemJSON:
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    return Problem(
        503, "unavailable", "the database is unreachable or busy; retry shortly", headers={"Retry-After": "2"}
    ).response()


async def _contention(request: Request, exc: Exception) -> ProblemJSON:
    detail = str(exc) or "the store did not answer in time; retry shortly"
    return Problem(503, "unavailable", detail, headers={"Retry-After": "1"}).response()


async def _integrity(request: Request, exc: Exception) -> ProblemJSON:
    return Problem(409, "conflict", "another request changed the same records; retry").response()


async def _data_key_missing(request: Request, exc: Exception) -> ProblemJSON:
    # Names the person's id only: the key store lost a key it must hold (a restore gone wrong).
    log.error("data key missing on %s %s: %s", request.method, request.url.path, exc)
    return Problem(500, "data-key-missing", str(exc)).response()


async def _internal(request: Request, exc: Exception) -> ProblemJSON:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Problem(500, "internal", "an internal error occurred; it has been logged").response()


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]  # starlette types handlers for Exception only
    app.add_exception_handler(LedgerError, _ledger)  # type: ignore[arg-type]  # starlette types handlers for Exception only
    app.add_exception_handler(Problem, _problem)  # type: ignore[arg-type]  # starlette types handlers for Exception only
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]  # starlette types handlers for Exception only
    app.add_exception_handler(OperationalError, _unavailable)
    app.add_exception_handler(InterfaceError, _unavailable)
    app.add_exception_handler(Contention, _contention)
    app.add_exception_handler(TimeoutError, _contention)  # the group-commit writer did not answer
    app.add_exception_handler(AccessLogUnavailable, _contention)  # reads would go unlogged
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(DataKeyMissing, _data_key_missing)
    app.add_exception_handler(Exception, _internal)
