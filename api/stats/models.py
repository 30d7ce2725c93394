"""The statistics on the wire: dose counts and coverage."""

from __future__ import annotations

from pydantic import BaseModel

from api.models import example

GROUPS = ("date", "province", "site_id", "vaccine", "dose_number")


COUNT_ROW = {"date": "2021-08-01", "province": "01", "doses": 1520}


class DoseCountRow(BaseModel):
    model_config = example(COUNT_ROW)
    date: str | None = None
    province: str | None = None
    site_id: str | None = None
    vaccine: str | None = None
    dose_number: int | None = None
    doses: int


class DoseCounts(BaseModel):
    model_config = example({"rows": [COUNT_ROW], "total": 1520})
    rows: list[DoseCountRow]
    total: int


COVERAGE_ROW = {"province": "01", "status": "complete", "people": 804}


class CoverageRow(BaseModel):
    model_config = example(COVERAGE_ROW)
    province: str
    status: str
    people: int


class Coverage(BaseModel):
    model_config = example({"rows": [COVERAGE_ROW], "total": 804})
    rows: list[CoverageRow]
    total: int
