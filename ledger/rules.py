"""Checks on what a sender gives the ledger. Each failure names the field at fault.

They run in command methods, before any event exists, so a rule tightened later never
stops an old stream from loading.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, overload

from ledger.catalog import Vaccine, provinces, vaccine_catalog
from ledger.errors import InvalidValue, UnknownVaccine
from ledger.names import clean

ICT = timezone(timedelta(hours=7), "ICT")  # Vietnam time: a date-time without a zone means this
EARLIEST_DOSE = date(2020, 7, 1)  # no COVID-19 vaccine was given outside trials before this
EARLIEST_BIRTH = date(1890, 1, 1)
SEXES = ("male", "female", "other")
_PHONE_PUNCTUATION = re.compile(r"[\s.\-()]")
# Searched in C: a generator over every character was half of checking a dose's text fields.
_CONTROL = re.compile(r"[\x00-\x1f]")


def now_ict() -> datetime:
    return datetime.now(ICT)


@overload
def text(value: Any, field: str, *, max_len: int = ..., required: Literal[True] = ...) -> str: ...
@overload
def text(value: Any, field: str, *, max_len: int = ..., required: bool) -> str | None: ...


def text(value: Any, field: str, *, max_len: int = 200, required: bool = True) -> str | None:
    """Clean free text (NFC, single spaces); None for an optional blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidValue(field, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidValue(field, "must be a string")
    cleaned = clean(value)
    if len(cleaned) > max_len:
        raise InvalidValue(field, f"must be at most {max_len} characters")
    if _CONTROL.search(cleaned):
        raise InvalidValue(field, "must not contain control characters")
    return cleaned


def calendar_date(value: Any, field: str) -> date:
    if isinstance(value, datetime):
        raise InvalidValue(field, "must be a date (YYYY-MM-DD), not a date-time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidValue(field, f"must be a date in the form YYYY-MM-DD, got {value!r}")


def birth_date(value: Any, field: str = "birth_date") -> str:
    born = calendar_date(value, field)
    if born > now_ict().date():
        raise InvalidValue(field, "is in the future")
    if born < EARLIEST_BIRTH:
        raise InvalidValue(field, f"is before {EARLIEST_BIRTH.isoformat()}")
    return born.isoformat()


def administered_at(value: Any, field: str = "administered_at", *, born: str | None = None) -> str:
    """A date, or a date-time (Vietnam time when no zone is given), as stored: ISO in ICT."""
    moment: date | datetime
    if isinstance(value, (date, datetime)):
        moment = value
    elif isinstance(value, str):
        raw = value.strip()
        try:
            moment = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidValue(field, f"must be an ISO date or date-time, got {value!r}") from None
    else:
        raise InvalidValue(field, f"must be an ISO date or date-time, got {value!r}")
    if isinstance(moment, datetime):
        moment = (moment.replace(tzinfo=ICT) if moment.tzinfo is None else moment).astimezone(ICT)
        moment = moment.replace(microsecond=0)
        day = moment.date()
        if moment > now_ict() + timedelta(minutes=5):  # five minutes for clock drift at sites
            raise InvalidValue(field, "is in the future")
        stored = moment.isoformat()
    else:
        day = moment
        if day > now_ict().date():
            raise InvalidValue(field, "is in the future")
        stored = day.isoformat()
    if day < EARLIEST_DOSE:
        raise InvalidValue(
            field, f"is before {EARLIEST_DOSE.isoformat()}, when no COVID-19 vaccine was given"
        )
    if born is not None:
        not_before_birth(stored, born, field)
    return stored


def not_before_birth(administered: str, born: str | None, field: str = "administered_at") -> None:
    """The birth-date check alone, of a value `administered_at` already gave: a decision makes
    it when it knows whom the dose is for, without parsing and formatting the value again."""
    if born is not None and day_of(administered) < date.fromisoformat(born):
        raise InvalidValue(field, "is before the person's birth date")


def day_of(administered: str) -> date:
    """The Vietnam calendar day of a stored administered_at value."""
    return date.fromisoformat(administered[:10])


def vaccine(value: Any, field: str = "vaccine") -> Vaccine:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(field, "is required: a vaccine code (EU DCC value set) or name")
    found = vaccine_catalog().lookup(value.strip())
    if found is None:
        raise UnknownVaccine(value, field)
    return found


def province(value: Any, field: str = "province") -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:02d}"
    if not isinstance(value, str) or value.strip().zfill(2) not in provinces():
        raise InvalidValue(field, f"must be a 2-digit Vietnamese province code, got {value!r}")
    return value.strip().zfill(2)


def sex(value: Any, field: str = "sex") -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip().lower() not in SEXES:
        raise InvalidValue(field, f"must be one of {', '.join(SEXES)}")
    return value.strip().lower()


def phone(value: Any, field: str = "phone") -> str | None:
    """Stored as digits in the national form (0xxxxxxxxx); '+84' is folded to '0'."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidValue(field, "must be a string of digits")
    digits = _PHONE_PUNCTUATION.sub("", value)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not (digits.isascii() and digits.isdigit()) or not 9 <= len(digits) <= 11:
        raise InvalidValue(field, f"must be a phone number of 9 to 11 digits, got {value!r}")
    return digits


def national_id(value: Any, field: str = "national_id") -> str | None:
    """A citizen identity card (CCCD, 12 digits) or an older identity card (CMND, 9 digits)."""
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or not (value.strip().isascii() and value.strip().isdigit())
        or len(value.strip()) not in (9, 12)
    ):
        raise InvalidValue(field, "must be 9 (CMND) or 12 (CCCD) digits")
    return value.strip()


def dose_number(value: Any, field: str = "dose_number") -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 20:
        raise InvalidValue(field, "must be a whole number from 1 to 20")
    return value


def reason(value: Any, field: str = "reason") -> str:
    return text(value, field, max_len=1000)


PERSON_FIELDS = ("full_name", "birth_date", "sex", "national_id", "phone", "province", "district", "address")


def person_details(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A registration's details, checked and in stored form."""
    if not isinstance(raw, dict):
        raise InvalidValue(prefix.rstrip(".") or "person", "must be an object")
    unknown = sorted(set(raw) - set(PERSON_FIELDS))
    if unknown:
        raise InvalidValue(prefix + unknown[0], "is not a field of a person")
    return {
        "full_name": text(raw.get("full_name"), prefix + "full_name"),
        "birth_date": birth_date(raw.get("birth_date"), prefix + "birth_date"),
        "sex": sex(raw.get("sex"), prefix + "sex"),
        "national_id": national_id(raw.get("national_id"), prefix + "national_id"),
        "phone": phone(raw.get("phone"), prefix + "phone"),
        "province": province(raw.get("province"), prefix + "province"),
        "district": text(raw.get("district"), prefix + "district", max_len=100, required=False),
        "address": text(raw.get("address"), prefix + "address", max_len=300, required=False),
    }


def detail_changes(raw: Any, current: dict[str, Any]) -> dict[str, Any]:
    """The fields a correction changes, checked; unchanged values are dropped."""
    if not isinstance(raw, dict) or not raw:
        raise InvalidValue("changes", "must name at least one field to change")
    unknown = sorted(set(raw) - set(PERSON_FIELDS))
    if unknown:
        raise InvalidValue(unknown[0], "is not a field of a person")
    merged = {**current, **raw}
    checked = person_details({k: merged.get(k) for k in PERSON_FIELDS})
    return {k: checked[k] for k in raw if checked.get(k) != current.get(k)}
