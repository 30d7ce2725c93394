"""A person's certificate, from the certificates projection."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from api.access_log import recorded_read
from api.auth import Allow, require_province
from api.models import Certificate
from api.problems import Problem, field_error
from api.routers import READS, problems
from api.routers.audit_page import audit_links
from api.services import caught_up, views_of
from ledger.principal import ADMIN, AUDITOR, PROVINCE, SITE, Principal

router = APIRouter(prefix="/v1/certificates", tags=["certificates"])


@router.get("/{person_id}", response_model=Certificate, responses={**READS, **problems(404)},
            summary="A person's certificate: valid doses, computed dose numbers, status")
def certificate(request: Request, person_id: UUID,
                min_position: int | None = Query(
                    None, ge=0, description="a position from a write: wait (bounded) until the "
                                            "certificate includes it"),
                principal: Principal = Depends(Allow(SITE, PROVINCE, AUDITOR)),
                views=Depends(views_of)) -> dict:
    caught_up(request, min_position)
    found = views.certificates.certificate(person_id)
    if found is None:
        msg = f"no certificate for person {person_id}"
        raise Problem(404, "not-found", msg, errors=[field_error(["path", "person_id"], msg)])
    require_province(principal, found.get("province"), ["path", "person_id"])
    recorded_read(request, principal, [person_id], "certificate")
    if principal.role in (AUDITOR, ADMIN):  # the only roles the audit pages let in
        found = {**found, "links": audit_links(person_id)}
    return found
