"""What `POST /v1/cvrs` answers: each row's outcome by its line and event id."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class RowIssue(BaseModel):
    column: str = Field(description="the CVRS column at fault")
    reason: str
    severity: Literal["error", "warning"]


class RowResult(BaseModel):
    line: int = Field(description="the data row's line, 1 for the first row after the header")
    vax_event_id: str
    status: Literal["booked", "already booked", "refused", "flagged", "no dose"]
    dose_id: str | None = None
    person_id: str | None = None
    issues: list[RowIssue]


class CvrsReport(BaseModel):
    rows: int
    counts: dict[str, int] = Field(description="rows by status")
    results: list[RowResult]
