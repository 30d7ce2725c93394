"""The site directory on the wire: a new site, a review, the lists."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.models import example


class SiteIn(BaseModel):
    model_config = example(
        {
            "site_id": "01-TYT-042",
            "name": "Trạm Y tế phường Kim Mã",
            "kind": "official",
            "province": "01",
            "district": "Ba Đình",
        },
        forbid_extra=True,
    )
    site_id: str
    name: str
    kind: Literal["official", "mobile"]
    province: str
    district: str | None = None


class ReviewIn(BaseModel):
    model_config = example(
        {"decision": "approved", "kind": "mobile", "name": "Đội tiêm lưu động Ba Đình"},
        {"decision": "rejected", "reason": "not a vaccination site"},
        forbid_extra=True,
    )
    decision: Literal["approved", "rejected"]
    kind: Literal["official", "mobile"] | None = None
    name: str | None = None
    province: str | None = None
    district: str | None = None
    reason: str | None = Field(None, description="required to reject")


class SiteWritten(BaseModel):
    model_config = example({"site_id": "01-TYT-042", "position": 3001})
    site_id: str
    position: int | None


SITE = {
    "site_id": "01-UNLISTED-417",
    "name": None,
    "province": "01",
    "district": None,
    "status": "provisional",
    "review_status": "pending",
}


class SiteOut(BaseModel):
    model_config = example(SITE)
    site_id: str
    name: str | None = None
    province: str | None = None
    district: str | None = None
    status: str = Field(description="the kind: provisional, official or mobile")
    review_status: str | None = Field(None, description="pending, approved or rejected")


class SiteList(BaseModel):
    model_config = example({"sites": [SITE], "next_cursor": None})
    sites: list[SiteOut]
    next_cursor: str | None = Field(None, description="the next page's cursor (asked with `limit`)")
