"""Operations: projection status, liveness, metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.dependencies import ReporterOrAuditorPrincipal, Views
from api.metrics import exposition
from api.models import READS
from api.operations.models import Health, Projections

router = APIRouter(tags=["operations"])


@router.get(
    "/v1/projections",
    response_model=Projections,
    responses=READS,
    summary="Each projection's position, the store's head, and the lag; the read standby's lag",
)
def projections(principal: ReporterOrAuditorPrincipal, views: Views) -> dict[str, Any]:
    return {"projections": views.status(), "replica": views.replica_status()}


@router.get("/healthz", response_model=Health, summary="Liveness (no token needed)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (no token needed)",
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request) -> Response:
    views = request.app.state.views
    body, content_type = exposition(views.status, views.replica_status)
    return Response(body, media_type=content_type)
