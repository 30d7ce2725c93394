"""Audit over HTTP: how a person's record reached its state, read from the stored events alone
(replay/), and who has read people's records (the access log, usecases.access_log).

Auditors and admins only. Every read of a person's record here, the access log's own included,
is logged (api.access_log) before the answer leaves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request

import replay
from api.access_log import recorded_read
from api.audit.models import (
    AccessLog,
    AccessReport,
    AuditDiff,
    AuditExplanation,
    AuditHistory,
    AuditState,
    AuditVerdict,
)
from api.dependencies import AppSettings, AuditorPrincipal, Ledger, Views
from api.models import READS, problems
from api.problems import Problem, field_error
from ledger.errors import InvalidValue
from ledger.principal import Principal
from replay.fold import read_person
from usecases.access_log import LAST_POSITION, PAGE_LIMIT, as_json
from usecases.access_log import access_report as person_access_report

router = APIRouter(prefix="/v1/audit", tags=["audit"])

PERSON_READS = {**READS, **problems(404)}
AS_OF = (
    "a version number (`3`: after the person's third event) or an ISO date or date-time of "
    "recording (`2021-09-01`: as known at the end of that day, Vietnam time)"
)


@router.get(
    "/persons/{person_id}/history",
    response_model=AuditHistory,
    responses=PERSON_READS,
    summary="Every stored event of a person, who caused it through what, and the state after it",
)
def history(request: Request, person_id: UUID, principal: AuditorPrincipal, ledger: Ledger) -> dict[str, Any]:
    return _recorded(request, principal, "audit.history", replay.history(ledger, person_id))


@router.get(
    "/persons/{person_id}/state",
    response_model=AuditState,
    responses=PERSON_READS,
    summary="The person as the ledger knew them at a version or a time (now if not given)",
)
def state(
    request: Request,
    person_id: UUID,
    principal: AuditorPrincipal,
    ledger: Ledger,
    as_of: Annotated[str | None, Query(description=AS_OF, examples=["3", "2021-09-01"])] = None,
) -> dict[str, Any]:
    point = replay.parse_as_of(as_of, "as_of") if as_of is not None else replay.AsOf()
    with _named("as_of"):  # replay names its own arguments (version, recorded_at)
        found = replay.state_as_of(ledger, person_id, version=point.version, recorded_at=point.recorded_at)
    return _recorded(request, principal, "audit.state", found)


@router.get(
    "/persons/{person_id}/diff",
    response_model=AuditDiff,
    responses=PERSON_READS,
    summary="What changed between two points of a person's record, and the events that did it",
)
def diff(
    request: Request,
    person_id: UUID,
    principal: AuditorPrincipal,
    ledger: Ledger,
    from_: Annotated[str, Query(alias="from", description=AS_OF + "; default: before the first event")] = "0",
    to: Annotated[str | None, Query(description=AS_OF + "; default: now")] = None,
) -> dict[str, Any]:
    found = replay.diff(ledger, person_id, from_, to if to is not None else replay.AsOf())
    return _recorded(request, principal, "audit.diff", found)


@router.get(
    "/persons/{person_id}/explain",
    response_model=AuditExplanation,
    responses=PERSON_READS,
    summary="Each line of the certificate traced to the events that made it; voided lines",
)
def explain(request: Request, person_id: UUID, principal: AuditorPrincipal, ledger: Ledger) -> dict[str, Any]:
    return _recorded(request, principal, "audit.explain", replay.explain_certificate(ledger, person_id))


@router.get(
    "/persons/{person_id}/verify",
    response_model=AuditVerdict,
    responses={**PERSON_READS, **problems(503)},
    summary="The digest chain, a fresh fold, the ledger and the certificate view: do they agree?",
)
def verify(
    request: Request,
    person_id: UUID,
    principal: AuditorPrincipal,
    ledger: Ledger,
    views: Views,
    settings: AppSettings,
) -> dict[str, Any]:
    _, records = read_person(ledger, person_id)
    head = max((r.position or 0) for r in records)
    timeout = settings.read_wait_seconds
    # A view behind the person's last event would be reported as a difference: it is only late.
    if not views.wait(head, timeout):
        raise Problem(
            503,
            "unavailable",
            f"the certificate view has not reached position {head} within {timeout:g} s; retry shortly",
            headers={"Retry-After": "1"},
        )
    return _recorded(request, principal, "audit.verify", replay.verify(ledger, person_id, views=views))


@router.get(
    "/access",
    response_model=AccessLog,
    responses=READS,
    summary="Who read people's records, by every role: a person's or a principal's reads, oldest first",
)
def access(
    request: Request,
    principal: AuditorPrincipal,
    ledger: Ledger,
    person_id: UUID | None = None,
    principal_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    since_position: Annotated[
        int, Query(ge=0, le=LAST_POSITION, description="rows after this position (`next_since_position`)")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 100,
    until_position: Annotated[
        int | None,
        Query(
            ge=0,
            le=LAST_POSITION,
            description="rows up to this position: pass the first page's `until_position` with each next "
            "page (reading the log is logged, so paging needs an end fixed when it starts)",
        ),
    ] = None,
) -> dict[str, Any]:
    if person_id is None and principal_id is None:
        msg = "give person_id or principal_id (or both)"
        raise Problem(
            422,
            "validation",
            msg,
            errors=[field_error(["query", "person_id"], msg), field_error(["query", "principal_id"], msg)],
        )
    until = ledger.access_log.last_position() if until_position is None else until_position
    rows, next_since = ledger.access_log.find(
        person_id=str(person_id) if person_id else None,
        principal_id=principal_id,
        since_position=since_position,
        limit=limit,
        until_position=until,
    )
    # The log says whose records a principal read: reading it is a read of those people.
    recorded_read(request, principal, {row.person_id for row in rows} | _ids(person_id), "access.log")
    return {
        "reads": [as_json(row) for row in rows],
        "next_since_position": next_since,
        "until_position": until,
    }


@router.get(
    "/access/report",
    response_model=AccessReport,
    responses=READS,
    summary="A person's access report, made for them: who (role and principal) read their record, when, what",
)
def access_report(
    request: Request, person_id: UUID, principal: AuditorPrincipal, ledger: Ledger
) -> dict[str, Any]:
    report = person_access_report(ledger.access_log, str(person_id))
    recorded_read(request, principal, [person_id], "access.report")
    return report


def _ids(person_id: UUID | None) -> set[str]:
    return {str(person_id)} if person_id is not None else set()


def _recorded(request: Request, principal: Principal, what: str, found: dict[str, Any]) -> dict[str, Any]:
    """The answer about one person, once its read is in the access log."""
    recorded_read(request, principal, [found["person_id"]], what)
    return found


@contextmanager
def _named(field: str) -> Iterator[None]:
    try:
        yield
    except InvalidValue as error:
        raise InvalidValue(field, error.message) from None
