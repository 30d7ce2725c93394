"""What every resource's models share: problem details, the routes' problem answers, the
examples' ids, and `example` (each model carries one for /docs).

Each resource's own models sit beside its router (api/<resource>/models.py). Models check
structure and types; the ledger checks meaning (known vaccine, dates not in the future,
province codes ...) and names the field either way.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PERSON_ID = "6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e"
DOSE_ID = "2b8f8c1e-5d7a-5b6c-8e9f-0a1b2c3d4e5f"


def example(*examples: dict[str, Any], forbid_extra: bool = False) -> ConfigDict:
    return ConfigDict(
        json_schema_extra={"examples": list(examples)}, extra="forbid" if forbid_extra else "ignore"
    )


# --- errors --------------------------------------------------------------------------------


class FieldError(BaseModel):
    model_config = example({"loc": ["body", "administered_at"], "msg": "is in the future"})
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = example(
        {
            "type": "https://doseledger.example/problems/unknown-vaccine",
            "title": "Unknown vaccine",
            "status": 422,
            "detail": "vaccine: unknown vaccine code or name: 'Snake Oil'",
            "errors": [{"loc": ["body", "vaccine"], "msg": "unknown vaccine code or name: 'Snake Oil'"}],
        }
    )
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    dose_id: str | None = Field(None, description="on a site-record conflict: the stored dose")
    person_id: str | None = Field(None, description="on a conflict: the person concerned")
    limit: str | None = Field(None, description="on a 429: the rate limit the call went over")


# --- the problem answers a route documents ---------------------------------------------------

WHY = {
    400: "The body is not valid JSON",
    401: "No token, or a bad, revoked or expired one",
    403: "Outside the token's role or scope",
    404: "Not found",
    409: "Conflicts with what is stored",
    413: "The body is over the size limit",
    415: "The body is not of the media type the endpoint reads",
    422: "A field is missing or invalid (each error names it)",
    429: "Too many requests from this address or token (`limit` names the limit); retry after the "
    "Retry-After seconds",
    503: "The store is unreachable or busy, or the projections lag; retry",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem+json answers of a route."""
    return {status: {"model": Problem, "description": WHY[status]} for status in statuses}


READS = problems(401, 403, 422, 503)
WRITES = problems(400, 401, 403, 413, 422, 503)
