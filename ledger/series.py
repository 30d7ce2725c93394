"""Dose numbers and vaccination status, computed from a person's valid doses.

Numbers come from administered order, never from what a site reported: a reported number
that disagrees is a data-quality flag, not a rejection. Mixed products count towards one
primary series (AstraZeneca then Pfizer completes two doses); the series is complete at the
first dose whose running count reaches that product's series length; later doses are boosters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

from ledger.catalog import Catalog, vaccine_catalog
from ledger.rules import day_of

NONE, PARTIAL, COMPLETE, BOOSTER = "none", "partial", "complete", "booster"


@dataclass(frozen=True)
class NumberedDose:
    dose: dict[str, Any]
    number: int
    booster: bool


@dataclass(frozen=True)
class Evaluation:
    doses: list[NumberedDose]
    status: str
    flags: list[dict[str, Any]] = field(default_factory=list)


def administered_order(doses: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(doses, key=lambda d: (d["administered_at"], d["seq"]))


def evaluate(
    doses: Iterable[dict[str, Any]], birth_date: str | None = None, catalog: Catalog | None = None
) -> Evaluation:
    catalog = catalog or vaccine_catalog()
    ordered = administered_order(d for d in doses if not d.get("voided"))
    numbered: list[NumberedDose] = []
    flags: list[dict[str, Any]] = []
    complete_at: int | None = None
    # The previous dose and its day: each dose's day parsed once, not once per pair.
    previous: tuple[dict[str, Any], date] | None = None
    for number, dose in enumerate(ordered, start=1):
        product = catalog.vaccines.get(dose["vaccine"])
        if complete_at is None and product is not None and number >= product.series_doses:
            complete_at = number
        numbered.append(NumberedDose(dose, number, complete_at is not None and number > complete_at))
        reported = dose.get("reported_dose_number")
        if reported is not None and reported != number:
            flags.append({"kind": "dose-number-mismatch", "dose_id": dose["dose_id"],
                          "reported": reported, "computed": number})
        day = day_of(dose["administered_at"])
        if previous is not None:
            prev_product = catalog.vaccines.get(previous[0]["vaccine"])
            gap = (day - previous[1]).days
            if prev_product is not None and gap < prev_product.min_interval_days:
                flags.append({"kind": "interval-too-short", "dose_id": dose["dose_id"],
                              "days": gap, "minimum": prev_product.min_interval_days})
        if birth_date is not None and dose["administered_at"][:10] < birth_date:
            flags.append({"kind": "dose-before-birth", "dose_id": dose["dose_id"]})
        previous = (dose, day)
    if not numbered:
        status = NONE
    elif complete_at is None:
        status = PARTIAL
    elif len(numbered) > complete_at:
        status = BOOSTER
    else:
        status = COMPLETE
    return Evaluation(numbered, status, flags)
