"""Dose numbers and vaccination status, computed from a person's valid doses.

Numbers come from administered order, never from what a site reported: a reported number
that disagrees is a data-quality flag, not a rejection. Mixed products count towards one
primary series (AstraZeneca then Pfizer completes two doses); the series is complete at the
first dose whose running count reaches that product's series length; later doses are boosters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from ledger.catalog import Catalog, Vaccine, vaccine_catalog
from ledger.rules import day_of

NONE, PARTIAL, COMPLETE, BOOSTER = "none", "partial", "complete", "booster"


class NumberedDose(NamedTuple):
    # A named tuple, not a frozen dataclass: made once per valid dose per evaluation (a
    # rebuild of the certificates view, each state of an audit history), it is built ~3x faster.
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
    return Evaluator(catalog)(doses, birth_date)


class Evaluator:
    """`evaluate` for a sequence of dose sets that each differ little from the one before (a
    person's record one event after another): a call scans only the doses after the longest
    administered-order prefix unchanged since the previous call, so appending a dose costs one
    dose, not all of them. Same answer as a fresh evaluation, whatever changed: a prefix counts
    as unchanged only if it holds the same dose objects with the same fields that numbering
    reads, under the same birth date.
    """

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.vaccines = (catalog or vaccine_catalog()).vaccines
        self.birth_date: str | None = None
        self.ordered: list[dict[str, Any]] = []  # the doses scanned, in administered order
        self.read: list[tuple[Any, ...]] = []  # what the scan read of each of them
        self.numbered: list[NumberedDose] = []
        self.flags: list[dict[str, Any]] = []
        # The scan's running state after each dose: complete_at, its day, its product, len(flags).
        self.marks: list[tuple[int | None, date, Vaccine | None, int]] = []

    def __call__(self, doses: Iterable[dict[str, Any]], birth_date: str | None = None) -> Evaluation:
        ordered = administered_order(d for d in doses if not d.get("voided"))
        # The object itself (its id: self.ordered keeps the scanned ones alive, so no id is reused)
        # and what numbering reads of it.
        read = [
            (id(d), d["dose_id"], d["vaccine"], d["administered_at"], d["seq"], d.get("reported_dose_number"))
            for d in ordered
        ]
        kept = 0
        if birth_date == self.birth_date:
            if read[: len(self.read)] == self.read:  # the usual step: doses added after, compared in C
                kept = len(self.read)
            else:
                for fields, scanned in zip(read, self.read, strict=False):  # the common prefix
                    if fields != scanned:
                        break
                    kept += 1
        self.birth_date, self.ordered, self.read = birth_date, ordered, read
        del self.numbered[kept:], self.marks[kept:]
        del self.flags[self.marks[-1][3] if self.marks else 0 :]
        complete_at: int | None = None
        previous_day: date | None = None
        previous_product: Vaccine | None = None
        if self.marks:
            complete_at, previous_day, previous_product, _ = self.marks[-1]
        vaccines, numbered, flags = self.vaccines, self.numbered, self.flags
        for number, dose in enumerate(ordered[kept:], start=kept + 1):
            product = vaccines.get(dose["vaccine"])
            if complete_at is None and product is not None and number >= product.series_doses:
                complete_at = number
            numbered.append(NumberedDose(dose, number, complete_at is not None and number > complete_at))
            reported = dose.get("reported_dose_number")
            if reported is not None and reported != number:
                flags.append(
                    {
                        "kind": "dose-number-mismatch",
                        "dose_id": dose["dose_id"],
                        "reported": reported,
                        "computed": number,
                    }
                )
            administered = dose["administered_at"]
            # Each dose's day is parsed and its product looked up once, not once per pair.
            day = day_of(administered)
            if previous_product is not None and previous_day is not None:
                gap = (day - previous_day).days
                if gap < previous_product.min_interval_days:
                    flags.append(
                        {
                            "kind": "interval-too-short",
                            "dose_id": dose["dose_id"],
                            "days": gap,
                            "minimum": previous_product.min_interval_days,
                        }
                    )
            if birth_date is not None and administered[:10] < birth_date:
                flags.append({"kind": "dose-before-birth", "dose_id": dose["dose_id"]})
            previous_day, previous_product = day, product
            self.marks.append((complete_at, day, product, len(flags)))
        if not numbered:
            status = NONE
        elif complete_at is None:
            status = PARTIAL
        elif len(numbered) > complete_at:
            status = BOOSTER
        else:
            status = COMPLETE
        # Copies: the next call changes these lists; an evaluation once given stays as it was.
        return Evaluation(list(numbered), status, list(flags))
