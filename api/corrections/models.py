"""Correction requests on the wire: filed, assigned, answered, listed, checked."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, model_validator

from api.models import DOSE_ID, PERSON_ID, example

REQUEST_ID = "3d6f0b1e-2c4a-4f8e-9b7d-5a1c2e3f4a5b"
MISSING_CLAIM = {"vaccine": "AstraZeneca", "administered_at": "2021-09-20", "site_id": "79-TYT-001"}


class CorrectionIn(BaseModel):
    model_config = example(
        {
            "person_id": PERSON_ID,
            "kind": "missing_dose",
            "claim": MISSING_CLAIM,
            "evidence_ref": "photo of the vaccination card, upload 8812",
            "contact": "0912345678",
        },
        {
            "person_id": PERSON_ID,
            "kind": "wrong_dose",
            "claim": {"dose_id": DOSE_ID, "changes": {"vaccine": "Pfizer"}},
        },
        {"person_id": PERSON_ID, "kind": "wrong_dose", "claim": {"dose_id": DOSE_ID, "not_given": True}},
        {"person_id": PERSON_ID, "kind": "wrong_details", "claim": {"changes": {"birth_date": "1985-04-13"}}},
        forbid_extra=True,
    )
    person_id: UUID
    kind: Literal["missing_dose", "wrong_dose", "wrong_details"]
    claim: dict[str, Any] = Field(
        description="missing_dose: {vaccine, administered_at, site_id, lot?, "
        "dose_number?}; wrong_dose: {dose_id, changes} or "
        "{dose_id, not_given: true}; wrong_details: {changes}"
    )
    evidence_ref: str | None = Field(None, description="where the evidence is (an upload, a paper file)")
    contact: str | None = Field(None, description="how to answer the citizen")
    channel: str | None = Field(
        None, description="how it came in (portal, hotline, site ...); default: the token's role"
    )


class CorrectionFiled(BaseModel):
    model_config = example(
        {
            "request_id": REQUEST_ID,
            "linked": False,
            "code": "K7M2QX9P",
            "filed_at": "2021-10-02T09:12:40+07:00",
            "age_days": 0.0,
            "position": 5120,
        },
        {
            "request_id": REQUEST_ID,
            "linked": True,
            "code": None,
            "filed_at": "2021-10-02T09:12:40+07:00",
            "age_days": 12.4,
            "position": 6001,
        },
    )
    request_id: UUID
    linked: bool = Field(description="true: the same claim is open already; this filing joined it")
    code: str | None = Field(
        description="the verification code for the status check, shown once "
        "(none when linked: the first filing's code stands)"
    )
    filed_at: str
    age_days: float = Field(description="days since the (first) filing")
    position: int | None


class AssignIn(BaseModel):
    model_config = example({"province": "79"}, {"site": "79-TYT-001"}, forbid_extra=True)
    province: str | None = None
    site: str | None = None

    @model_validator(mode="after")
    def one_assignee(self) -> AssignIn:
        if (self.province is None) == (self.site is None):
            raise ValueError("give exactly one of province or site")
        return self


class ResolveIn(BaseModel):
    model_config = example(
        {"outcome": "accepted", "reason": "the site's paper log confirms the dose"},
        {"outcome": "rejected", "reason": "no such dose in the site's log that day"},
        forbid_extra=True,
    )
    outcome: Literal["accepted", "rejected"]
    reason: str = Field(description="told to the citizen with the outcome")


class CorrectionWritten(BaseModel):
    model_config = example({"request_id": REQUEST_ID, "person_id": PERSON_ID, "position": 6120})
    request_id: UUID
    person_id: UUID
    position: int | None


class CorrectionStatus(BaseModel):
    """What a citizen may learn with the request id and code: no personal data."""

    model_config = example(
        {
            "request_id": REQUEST_ID,
            "status": "rejected",
            "kind": "missing_dose",
            "filed_at": "2021-10-02T09:12:40+07:00",
            "outcome": "rejected",
            "reason": "no such dose in the site's log that day",
            "repeats": 1,
        }
    )
    request_id: UUID
    status: str = Field(description="open, assigned, accepted or rejected")
    kind: str
    filed_at: str
    outcome: str | None = None
    reason: str | None = None
    repeats: int = Field(description="how many times the same claim was filed again while open")


CORRECTION_ROW = {
    "request_id": REQUEST_ID,
    "person_id": PERSON_ID,
    "province": "01",
    "site_id": "79-TYT-001",
    "kind": "missing_dose",
    "claim": {**MISSING_CLAIM, "vaccine": "EU/1/21/1529", "lot": None, "dose_number": None},
    "status": "assigned",
    "assignee": {"province": "79"},
    "channel": "portal",
    "evidence_ref": "photo of the vaccination card, upload 8812",
    "contact": "0912345678",
    "filed_at": "2021-10-02T09:12:40+07:00",
    "repeats": 2,
    "outcome": None,
    "reason": None,
    "resolved_at": None,
    "age_days": 9.3,
    "overdue": True,
}


class CorrectionRow(BaseModel):
    model_config = example(CORRECTION_ROW)
    request_id: UUID
    person_id: UUID
    province: str = Field(description="the person's province")
    site_id: str | None = Field(
        None, description="the assigned site, else the site a missing dose claim names"
    )
    kind: str
    claim: dict[str, Any] | None = Field(description="null once the person's personal data is erased")
    status: str
    assignee: dict[str, str] | None = None
    channel: str
    evidence_ref: str | None = None
    contact: str | None = None
    filed_at: str
    repeats: int
    outcome: str | None = None
    reason: str | None = None
    resolved_at: str | None = None
    age_days: float = Field(description="filing to now, or to the resolution")
    overdue: bool = Field(description="unresolved and older than the overdue limit")


class CorrectionList(BaseModel):
    model_config = example({"requests": [CORRECTION_ROW], "overdue_after_days": 7.0})
    requests: list[CorrectionRow]
    overdue_after_days: float


OPEN_GROUP = {
    "province": "79",
    "site_id": "79-TYT-001",
    "open": 4,
    "overdue": 1,
    "oldest_filed_at": "2021-09-24T08:00:00+07:00",
    "oldest_age_days": 17.1,
}


class OpenGroup(BaseModel):
    model_config = example(OPEN_GROUP)
    province: str
    site_id: str | None = None
    open: int
    overdue: int
    oldest_filed_at: str
    oldest_age_days: float


class CorrectionSummary(BaseModel):
    model_config = example(
        {
            "open": [OPEN_GROUP],
            "overdue": 1,
            "resolved": {"accepted": 31, "rejected": 9},
            "resolution_days": {"count": 40, "median": 3.2, "p90": 11.8},
            "overdue_after_days": 7.0,
        }
    )
    open: list[OpenGroup] = Field(description="unresolved requests per province and site, with age")
    overdue: int
    resolved: dict[str, int] = Field(description="resolved requests by outcome")
    resolution_days: dict[str, float | int | None] = Field(
        description="count, median and p90 of the days from filing to resolution"
    )
    overdue_after_days: float
