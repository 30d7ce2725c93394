"""Operations on the wire: projection status and liveness."""

from __future__ import annotations

from pydantic import BaseModel

from api.models import example

PROJECTION = {
    "name": "certificates",
    "position": 120480,
    "head": 120482,
    "lag_events": 2,
    "lag_seconds": 0.08,
    "state": "running",
    "error": None,
}


class ProjectionStatus(BaseModel):
    model_config = example(PROJECTION)
    name: str
    position: int | None
    head: int | None
    lag_events: int | None
    lag_seconds: float | None
    state: str
    error: str | None = None


class Projections(BaseModel):
    model_config = example({"projections": [PROJECTION]})
    projections: list[ProjectionStatus]


class Health(BaseModel):
    model_config = example({"status": "ok"})
    status: str
