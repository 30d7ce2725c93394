"""What `POST /v1/cvrs` answers: each row's outcome by its line and event id."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.models import example


class RowIssue(BaseModel):
    model_config = example({"column": "admin_date", "reason": "missing", "severity": "error"})
    column: str = Field(description="the CVRS column at fault")
    reason: str
    severity: Literal["error", "warning"]


class RowResult(BaseModel):
    model_config = example(
        {"line": 1, "vax_event_id": "good1_sample1", "status": "booked", "dose_id": None, "issues": []}
    )
    line: int = Field(description="the data row's line, 1 for the first row after the header")
    vax_event_id: str
    status: Literal["booked", "already booked", "refused", "flagged", "no dose"]
    # No person id: a row matched to a person already held would name them, a read of their
    # record; the site's own record id (vax_event_id) and the dose id are what it reconciles by.
    dose_id: str | None = None
    issues: list[RowIssue]


class CvrsReport(BaseModel):
    model_config = example(
        {
            "rows": 2,
            "counts": {"booked": 1, "refused": 1},
            "results": [
                {
                    "line": 1,
                    "vax_event_id": "good1_sample1",
                    "status": "booked",
                    "dose_id": "1f0c6f5e-8a4b-5c3d-9e2f-0a1b2c3d4e5f",
                    "issues": [],
                },
                {
                    "line": 2,
                    "vax_event_id": "error7",
                    "status": "refused",
                    "dose_id": None,
                    "issues": [{"column": "admin_date", "reason": "missing", "severity": "error"}],
                },
            ],
        }
    )
    rows: int
    counts: dict[str, int] = Field(description="rows by status")
    results: list[RowResult]
