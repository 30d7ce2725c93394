"""Data-quality flags of a person's doses, and what an official's resolution of one holds for.

A flag is raised, never a refusal: by the series rules (`ledger.series`: a reported dose number
that is not the computed one, an interval below the catalog's minimum, a dose before the birth
date) or by a feed that booked the dose with warnings ("feed-warning": each warning's place in
the sender's terms and its reason, never a value). A void clears every flag of the dose.

A resolution is for the dose as it was: it holds while the flag says what it said (its detail:
the reported and computed numbers, the interval, the warnings) about a dose whose fields are
what they were. An amendment of the dose, or another dose that changes what the flag says (a
new number, a shorter interval), raises it again, to be looked at again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.series import evaluate

FEED_WARNING = "feed-warning"
FLAG_KINDS = ("dose-number-mismatch", "interval-too-short", "dose-before-birth", FEED_WARNING)
# The fields of a dose a resolution remembers: a change to any raises the flag again.
RESOLVED_FIELDS = ("vaccine", "lot", "administered_at", "site_id", "reported_dose_number")


def warnings_of(dose: dict[str, Any]) -> list[str]:
    """What a feed's sender was warned of when it booked the dose: kept in the dose's source in
    the ledger, beside the dose in the views' records."""
    warnings = dose.get("warnings")
    if warnings is None:
        warnings = (dose.get("source") or {}).get("warnings")
    return list(warnings or ())


def feed_flags(doses: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A flag per valid dose a feed booked with warnings: the dose, its site, and each warning's
    place and reason (the source keeps each as "where: reason")."""
    return [
        {
            "kind": FEED_WARNING,
            "dose_id": dose["dose_id"],
            "site_id": dose["site_id"],
            "warnings": [_placed(w) for w in warnings_of(dose)],
        }
        for dose in doses
        if warnings_of(dose) and not dose["voided"]
    ]


def _placed(warning: str) -> dict[str, str]:
    where, _, reason = warning.partition(": ")
    return {"where": where, "reason": reason}


def flags_of(doses: dict[str, dict[str, Any]], birth_date: str | None) -> list[dict[str, Any]]:
    """Every flag of these doses (by dose id): the series rules' then the feeds'."""
    return [*evaluate(doses.values(), birth_date).flags, *feed_flags(doses.values())]


def flag_key(dose_id: str, kind: str) -> str:
    return f"{dose_id}:{kind}"


def dose_of_flag_key(key: str) -> str:
    return key.split(":", 1)[0]


def resolution_of(flag: dict[str, Any], dose: dict[str, Any]) -> dict[str, Any]:
    """What a resolution of `flag` on `dose` holds for (no personal data: a flag says nothing
    of the person, a dose's fields are the site's record)."""
    return {"flag": dict(flag), "dose": {k: dose.get(k) for k in RESOLVED_FIELDS}}


def unresolved(
    flags: Iterable[dict[str, Any]], doses: dict[str, dict[str, Any]], resolved: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The flags no resolution holds for (`resolved`: flag key → `resolution_of` as resolved)."""
    return [
        f
        for f in flags
        if (held := resolved.get(flag_key(f["dose_id"], f["kind"]))) is None
        or {"flag": held["flag"], "dose": held["dose"]} != resolution_of(f, doses[f["dose_id"]])
    ]
