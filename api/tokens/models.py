"""Tokens on the wire: what an admin sends to make one, and what is answered (the secret once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from api.models import example
from ledger.principal import Principal

PRINCIPAL_ID = "3d9a1c2b-7e6f-5a4b-9c8d-1e2f3a4b5c6d"
TOKEN = "dl_5oQ3xJ0kPq8R2vX9mN4bL7cW1zT6yH0eU3sA8fG2dK4"
INFO = {
    "principal_id": PRINCIPAL_ID,
    "role": "site",
    "sites": ["01-TYT-001"],
    "provinces": [],
    "name": "Trạm Y tế Ba Đình",
    "expires_at": "2027-03-01T00:00:00+07:00",
    "issued_at": "2026-12-01T09:30:00+00:00",
    "revoked": False,
}


class TokenIn(BaseModel):
    model_config = example(
        {
            "role": "site",
            "sites": ["01-TYT-001"],
            "name": "Trạm Y tế Ba Đình",
            "expires_at": "2027-03-01T00:00:00+07:00",
        },
        forbid_extra=True,
    )
    role: str = Field(description="admin, site, province, auditor, reporter or portal")
    sites: list[str] = Field([], description="the sites a site token records for (site role: at least one)")
    provinces: list[str] = Field(
        [], description="the provinces a province token reads (province role: at least one)"
    )
    name: str | None = Field(None, description="who or what holds it (shown in audits)")
    expires_at: AwareDatetime | None = Field(None, description="when it stops working (with a time zone)")


class RevocationIn(BaseModel):
    model_config = example({"reason": "the laptop was lost"}, forbid_extra=True)
    reason: str


class RotationIn(BaseModel):
    model_config = example({"reason": "yearly rotation"}, forbid_extra=True)
    reason: str | None = Field(None, description="why (default: rotated)")
    expires_at: AwareDatetime | None = Field(
        None, description="the new token's expiry (default: the old one's)"
    )


class TokenInfo(BaseModel):
    """A token's principal: never the token itself (only its hash is stored)."""

    model_config = example(INFO)
    principal_id: UUID
    role: str
    sites: list[str]
    provinces: list[str]
    name: str | None = None
    expires_at: datetime | None = None
    issued_at: datetime
    revoked: bool


class TokenList(BaseModel):
    model_config = example({"tokens": [INFO], "next_cursor": None})
    tokens: list[TokenInfo]
    next_cursor: str | None = Field(None, description="the next page's cursor (asked with `limit`)")


class TokenIssued(TokenInfo):
    """A new token: `token` is shown in this answer only, never again (only its hash is kept)."""

    model_config = example({**INFO, "token": TOKEN})
    token: str = Field(description="the bearer token, shown once: keep it now")


class TokenRotated(TokenIssued):
    model_config = example({**INFO, "token": TOKEN, "replaces": "9b8a7c6d-5e4f-5a3b-8c2d-1e0f9a8b7c6d"})
    replaces: UUID = Field(description="the principal whose token this rotation revoked")


def info(principal: Principal) -> dict[str, Any]:
    return {
        "principal_id": principal.id,
        "role": principal.role,
        "sites": list(principal.sites),
        "provinces": list(principal.provinces),
        "name": principal.name,
        "expires_at": principal.expires_at,
        "issued_at": principal.created_on,
        "revoked": principal.revoked,
    }
