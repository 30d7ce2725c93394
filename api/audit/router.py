"""Audit over HTTP: how a person's record reached its state, read from the stored events alone
(replay/), and who has read people's records (the access log).

Auditors and admins only. Every read of a person's record here by an auditor is itself
recorded (ledger.access) before the answer leaves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request

import replay
from api.access_log import recorded_read
from api.audit.models import AccessLog, AuditDiff, AuditExplanation, AuditHistory, AuditState, AuditVerdict
from api.dependencies import AdminPrincipal, AppSettings, AuditorPrincipal, Ledger, Views
from api.models import READS, problems
from api.problems import Problem
from ledger.errors import InvalidValue
from ledger.principal import Principal
from ledger.rules import ICT
from replay.fold import read_person
from usecases.access_log import ReadQuery, find_reads

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
    "/access-log",
    response_model=AccessLog,
    responses=READS,
    summary="Who read people's records (auditor and province reads), oldest first (admin)",
)
def access_log(
    principal: AdminPrincipal,
    ledger: Ledger,
    principal_id: Annotated[
        str | None, Query(alias="principal", max_length=100, description="a principal's id")
    ] = None,
    person_id: UUID | None = None,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            description="recorded on or after: an ISO date or date-time (Vietnam time if no zone)",
        ),
    ] = None,
    to: Annotated[str | None, Query(description="recorded on or before (a date: all of it)")] = None,
    after: Annotated[int, Query(ge=0, description="continue after this position (`next_after`)")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    since = _moment(from_, "from", end_of_day=False)
    until = _moment(to, "to", end_of_day=True)
    if since and until and since > until:
        raise InvalidValue("from", "is later than to")
    query = ReadQuery(principal_id, str(person_id) if person_id else None, since, until)
    reads, next_after = find_reads(ledger, query, after=after, limit=limit)
    return {"reads": reads, "next_after": next_after}


def _recorded(request: Request, principal: Principal, what: str, found: dict[str, Any]) -> dict[str, Any]:
    """The answer about one person, once its read is in the access log."""
    recorded_read(request, principal, [found["person_id"]], what)
    return found


def _moment(text: str | None, field: str, *, end_of_day: bool) -> datetime | None:
    """An ISO date-time, or a date: its first moment for `from`, its last for `to` (ICT)."""
    if text is None:
        return None
    point = replay.parse_as_of(text, field).recorded_at  # a bare date: the end of that day
    if point is None:  # a bare number is a version, which means nothing here
        raise InvalidValue(field, f"must be an ISO date or date-time, got {text!r}")
    if len(text.strip()) == 10 and not end_of_day:
        return datetime.combine(point.date(), time(0), ICT)
    return point


@contextmanager
def _named(field: str) -> Iterator[None]:
    try:
        yield
    except InvalidValue as error:
        raise InvalidValue(field, error.message) from None
