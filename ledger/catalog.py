"""The vaccine catalog and the province list: shipped data files, not code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ledger.names import match_key


@dataclass(frozen=True)
class Vaccine:
    code: str  # EU DCC vaccine-medicinal-product code
    name: str
    manufacturer: str
    series_doses: int  # doses in the primary series
    min_interval_days: int  # minimum days before the next dose
    aliases: tuple[str, ...]


class Catalog:
    def __init__(self, vaccines: list[Vaccine]):
        self.vaccines = {v.code: v for v in vaccines}
        self._by_key: dict[str, Vaccine] = {}
        for v in vaccines:
            for name in (v.code, v.name, *v.aliases):
                self._by_key.setdefault(match_key(name), v)

    def __contains__(self, code: object) -> bool:
        return code in self.vaccines

    def __getitem__(self, code: str) -> Vaccine:
        return self.vaccines[code]

    def lookup(self, code_or_alias: str) -> Vaccine | None:
        """A code as it stands, else a name or alias ignoring case, spacing and diacritics."""
        return self.vaccines.get(code_or_alias) or self._by_key.get(match_key(code_or_alias))


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resources.files("ledger").joinpath("data", name).read_text("utf-8"))
    return loaded


@cache
def vaccine_catalog() -> Catalog:
    rows = _load("vaccines.json")["vaccines"]
    return Catalog(
        [
            Vaccine(
                code=r["code"],
                name=r["name"],
                manufacturer=r["manufacturer"],
                series_doses=int(r["series_doses"]),
                min_interval_days=int(r["min_interval_days"]),
                aliases=tuple(r["aliases"]),
            )
            for r in rows
        ]
    )


@cache
def provinces() -> dict[str, str]:
    """Vietnam's 2-digit province codes → names."""
    return dict(_load("provinces.json")["provinces"])
