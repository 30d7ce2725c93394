"""A person's certificate as signed forms: the EU DCC (one per dose) and the SMART Health Card,
as text or as QR images (`Accept: image/png`).

Who may read them is who may read the certificate (GET /v1/certificates/{person_id}); every
read is logged as that route's is. A QR holds the person's name and birth date: the answers are
never stored by a cache (`Cache-Control: no-store`).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from api.access_log import recorded_read
from api.dependencies import Ledger, SiteProvinceOrAuditorPrincipal, Views
from api.models import READS, problems
from api.problems import Problem, field_error
from api.responses import ORJSON
from api.services import caught_up
from api.signed.forms import CurrentForms, current_forms, no_dcc, not_issued
from api.signed.models import SignedDcc, SignedShc
from ledger.principal import Principal
from signing.qr import png

router = APIRouter(prefix="/v1/certificates", tags=["certificates"])

PNG = "image/png"
PRIVATE = {"Cache-Control": "no-store"}
MinPosition = Annotated[
    int | None,
    Query(ge=0, description="a position from a write: wait (bounded) until the certificate includes it"),
]
IMAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {PNG: {"schema": {"type": "string", "format": "binary"}}}}
}


def _wants_png(request: Request) -> bool:
    return PNG in request.headers.get("accept", "")


def _forms(
    request: Request,
    ledger: Any,
    views: Any,
    principal: Principal,
    person_id: UUID,
    min_position: int | None,
    form: str,
) -> CurrentForms:
    caught_up(request, min_position)
    return current_forms(ledger, views, principal, person_id, form)


@router.get(
    "/{person_id}/dcc",
    response_model=SignedDcc,
    responses={**READS, **problems(404, 409), **IMAGE},
    summary="A person's EU Digital COVID Certificates: one per dose, signed; the latest as a QR image",
)
async def dcc(
    request: Request,
    person_id: UUID,
    principal: SiteProvinceOrAuditorPrincipal,
    ledger: Ledger,
    views: Views,
    min_position: MinPosition = None,
) -> Response:
    found = await run_in_threadpool(_forms, request, ledger, views, principal, person_id, min_position, "dcc")
    documents = found.forms.dcc
    if not documents and found.dcc_refused is not None:
        raise no_dcc(person_id, found.dcc_refused)
    if not documents:
        raise not_issued(person_id, "no EU DCC was signed for this version (no DCC signing key)")
    recorded_read(request, principal, [person_id], "certificate.dcc")
    latest = documents[-1]["qr"]
    if _wants_png(request):
        return Response(await run_in_threadpool(png, latest), media_type=PNG, headers=PRIVATE)
    return ORJSON(
        {
            "certificate_id": found.certificate_id,
            "version": found.version,
            "uvci": [d["uvci"] for d in documents],
            "kid": found.issued["dcc"][-1]["kid"],
            "qr": latest,
            "documents": documents,
        },
        headers=PRIVATE,
    )


@router.get(
    "/{person_id}/shc",
    response_model=SignedShc,
    responses={**READS, **problems(404, 409), **IMAGE},
    summary="A person's SMART Health Card, signed; a QR image of one of its chunks",
)
async def shc(
    request: Request,
    person_id: UUID,
    principal: SiteProvinceOrAuditorPrincipal,
    ledger: Ledger,
    views: Views,
    min_position: MinPosition = None,
    chunk: Annotated[
        int | None, Query(ge=1, description="with `Accept: image/png`: which QR code (1 = the first)")
    ] = None,
) -> Response:
    found = await run_in_threadpool(_forms, request, ledger, views, principal, person_id, min_position, "shc")
    card = found.forms.shc
    if card is None:
        raise not_issued(
            person_id,
            "no SMART Health Card was signed for this version (no card key, or a dose of a product with no CVX code)",
        )
    if chunk is not None and chunk > len(card["qr"]):
        msg = f"this card has {len(card['qr'])} QR code(s)"
        raise Problem(422, "invalid", msg, errors=[field_error(["query", "chunk"], msg)])
    recorded_read(request, principal, [person_id], "certificate.shc")
    if _wants_png(request):
        image = await run_in_threadpool(png, card["qr"][(chunk or 1) - 1])
        return Response(image, media_type=PNG, headers=PRIVATE)
    return ORJSON(
        {
            "certificate_id": found.certificate_id,
            "version": found.version,
            "jws": card["jws"],
            "qr": card["qr"],
        },
        headers=PRIVATE,
    )
