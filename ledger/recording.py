"""A dose as a site reports it, checked and in stored form, before any aggregate is touched."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger import rules
from ledger.chain import canonical
from ledger.errors import InvalidValue
from ledger.keys import dose_id_for
from ledger.person import AMENDABLE

DOSE_FIELDS = (
    "site_id",
    "site_record_id",
    "vaccine",
    "administered_at",
    "lot",
    "dose_number",
    "person_id",
    "person",
)


@dataclass(frozen=True)
class DoseReport:
    site_id: str
    site_record_id: str
    vaccine: str  # catalog code
    administered_at: str
    lot: str | None
    reported_dose_number: int | None
    person_id: UUID | None
    person: dict[str, Any] | None  # an inline registration, checked
    source: dict[str, Any]
    digest: str  # what "the same content" means for a retried record

    @property
    def dose_id(self) -> UUID:
        return dose_id_for(self.site_id, self.site_record_id)


def as_uuid(value: UUID | str, field: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidValue(field, f"must be a UUID, got {value!r}") from None


def dose_report(fields: dict[str, Any], source: dict[str, Any] | None = None) -> DoseReport:
    """Check a reported dose; raises a LedgerError naming the first field at fault."""
    unknown = sorted(set(fields) - set(DOSE_FIELDS))
    if unknown:
        raise InvalidValue(unknown[0], "is not a field of a dose")
    site_id = rules.text(fields.get("site_id"), "site_id", max_len=64)
    site_record_id = rules.text(fields.get("site_record_id"), "site_record_id", max_len=128)
    product = rules.vaccine(fields.get("vaccine"))
    lot = rules.text(fields.get("lot"), "lot", max_len=64, required=False)
    reported = rules.dose_number(fields.get("dose_number"))
    administered = rules.administered_at(fields.get("administered_at"))
    person_id, person = fields.get("person_id"), fields.get("person")
    if (person_id is None) == (person is None):
        raise InvalidValue("person_id", "give either person_id or a person to register")
    details = rules.person_details(person, "person.") if person is not None else None
    pid = as_uuid(person_id, "person_id") if person_id is not None else None
    digest = hashlib.sha256(
        canonical(
            {
                "person_id": pid,
                "person": details,
                "vaccine": product.code,
                "lot": lot,
                "administered_at": administered,
                "dose_number": reported,
            }
        )
    ).hexdigest()
    assert site_id is not None and site_record_id is not None
    return DoseReport(
        site_id=site_id,
        site_record_id=site_record_id,
        vaccine=product.code,
        administered_at=administered,
        lot=lot,
        reported_dose_number=reported,
        person_id=pid,
        person=details,
        source=source or {"kind": "site", "site_id": site_id, "site_record_id": site_record_id},
        digest=digest,
    )


def dose_changes(changes: Any) -> dict[str, Any]:
    """What an amendment changes, checked and in stored form (dose_number is the reported one)."""
    if not isinstance(changes, dict) or not changes:
        raise InvalidValue("changes", "must name at least one field to change")
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        stored_name = "reported_dose_number" if name == "dose_number" else name
        if stored_name not in AMENDABLE:
            raise InvalidValue(name, "is not a field that an amendment can change")
        if name == "vaccine":
            value = rules.vaccine(value).code
        elif name == "administered_at":
            value = rules.administered_at(value)
        elif name == "lot":
            value = rules.text(value, "lot", max_len=64, required=False)
        elif name == "site_id":
            value = rules.text(value, "site_id", max_len=64)
        else:
            value = rules.dose_number(value, name)
        checked[stored_name] = value
    return checked
