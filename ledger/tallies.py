"""A site's daily tally: how many doses of each vaccine it gave on a day, by its own count.

A site knows what it gave from its tally sheet (or the vials it opened); the ledger knows what
was recorded. The difference, per site and day, is the backlog (projections/backlog.py). A
tally is a claim about the site, never about a person: it holds counts only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from ledger import rules
from ledger.errors import InvalidValue

# What the site counted from: its tally sheet, the vials it opened, or something else.
BASES = ("tally_sheet", "vials_opened", "other")
MOST_DOSES = 1_000_000  # a day's count beyond this is a typing error, not a vaccination day


@dataclass(frozen=True)
class Tally:
    """A checked tally: the day (ISO), vaccine code → doses, what it was counted from, and the
    sender's request id (a retry with the same id is the same tally)."""

    day: str
    counts: dict[str, int]
    basis: str
    request_id: str | None = None

    def as_fields(self) -> dict[str, Any]:
        """The tally as a sender gives it (what `tally` checks)."""
        return {"day": self.day, "counts": self.counts, "source": self.basis, "request_id": self.request_id}

    @property
    def digest(self) -> str:
        """What the tally says, whatever its request id: two tallies saying the same are one."""
        content = orjson.dumps({"day": self.day, "counts": self.counts}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(content).hexdigest()


def tally(fields: dict[str, Any], prefix: str = "") -> Tally:
    """Check a tally as sent ({day, counts: {vaccine: n}, source?, request_id?}; `source`
    is what it was counted from, kept as the tally's basis); each failure
    names its field (`prefix` before it: the item of a list)."""
    if not isinstance(fields, dict):
        raise InvalidValue(prefix.rstrip(".") or "tally", "must be an object")
    day = rules.calendar_date(fields.get("day"), f"{prefix}day")
    if day > rules.now_ict().date():
        raise InvalidValue(f"{prefix}day", "is in the future")
    if day < rules.EARLIEST_DOSE:
        raise InvalidValue(f"{prefix}day", f"is before {rules.EARLIEST_DOSE.isoformat()}")
    raw = fields.get("counts")
    if not isinstance(raw, dict) or not raw:
        raise InvalidValue(f"{prefix}counts", "must name at least one vaccine and its doses")
    counts: dict[str, int] = {}
    for name, n in raw.items():
        where = f"{prefix}counts.{name}"
        code = rules.vaccine(name, where).code
        if code in counts:
            raise InvalidValue(where, f"names vaccine {code} a second time")
        counts[code] = doses(n, where)
    basis = fields.get("source") or "tally_sheet"  # what it was counted from, as the site says it
    if basis not in BASES:
        raise InvalidValue(f"{prefix}source", f"must be one of {', '.join(BASES)}")
    request_id = rules.text(fields.get("request_id"), f"{prefix}request_id", max_len=64, required=False)
    return Tally(day.isoformat(), dict(sorted(counts.items())), basis, request_id)


def doses(value: Any, field: str) -> int:
    """A count of doses: a whole number, 0 or more (a sheet's text, or a JSON 3.0, as well)."""
    n: int
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    else:
        raise InvalidValue(field, f"must be a whole number of doses, got {value!r}")
    if n < 0:
        raise InvalidValue(field, "must be 0 or more")
    if n > MOST_DOSES:
        raise InvalidValue(field, f"must be at most {MOST_DOSES}")
    return n
