"""The shapes of people on the wire: registration, look-ups (a site's, everyone else's), merges."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.models import PERSON_ID, example

LAN = {
    "full_name": "Nguyễn Thị Lan",
    "birth_date": "1985-03-14",
    "sex": "female",
    "national_id": "001185012345",
    "phone": "0912345678",
    "province": "01",
    "district": "Ba Đình",
    "address": "12 Phố Huế",
}


class PersonIn(BaseModel):
    model_config = example(LAN, forbid_extra=True)
    full_name: str = Field(description="as written, with diacritics (stored in Unicode NFC)")
    birth_date: str = Field(description="YYYY-MM-DD", json_schema_extra={"format": "date"})
    sex: Literal["male", "female", "other"] | None = None
    national_id: str | None = Field(None, description="CCCD (12 digits) or CMND (9 digits)")
    phone: str | None = Field(None, description="a contact: any number of people may share one")
    province: str = Field(description="2-digit province code, e.g. 01 Hà Nội, 79 Hồ Chí Minh")
    district: str | None = None
    address: str | None = None


class PersonRegistered(BaseModel):
    model_config = example({"person_id": PERSON_ID, "created": True, "position": 1042})
    person_id: UUID
    created: bool = Field(description="false: this national id was already registered")
    position: int | None = Field(description="store position to pass as min_position to reads")


SUMMARY = {
    "person_id": PERSON_ID,
    "full_name": "Nguyễn Thị Lan",
    "birth_date": "1985-03-14",
    "province": "01",
    "district": "Ba Đình",
    "status": "complete",
}


class PersonSummary(BaseModel):
    model_config = example(SUMMARY)
    person_id: UUID
    full_name: str
    birth_date: str
    province: str
    district: str | None = None
    status: str


class PersonList(BaseModel):
    """The answer to a look-up by a province, auditor or admin token (site tokens: `SitePersonList`)."""

    model_config = example({"persons": [SUMMARY]})
    persons: list[PersonSummary]


SITE_DOSE = {"vaccine": "EU/1/20/1528", "administered_on": "2021-08-01", "dose_number": 1, "booster": False}
SITE_SUMMARY = {
    "person_id": PERSON_ID,
    "full_name": "Nguyễn Thị Lan",
    "birth_year": 1985,
    "status": "partial",
    "doses": [SITE_DOSE],
}


class SiteDose(BaseModel):
    model_config = example(SITE_DOSE)
    vaccine: str = Field(description="the catalog code")
    administered_on: str = Field(description="YYYY-MM-DD", json_schema_extra={"format": "date"})
    dose_number: int = Field(description="computed from the valid doses in administered order")
    booster: bool | None = None


class SitePersonSummary(BaseModel):
    """What a vaccinator needs to tell people apart and give the next dose, and no more: a
    leaked site token reads no birth date, phone, national id or address."""

    model_config = example(SITE_SUMMARY)
    person_id: UUID
    full_name: str
    birth_year: int
    status: str = Field(description="the series status the valid doses give")
    doses: list[SiteDose]


class SitePersonList(BaseModel):
    """The answer to a site token's look-up (other roles: `PersonList`)."""

    model_config = example({"persons": [SITE_SUMMARY]})
    persons: list[SitePersonSummary]


class MergeIn(BaseModel):
    model_config = example(
        {
            "duplicate_person_id": "0e7d5c4b-3a29-4817-9605-f4e3d2c1b0a9",
            "reason": "the same person registered twice by two sites",
        },
        forbid_extra=True,
    )
    duplicate_person_id: UUID
    reason: str


class UnmergeIn(BaseModel):
    model_config = example(
        {
            "duplicate_person_id": "0e7d5c4b-3a29-4817-9605-f4e3d2c1b0a9",
            "reason": "twins with the same name: the national ids differ",
        },
        forbid_extra=True,
    )
    duplicate_person_id: UUID = Field(description="the person merged into this one")
    reason: str


class ErasureIn(BaseModel):
    model_config = example(
        {"reason": "the citizen's request of 2026-11-02 under the personal data protection decree"},
        forbid_extra=True,
    )
    reason: str = Field(description="why (a reference to the request; no personal data)")


class Written(BaseModel):
    model_config = example({"person_id": PERSON_ID, "position": 2210})
    person_id: UUID
    position: int | None
