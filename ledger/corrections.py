"""What a citizen may claim, checked into stored form, and the code that lets them follow it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime
from typing import Any

from ledger import rules
from ledger.errors import InvalidValue
from ledger.person import CORRECTION_KINDS, MISSING_DOSE, WRONG_DOSE, Person
from ledger.recording import as_uuid, dose_changes
from ledger.rules import ICT

# No 0/O, 1/I/L: read aloud over a phone line without mistakes.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def verification_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


def code_digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def filed_moment(filed_at: str) -> datetime:
    """When a request was filed: a date-time, or a date (the start of that day, Vietnam time)."""
    if len(filed_at) == 10:
        return datetime.combine(date.fromisoformat(filed_at), datetime.min.time(), ICT)
    return datetime.fromisoformat(filed_at)


def correction_claim(kind: Any, claim: Any, person: Person) -> dict[str, Any]:
    """The claimed values in stored form, so the same claim compares equal when filed again."""
    if kind not in CORRECTION_KINDS:
        raise InvalidValue("kind", f"must be one of {', '.join(CORRECTION_KINDS)}")
    if not isinstance(claim, dict) or not claim:
        raise InvalidValue("claim", "must be an object with the claimed values")
    if kind == MISSING_DOSE:
        unknown = sorted(set(claim) - {"vaccine", "administered_at", "site_id", "lot", "dose_number"})
        if unknown:
            raise InvalidValue(f"claim.{unknown[0]}", "is not a field of a missing dose claim")
        return {
            "vaccine": rules.vaccine(claim.get("vaccine"), "claim.vaccine").code,
            "administered_at": rules.administered_at(
                claim.get("administered_at"), "claim.administered_at", born=person.details["birth_date"]
            ),
            "site_id": rules.text(claim.get("site_id"), "claim.site_id", max_len=64),
            "lot": rules.text(claim.get("lot"), "claim.lot", max_len=64, required=False),
            "dose_number": rules.dose_number(claim.get("dose_number"), "claim.dose_number"),
        }
    if kind == WRONG_DOSE:
        dose_id = as_uuid(claim.get("dose_id", ""), "claim.dose_id")
        dose = person.dose(dose_id)
        if dose["voided"]:
            raise InvalidValue("claim.dose_id", "that dose is already voided")
        if claim.get("not_given") is True:
            return {"dose_id": str(dose_id), "not_given": True}
        try:
            changes = dose_changes(claim.get("changes"))
        except InvalidValue as error:
            raise InvalidValue(
                f"claim.changes.{error.field}".removesuffix(".changes"), error.message
            ) from None
        return {"dose_id": str(dose_id), "changes": changes}
    try:
        checked = rules.detail_changes(claim.get("changes"), person.details)
    except InvalidValue as error:
        raise InvalidValue(f"claim.changes.{error.field}".removesuffix(".changes"), error.message) from None
    if not checked:
        raise InvalidValue("claim.changes", "every claimed value equals the current one")
    return {"changes": checked}
