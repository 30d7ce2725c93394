"""FHIR date search parameters (`date=ge2021-01-01`): a prefix and a date, day by day."""

from __future__ import annotations

import re
from dataclasses import dataclass

from api.problems import Problem, field_error

PREFIXES = ("eq", "ne", "lt", "le", "gt", "ge")
DATE = re.compile(r"^(eq|ne|lt|le|gt|ge)?(\d{4}(-\d{2}(-\d{2})?)?)$")


@dataclass(frozen=True)
class DateFilter:
    prefix: str
    value: str  # YYYY, YYYY-MM or YYYY-MM-DD: compared at its own precision

    def matches(self, occurred: str) -> bool:
        day = occurred[: len(self.value)]
        return {
            "eq": day == self.value,
            "ne": day != self.value,
            "lt": day < self.value,
            "le": day <= self.value,
            "gt": day > self.value,
            "ge": day >= self.value,
        }[self.prefix]


def date_filters(values: list[str]) -> list[DateFilter]:
    filters = []
    for value in values:
        found = DATE.match(value.strip())
        if found is None:
            msg = (
                f"must be a date (YYYY, YYYY-MM or YYYY-MM-DD) after an optional prefix {', '.join(PREFIXES)}"
            )
            raise Problem(422, "validation", msg, errors=[field_error(["query", "date"], msg)])
        filters.append(DateFilter(found.group(1) or "eq", found.group(2)))
    return filters
