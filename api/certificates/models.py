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


class SupersededVersion(BaseModel):
    model_config = example(
        {
            "certificate_id": "a1b2c3d4-e5f6-8a7b-8c9d-0e1f2a3b4c5d",
            "reason": "amended",
            "successor": "c7a1d2e3-f4a5-8b6c-8d7e-9f0a1b2c3d4e",
        }
    )
    certificate_id: str
    reason: str = Field(
        description="why a later version replaced it: dose-added, amended, voided, merged, rules, "
        "erased or details-corrected"
    )
    successor: str | None = Field(description="the version that replaced it (null: none, e.g. merged away)")


class Certificate(BaseModel):
    model_config = example(
        {
            "person_id": PERSON_ID,
            "certificate_id": "c7a1d2e3-f4a5-8b6c-8d7e-9f0a1b2c3d4e",
            "version": 3,
            "status": "complete",
            "issued_at": "2021-08-29T10:02:11+07:00",
            "content_digest": "c7a1d2e3f4a50b6c0d7e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d",
            "rules_version": 1,
            "doses": [CERTIFICATE_DOSE],
            "revoked": ["a1b2c3d4-e5f6-8a7b-8c9d-0e1f2a3b4c5d"],
            "superseded": [
                {
                    "certificate_id": "a1b2c3d4-e5f6-8a7b-8c9d-0e1f2a3b4c5d",
                    "reason": "dose-added",
                    "successor": "c7a1d2e3-f4a5-8b6c-8d7e-9f0a1b2c3d4e",
                }
            ],
            "merged_into": None,
            "province": "01",
        }
    )
    person_id: UUID
    certificate_id: str | None = Field(
        description="a keyed digest of what the version certifies (the same content, the same id); "
        "null when nothing is certified: no dose yet, erased, or merged into another "
        "(`merged_into`: the survivor's certificate is the one that counts)"
    )
    version: int
    status: str
    issued_at: str | None = None
    doses: list[CertificateDose]
    revoked: list[str] = Field(description="ids of the certificates this one supersedes")
    superseded: list[SupersededVersion] = Field(
        default_factory=list, description="the versions this one supersedes, each with why and by which"
    )
    content_digest: str | None = Field(None, description="keyed digest of the certified content (hex)")
    rules_version: int | None = Field(None, description="the series rules version that numbered the doses")
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
