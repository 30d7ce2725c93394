"""A person's certificate, from the certificates projection.

The hottest read (a target of >= 2,000 requests/s on two cores), so its path is short: an async
endpoint with no synchronous dependency (each would cost a hop to the threadpool and back),
the view's single-statement read (on the loop itself on SQLite; on PostgreSQL one query from the
threadpool for the reads waiting together), and the stored document sent as it is (it is
already the `Certificate` model's JSON: validating it again through the response model cost
more than the read). The response model stays in the decorator for the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from api.access_log import recorded_read
from api.audit.pages import audit_links
from api.auth import require_province
from api.certificates.models import Certificate
from api.dependencies import SiteProvinceOrAuditorPrincipal
from api.models import READS, problems
from api.problems import Problem, field_error
from api.responses import ORJSON
from api.services import caught_up
from ledger.principal import ADMIN, AUDITOR

router = APIRouter(prefix="/v1/certificates", tags=["certificates"])


@router.get(
    "/{person_id}",
    response_model=Certificate,
    responses={**READS, **problems(404)},
    summary="A person's certificate: valid doses, computed dose numbers, status",
)
async def certificate(
    request: Request,
    person_id: UUID,
    principal: SiteProvinceOrAuditorPrincipal,
    min_position: Annotated[
        int | None,
        Query(ge=0, description="a position from a write: wait (bounded) until the certificate includes it"),
    ] = None,
) -> Response:
    if min_position:  # waits on the projections: off the event loop
        await run_in_threadpool(caught_up, request, min_position)
    # SQLite: on the loop, on a connection of its own (cheap and bounded); PostgreSQL: with the
    # reads waiting beside it, in one query from the threadpool (projections/engine/gathered_reads.py).
    found = await request.app.state.views.certificates.certificate_on_loop(person_id)
    if found is None:
        msg = f"no certificate for person {person_id}"
        raise Problem(404, "not-found", msg, errors=[field_error(["path", "person_id"], msg)])
    require_province(principal, found.get("province"), ["path", "person_id"])
    recorded_read(request, principal, [person_id], "certificate")  # buffered: no I/O on the loop
    # The model's last field: null unless the token may open the audit pages.
    links = audit_links(person_id) if principal.role in (AUDITOR, ADMIN) else None
    return ORJSON({**found, "links": links})
