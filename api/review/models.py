"""The review queues on the wire: duplicate groups, two records side by side, data-quality flags
and their resolution (the provisional sites are `api.sites.models.SiteOut`)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.models import example

# ledger.flags.FLAG_KINDS, spelled out for the OpenAPI document (tests/api/test_review.py
# checks they agree).
FlagKind = Literal["dose-number-mismatch", "interval-too-short", "dose-before-birth", "feed-warning"]

PERSON_ID = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
DUPLICATE_ID = "0e7d5c4b-3a29-4817-9605-f4e3d2c1b0a9"
DOSE_ID = "2b8f0c1e-5d4a-5e3b-9c2d-1a0f9e8d7c6b"
MEMBER = {
    "person_id": PERSON_ID,
    "full_name": "Nguyễn Thị Lan",
    "birth_date": "1985-03-14",
    "province": "01",
    "district": "Ba Đình",
}
GROUP = {
    "group_id": PERSON_ID,
    "birth_date": "1985-03-14",
    "people": [MEMBER, {**MEMBER, "person_id": DUPLICATE_ID, "full_name": "Nguyen Thi Lan"}],
}
DOSE = {
    "dose_id": DOSE_ID,
    "dose_number": 1,
    "booster": False,
    "vaccine": "EU/1/20/1528",
    "lot": "FK1234",
    "administered_at": "2021-08-01",
    "site_id": "01-TYT-001",
    "reported_dose_number": 1,
    "voided": False,
}
RECORD = {
    **MEMBER,
    "national_id": "001185012345",
    "phone": "0912345678",
    "status": "partial",
    "merged_into": None,
    "erased": False,
    "doses": [DOSE],
    "flags": [],
}
FLAG = {
    "person_id": PERSON_ID,
    "province": "01",
    "kind": "dose-number-mismatch",
    "dose_id": DOSE_ID,
    "reported": 2,
    "computed": 1,
}


class GroupMember(BaseModel):
    """A person of a group. One outside a province token's provinces shows its id and province
    only (the others' names are that province's to read)."""

    model_config = example(MEMBER)

    person_id: UUID
    province: str
    full_name: str | None = None
    birth_date: str | None = None
    district: str | None = None


class DuplicateGroup(BaseModel):
    model_config = example(GROUP)
    group_id: UUID = Field(description="its first person's id: the list's order and cursor")
    birth_date: str | None = None
    people: list[GroupMember]


class DuplicateGroups(BaseModel):
    model_config = example({"groups": [GROUP], "next_cursor": None})
    groups: list[DuplicateGroup]
    next_cursor: str | None = Field(None, description="the next page's cursor (also in `Link`)")


class ComparedDose(BaseModel):
    model_config = example(DOSE)
    dose_id: UUID
    dose_number: int | None = Field(None, description="computed by the series rules; none when voided")
    booster: bool = False
    vaccine: str
    lot: str | None = None
    administered_at: str
    site_id: str
    reported_dose_number: int | None = None
    voided: bool = False


class ComparedRecord(BaseModel):
    model_config = example(RECORD)
    person_id: UUID
    full_name: str | None = None
    birth_date: str | None = None
    national_id: str | None = None
    phone: str | None = None
    province: str
    district: str | None = None
    status: str
    merged_into: UUID | None = None
    erased: bool = False
    doses: list[ComparedDose]
    flags: list[dict[str, object]] = Field(description="the data-quality flags not resolved")


class Comparison(BaseModel):
    """Two people side by side, for the merge page: `a` then `b`."""

    model_config = example({"people": [RECORD, {**RECORD, "person_id": DUPLICATE_ID, "doses": []}]})

    people: list[ComparedRecord]


class Flag(BaseModel):
    model_config = example(
        FLAG,
        {
            "person_id": PERSON_ID,
            "province": "01",
            "kind": "feed-warning",
            "dose_id": DOSE_ID,
            "site_id": "01-TYT-001",
            "warnings": [{"where": "RXA-11", "reason": "no facility type"}],
        },
    )
    person_id: UUID
    province: str
    kind: FlagKind
    dose_id: UUID
    reported: int | None = None
    computed: int | None = None
    days: int | None = None
    minimum: int | None = None
    site_id: str | None = None
    warnings: list[dict[str, str]] | None = None


class FlagList(BaseModel):
    model_config = example({"flags": [FLAG], "next_cursor": None})
    flags: list[Flag]
    next_cursor: str | None = Field(None, description="the next page's cursor (also in `Link`)")


class FlagResolutionIn(BaseModel):
    model_config = example(
        {
            "dose_id": DOSE_ID,
            "kind": "dose-number-mismatch",
            "reason": "the site's paper register numbers it 1",
        },
        forbid_extra=True,
    )
    dose_id: UUID
    kind: FlagKind
    reason: str = Field(description="why the flag needs nothing more (no personal data)")


class FlagResolved(BaseModel):
    model_config = example({"person_id": PERSON_ID, "position": 4120})
    person_id: UUID
    position: int | None
