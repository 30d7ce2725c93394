"""One cell of a retro-import row → the value the ledger takes, or the reason it cannot be.

Cells come as text (CSV) or as typed values (XLSX: numbers, dates). Dates are day first, as
Vietnam writes them; a month-first date is refused, never guessed. The ledger's own rules then
check each value, so a row's every fault is reported at once, column by column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any, TypeVar

from intake.codes import province_names
from ledger import rules
from ledger.errors import LedgerError
from ledger.names import clean, match_key
from ledger.tallies import doses as tally_doses

_Checked = TypeVar("_Checked")


class BadCell(Exception):
    """A cell the row cannot use; the message says why and what to type instead."""


_DAY_FIRST = re.compile(
    r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EXCEL_LAST_SERIAL = 2958465  # 9999-12-31
_FORMULA_START = ("=",)
_NAME_FORBIDDEN_START = ("=", "+", "-", "@")
SEXES = {"nam": "male", "nu": "female", "khac": "other", "male": "male", "female": "female", "other": "other"}


def blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def as_text(cell: Any) -> str | None:
    """Any cell as text; an XLSX number that is whole loses its '.0'."""
    if blank(cell):
        return None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if isinstance(cell, (datetime, date)):
        return cell.isoformat()
    text = str(cell)
    if "\ufffd" in text:
        raise BadCell("is not valid text in the file's encoding: save the file as CSV UTF-8")
    if text.lstrip().startswith(_FORMULA_START):
        raise BadCell("is a spreadsheet formula; type the value itself (formulas are never run)")
    return clean(text)


def _ruled(check: Callable[..., _Checked], value: Any, *args: Any, **kwargs: Any) -> _Checked:
    try:
        return check(value, *args, **kwargs)
    except LedgerError as e:
        raise BadCell(e.message) from None


def text(cell: Any, *, max_len: int) -> str | None:
    value = as_text(cell)
    if value is not None and len(value) > max_len:
        raise BadCell(f"must be at most {max_len} characters")
    return value


def full_name(cell: Any) -> str | None:
    value = as_text(cell)
    if value is not None and value.startswith(_NAME_FORBIDDEN_START):
        raise BadCell(f"a name cannot start with {value[0]!r} (it reads as a spreadsheet formula)")
    return _ruled(rules.text, value, "full_name", required=False)


def _day_first(text: str, *, birth: bool) -> date | datetime:
    m = _DAY_FIRST.match(text)
    if not m:
        raise BadCell("must be a date as dd/mm/yyyy (e.g. 14/03/1985) or yyyy-mm-dd")
    day, month, year = int(m[1]), int(m[2]), int(m[3])
    if len(m[3]) == 2:
        # Two-digit years: doses are all this century; a birth year in the future is last century.
        year += 2000
        if birth and year > date.today().year:
            year -= 100
    try:
        if m[4] is not None:
            return datetime(year, month, day, int(m[4]), int(m[5]), int(m[6] or 0))
        return date(year, month, day)
    except ValueError:
        hint = " (the day comes first: dd/mm/yyyy)" if month > 12 >= day else ""
        raise BadCell(f"is not a calendar date{hint}") from None


def _moment(cell: Any, *, birth: bool) -> date | datetime:
    if isinstance(cell, datetime):
        return cell.date() if cell.time() == time(0) else cell
    if isinstance(cell, date):
        return cell
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        # An Excel date cell formatted as a number: days since Excel's epoch.
        if not 1 <= cell <= _EXCEL_LAST_SERIAL:
            raise BadCell("is a number, not a date")
        from openpyxl.utils.datetime import from_excel

        return _moment(from_excel(cell), birth=birth)
    raw = as_text(cell)
    assert raw is not None
    if _ISO_DAY.match(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise BadCell("is not a calendar date") from None
    if len(raw) > 10 and _ISO_DAY.match(raw[:10]):  # an ISO date-time, e.g. from another system
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise BadCell("is not a date-time in ISO form") from None
        return moment.date() if birth else moment
    return _day_first(raw, birth=birth)


def birth_date(cell: Any) -> str | None:
    if blank(cell):
        return None
    moment = _moment(cell, birth=True)
    if isinstance(moment, datetime):
        moment = moment.date()
    return _ruled(rules.birth_date, moment)


def death_date(cell: Any) -> str | None:
    """Read for a check only (a dose given after it is flagged); the ledger does not store it."""
    if blank(cell):
        return None
    moment = _moment(cell, birth=True)
    if isinstance(moment, datetime):
        moment = moment.date()
    if moment > date.today():
        raise BadCell("is in the future")
    return moment.isoformat()


def administered_at(cell: Any) -> str | None:
    if blank(cell):
        return None
    return _ruled(rules.administered_at, _moment(cell, birth=False))


def day(cell: Any) -> str | None:
    """A tally's day (ISO): a date cell, dd/mm/yyyy or yyyy-mm-dd; a time of day is dropped."""
    if blank(cell):
        return None
    moment = _moment(cell, birth=False)
    return (moment.date() if isinstance(moment, datetime) else moment).isoformat()


def doses(cell: Any) -> int | None:
    """A tally's count of doses: a whole number, 0 or more."""
    if blank(cell):
        return None
    if isinstance(cell, str):
        cell = cell.strip()
        if not (cell.isascii() and cell.isdigit()):  # '²' is a digit to isdigit(), not to int()
            raise BadCell(f"must be a whole number of doses, got {cell!r}")
    return _ruled(tally_doses, cell, "doses")


def sex(cell: Any) -> str | None:
    value = as_text(cell)
    if value is None:
        return None
    found = SEXES.get(match_key(value))
    if found is None:
        raise BadCell("must be Nam, Nữ or Khác (or male, female, other)")
    return found


def _digits(cell: Any) -> str | None:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return as_text(cell)


def phone(cell: Any) -> str | None:
    value = _digits(cell)
    if value is not None and isinstance(cell, (int, float)) and not value.startswith("84"):
        value = "0" + value  # a number cell dropped the leading zero
    return _ruled(rules.phone, value)


def national_id(cell: Any) -> str | None:
    value = _digits(cell)
    if value is not None and isinstance(cell, (int, float)):
        # A number cell dropped the leading zeros: a CCCD is 12 digits, a CMND 9.
        value = value.zfill(12) if len(value) > 9 else value.zfill(9)
    return _ruled(rules.national_id, value)


def province(cell: Any) -> str | None:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if isinstance(cell, int):
        return _ruled(rules.province, cell)
    value = as_text(cell)
    if value is None:
        return None
    if not value.isdigit():
        value = province_names().get(match_key(value), value)
    return _ruled(rules.province, value)


def dose_number(cell: Any) -> int | None:
    if blank(cell):
        return None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    # isdigit() is true of '²', which int() refuses: ASCII digits only (found by fuzzing)
    if isinstance(cell, str) and cell.strip().isascii() and cell.strip().isdigit():
        cell = int(cell.strip())
    return _ruled(rules.dose_number, cell)


def vaccine(cell: Any) -> str | None:
    value = as_text(cell)
    if value is None:
        return None
    return _ruled(rules.vaccine, value).code


# field → how its cell is read
READERS: dict[str, Callable[[Any], Any]] = {
    "site_record_id": lambda c: text(c, max_len=128),
    "full_name": full_name,
    "birth_date": birth_date,
    "death_date": death_date,
    "sex": sex,
    "national_id": national_id,
    "phone": phone,
    "province": province,
    "district": lambda c: text(c, max_len=100),
    "address": lambda c: text(c, max_len=300),
    "vaccine": vaccine,
    "lot": lambda c: text(c, max_len=64),
    "administered_at": administered_at,
    "dose_number": dose_number,
    "site_id": lambda c: text(c, max_len=64),
}
