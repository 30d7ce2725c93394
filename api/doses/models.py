"""The shapes of doses on the wire: one, a batch, an amendment, a void."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, SkipValidation

from api.models import DOSE_ID, PERSON_ID, FieldError, example
from api.persons.models import LAN, PersonIn

DOSE = {
    "person_id": PERSON_ID,
    "site_id": "01-TYT-001",
    "site_record_id": "REC-2021-000123",
    "vaccine": "EU/1/21/1529",
    "lot": "AB1234",
    "administered_at": "2021-08-01T09:30:00",
    "dose_number": 1,
}


class DoseIn(BaseModel):
    model_config = example(
        DOSE,
        {
            **{k: v for k, v in DOSE.items() if k != "person_id"},
            "site_record_id": "REC-2021-000124",
            "person": {
                **LAN,
                "full_name": "Trần Văn Hùng",
                "national_id": None,
                "sex": "male",
                "birth_date": "1962-05-05",
            },
        },
        forbid_extra=True,
    )
    person_id: UUID | None = Field(None, description="an existing person; or give `person`")
    person: PersonIn | None = Field(
        None, description="register inline (an existing national id finds its person)"
    )
    site_id: str = Field(description="a site missing from the directory is accepted, and listed provisional")
    site_record_id: str = Field(
        description="the site's own record id: (site_id, site_record_id) "
        "is the dose; sent again it is a duplicate"
    )
    vaccine: str = Field(description="EU DCC code (EU/1/20/1528) or a known name (Pfizer, Vero Cell)")
    lot: str | None = None
    administered_at: str = Field(
        description="ISO date or date-time; without a zone it is Vietnam time (UTC+7)"
    )
    dose_number: int | None = Field(
        None, description="as the site counted it (the certificate computes its own)"
    )


class DoseRecorded(BaseModel):
    model_config = example(
        {
            "dose_id": DOSE_ID,
            "person_id": PERSON_ID,
            "position": 1043,
            "duplicate": False,
            "certificate_code": "1B7QX-4M0TR-ZK2PA-9V6CE-HD3WN-S8",
        }
    )
    dose_id: UUID
    person_id: UUID
    position: int | None
    duplicate: bool
    certificate_code: str = Field(
        description="the code to print for the person: with their birth date it opens their "
        "certificate on the citizens' page (/citizen/)"
    )


class DoseBatchIn(BaseModel):
    model_config = example(
        {"doses": [DOSE, {**DOSE, "site_record_id": "REC-2021-000125", "administered_at": "2021-08-29"}]},
        forbid_extra=True,
    )
    # Items are checked one by one in the endpoint, so one bad item cannot sink the batch.
    doses: list[SkipValidation[DoseIn]] = Field(min_length=1, max_length=1000)


BATCH_RESULTS = [
    {"index": 0, "status": "created", "dose_id": DOSE_ID, "person_id": PERSON_ID, "position": 1044},
    {
        "index": 1,
        "status": "rejected",
        "errors": [{"loc": ["body", "doses", 1, "administered_at"], "msg": "is in the future"}],
    },
]


class DoseBatchItem(BaseModel):
    model_config = example(*BATCH_RESULTS)
    index: int
    status: Literal["created", "duplicate", "conflict", "rejected"]
    dose_id: UUID | None = None
    person_id: UUID | None = None
    position: int | None = None
    errors: list[FieldError] | None = None


class DoseBatchOut(BaseModel):
    model_config = example(
        {"results": BATCH_RESULTS, "counts": {"created": 1, "duplicate": 0, "conflict": 0, "rejected": 1}}
    )
    results: list[DoseBatchItem]
    counts: dict[str, int]


class AmendIn(BaseModel):
    model_config = example({"lot": "AB1243", "reason": "lot number mistyped"}, forbid_extra=True)
    vaccine: str | None = None
    lot: str | None = None
    administered_at: str | None = None
    site_id: str | None = None
    dose_number: int | None = None
    reason: str


class VoidIn(BaseModel):
    model_config = example({"reason": "entered in error: the same dose was entered twice"}, forbid_extra=True)
    reason: str


class DoseChanged(BaseModel):
    model_config = example({"dose_id": DOSE_ID, "person_id": PERSON_ID, "position": 1050})
    dose_id: UUID
    person_id: UUID
    position: int | None
