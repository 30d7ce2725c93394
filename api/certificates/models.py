"""The certificate on the wire: the projection's stored document, as it is sent."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from api.models import DOSE_ID, PERSON_ID, example

CERTIFICATE_DOSE = {
    "dose_id": DOSE_ID,
    "dose_number": 1,
    "booster": False,
    "vaccine": "EU/1/21/1529",
    "vaccine_name": "Vaxzevria",
    "lot": "AB1234",
    "administered_at": "2021-08-01T09:30:00+07:00",
    "site_id": "01-TYT-001",
}


class CertificateDose(BaseModel):
    model_config = example(CERTIFICATE_DOSE)
    dose_id: UUID
    dose_number: int = Field(description="computed from the valid doses in administered order")
    booster: bool | None = None
    vaccine: str
    vaccine_name: str | None = None
    lot: str | None = None
    administered_at: str
    site_id: str


class Certificate(BaseModel):
    model_config = example(
        {
            "person_id": PERSON_ID,
            "certificate_id": "c7a1d2e3-f4a5-5b6c-8d7e-9f0a1b2c3d4e",
            "version": 3,
            "status": "complete",
            "issued_at": "2021-08-29T10:02:11+07:00",
            "doses": [CERTIFICATE_DOSE],
            "revoked": ["a1b2c3d4-e5f6-5a7b-8c9d-0e1f2a3b4c5d"],
            "merged_into": None,
            "province": "01",
        }
    )
    person_id: UUID
    certificate_id: str | None = Field(
        description="null once the record was merged into another (`merged_into`): the survivor's "
        "certificate is the one that counts"
    )
    version: int
    status: str
    issued_at: str | None = None
    doses: list[CertificateDose]
    revoked: list[str] = Field(description="ids of the certificates this one supersedes")
    merged_into: UUID | None = None
    province: str | None = None
    erased: bool = Field(
        False, description="the person's personal data was erased: the doses and status stay, no one's"
    )
    links: dict[str, str] | None = Field(
        None,
        description="auditor and admin tokens only: `audit`, the history as a web page "
        "(/audit/persons/{id}); `history`, the same as JSON",
    )
