"""Doses: record one, record a batch, amend, void."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from api import metrics
from api.access_log import recorded_read
from api.auth import actor, acts_for
from api.dependencies import Ledger, SitePrincipal
from api.doses.models import AmendIn, DoseBatchIn, DoseBatchOut, DoseChanged, DoseIn, DoseRecorded, VoidIn
from api.models import WRITES, problems
from api.problems import field_error, forbidden, ledger_loc, validation_errors
from api.services import record_dose
from ledger.principal import Principal
from usecases.application import DoseLedger, DoseOutcome

router = APIRouter(prefix="/v1/doses", tags=["doses"])


# What the access log calls a dose's person found by the national id it came with.
MATCHED = "doses.person_match"


def _fields(dose: DoseIn) -> dict[str, Any]:
    return dose.model_dump(exclude_none=True)


@router.post(
    "",
    status_code=201,
    response_model=DoseRecorded,
    responses={**WRITES, **problems(404, 409)},
    summary="Record a dose (201 new, 200 the same site record again)",
)
async def record(
    request: Request, body: DoseIn, response: Response, principal: SitePrincipal
) -> DoseRecorded:
    if not acts_for(principal, body.site_id):
        raise forbidden(f"this token may not record for site {body.site_id!r}", ["body", "site_id"])
    receipt = await record_dose(request, actor(principal), _fields(body))
    if receipt.matched:  # found by the national id sent: a look-up in all but name
        recorded_read(request, principal, [receipt.person_id], MATCHED)
    metrics.recorded(created=not receipt.duplicate, duplicates=receipt.duplicate)
    if receipt.duplicate:
        response.status_code = 200
    return DoseRecorded(
        dose_id=receipt.dose_id,
        person_id=receipt.person_id,
        position=receipt.position,
        duplicate=receipt.duplicate,
        certificate_code=request.app.state.certificate_codes.code(receipt.person_id),
    )


def _result(index: int, outcome: DoseOutcome) -> dict[str, Any]:
    result: dict[str, Any] = {"index": index, "status": outcome.status}
    if outcome.receipt is not None:
        result.update(
            dose_id=outcome.receipt.dose_id,
            person_id=outcome.receipt.person_id,
            position=outcome.receipt.position,
        )
    if outcome.error is not None:
        error = outcome.error
        result["errors"] = [
            field_error(ledger_loc(error.field, None, ("body", "doses", index)), error.message)
        ]
        # A conflict names the dose already stored for this site record.
        result["dose_id"] = getattr(error, "dose_id", None)
        result["person_id"] = getattr(error, "person_id", None)
    return result


@router.post(
    "/batch",
    response_model=DoseBatchOut,
    responses=WRITES,
    summary="Record up to 1,000 doses: one result per item; good items are stored "
    "even when others are rejected",
)
def record_batch(
    request: Request, body: DoseBatchIn, principal: SitePrincipal, ledger: Ledger
) -> dict[str, Any]:
    results: list[dict[str, Any] | None] = [None] * len(body.doses)
    checked: list[tuple[int, DoseIn]] = []
    for index, raw in enumerate(body.doses):
        try:
            checked.append((index, DoseIn.model_validate(raw)))
        except ValidationError as error:
            results[index] = {
                "index": index,
                "status": "rejected",
                "errors": validation_errors(error.errors(), ("body", "doses", index)),
            }
    # A token acting outside its sites is refused as a whole: nothing of it is stored.
    outside = [index for index, dose in checked if not acts_for(principal, dose.site_id)]
    if outside:
        problem = forbidden(f"this token may not record for the sites of items {outside[:10]}")
        problem.errors = [
            field_error(["body", "doses", i, "site_id"], "this token may not record for this site")
            for i in outside
        ]
        raise problem
    outcomes = ledger.record_doses([_fields(dose) for _, dose in checked], actor=actor(principal))
    for (index, _), outcome in zip(checked, outcomes, strict=True):
        results[index] = _result(index, outcome)
    matched = [o.receipt.person_id for o in outcomes if o.receipt is not None and o.receipt.matched]
    if matched:
        recorded_read(request, principal, matched, MATCHED)
    counts = Counter(r["status"] for r in results if r is not None)
    metrics.recorded(created=counts["created"], duplicates=counts["duplicate"])
    metrics.rejected("validation", len(body.doses) - len(checked))
    for outcome in outcomes:
        if outcome.error is not None:
            metrics.rejected(outcome.error.kind)
    return {
        "results": results,
        "counts": {s: counts[s] for s in ("created", "duplicate", "conflict", "rejected")},
    }


def _check_origin(principal: Principal, ledger: DoseLedger, dose_id: UUID) -> None:
    """Only the site that recorded a dose (or an admin) may amend or void it."""
    _, recorded_by = ledger.dose_origin(dose_id)
    if not acts_for(principal, recorded_by):
        raise forbidden(f"dose {dose_id} was recorded by another site", ["path", "dose_id"])


@router.post(
    "/{dose_id}/amend",
    response_model=DoseChanged,
    responses={**WRITES, **problems(404, 409)},
    summary="Amend a dose: the fields to change, and a reason",
)
def amend(dose_id: UUID, body: AmendIn, principal: SitePrincipal, ledger: Ledger) -> DoseChanged:
    _check_origin(principal, ledger, dose_id)
    changes = body.model_dump(exclude_unset=True)
    reason = changes.pop("reason")
    if "site_id" in changes and not acts_for(principal, changes["site_id"] or ""):
        raise forbidden(f"this token may not move a dose to site {changes['site_id']!r}", ["body", "site_id"])
    written = ledger.amend_dose(dose_id, changes, reason, actor=actor(principal))
    return DoseChanged(dose_id=dose_id, person_id=written.aggregate_id, position=written.position)


@router.post(
    "/{dose_id}/void",
    response_model=DoseChanged,
    responses={**WRITES, **problems(404, 409)},
    summary="Void a dose entered in error (it leaves the certificate; its events stay)",
)
def void(dose_id: UUID, body: VoidIn, principal: SitePrincipal, ledger: Ledger) -> DoseChanged:
    _check_origin(principal, ledger, dose_id)
    written = ledger.void_dose(dose_id, body.reason, actor=actor(principal))
    return DoseChanged(dose_id=dose_id, person_id=written.aggregate_id, position=written.position)
