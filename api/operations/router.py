"""Operations: projection status, liveness, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from api.auth import Allow
from api.metrics import exposition
from api.models import READS
from api.operations.models import Health, Projections
from api.services import views_of
from ledger.principal import AUDITOR, REPORTER, Principal

router = APIRouter(tags=["operations"])


@router.get("/v1/projections", response_model=Projections, responses=READS,
            summary="Each projection's position, the store's head, and the lag")
def projections(principal: Principal = Depends(Allow(REPORTER, AUDITOR)),
                views=Depends(views_of)) -> dict:
    return {"projections": views.status()}


@router.get("/healthz", response_model=Health, summary="Liveness (no token needed)")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (no token needed)",
            responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    body, content_type = exposition(request.app.state.views.status)
    return Response(body, media_type=content_type)
