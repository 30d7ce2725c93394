"""The statistics on the wire: dose counts, coverage and the backlog."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.models import example

GROUPS = ("date", "province", "district", "site_id", "vaccine", "dose_number", "age_band", "sex")
COVERAGE_GROUPS = ("province", "district", "age_band")
NEXT = "the next page's cursor (asked with `limit`)"


COUNT_ROW = {"date": "2021-08-01", "province": "01", "doses": 1520}


class DoseCountRow(BaseModel):
    model_config = example(COUNT_ROW)
    date: str | None = None
    province: str | None = None
    district: str | None = None
    site_id: str | None = None
    vaccine: str | None = None
    dose_number: int | None = None
    age_band: str | None = Field(
        None, description="on the dose's day: 0-11, 12-17, 18-49, 50-64, 65+, unknown"
    )
    sex: str | None = None
    doses: int


class DoseCounts(BaseModel):
    model_config = example({"rows": [COUNT_ROW], "total": 1520, "next_cursor": None})
    rows: list[DoseCountRow]
    total: int = Field(description="doses in every row, not only this page's")
    next_cursor: str | None = Field(None, description=NEXT)


COVERAGE_ROW = {"province": "01", "status": "complete", "people": 804}


class CoverageRow(BaseModel):
    model_config = example(COVERAGE_ROW)
    province: str
    district: str | None = None
    age_band: str | None = Field(None, description="today: 0-11, 12-17, 18-49, 50-64, 65+, unknown")
    status: str
    people: int


class Coverage(BaseModel):
    model_config = example({"rows": [COVERAGE_ROW], "total": 804, "next_cursor": None})
    rows: list[CoverageRow]
    total: int = Field(description="people in every row, not only this page's")
    next_cursor: str | None = Field(None, description=NEXT)


BACKLOG_GROUPS = ("site", "district", "province", "age")
BACKLOG_ROW = {
    "province": "01",
    "tallied": 1520,
    "recorded": 1490,
    "backlog": 34,
    "difference": 30,
    "days": 30,
    "sites": 12,
}


class BacklogRow(BaseModel):
    """One group: tallied (the days' latest tallies), recorded (valid doses of those days),
    backlog (the sum of each site-day's max(tallied - recorded, 0)), difference (tallied -
    recorded, which may be negative), days (site-days tallied), sites."""

    model_config = example(BACKLOG_ROW)
    site_id: str | None = None
    name: str | None = None
    province: str | None = None
    district: str | None = None
    age: str | None = None
    tallied: int
    recorded: int
    backlog: int
    difference: int
    days: int
    sites: int | None = None


class BacklogTotals(BaseModel):
    """The groups' sums: the same figures as a row, over every group."""

    model_config = example({k: v for k, v in BACKLOG_ROW.items() if k != "province"})
    tallied: int
    recorded: int
    backlog: int
    difference: int
    days: int
    sites: int


class Backlog(BaseModel):
    model_config = example({"group_by": "province", "rows": [BACKLOG_ROW], "total": {**BACKLOG_ROW}})
    group_by: str
    rows: list[BacklogRow]
    total: BacklogTotals
    next_cursor: str | None = None  # a page's: the next page's cursor (asked with `limit` or `cursor`)
