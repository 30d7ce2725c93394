"""One router per resource."""

from __future__ import annotations

from typing import Any

from api.models import Problem

WHY = {400: "The body is not valid JSON", 401: "No token, or a bad, revoked or expired one",
       403: "Outside the token's role or scope", 404: "Not found",
       409: "Conflicts with what is stored", 413: "The body is over the size limit",
       415: "The body is not of the media type the endpoint reads",
       422: "A field is missing or invalid (each error names it)",
       429: "Too many requests from this address; retry after the Retry-After seconds",
       503: "The store is unreachable or busy, or the projections lag; retry"}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json answers of a route."""
    return {status: {"model": Problem, "description": WHY[status]} for status in statuses}


READS = problems(401, 403, 422, 503)
WRITES = problems(400, 401, 403, 413, 422, 503)
