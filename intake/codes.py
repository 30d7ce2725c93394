"""The code tables every intake shares: what other systems call a vaccine or a province, and
what the ledger calls it.

The ledger's own codes are the domain's (the vaccine catalog and the province list in
`ledger/catalog.py`); this module holds the translations from outside systems' codes, as data
files in `intake/data/`, so a retro import's mapping, an HL7 v2 message and a FHIR resource
all read the same table. A mapping names a table here instead of copying it
(`"values": {"vaccine": "cvx"}`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources

from ledger.catalog import provinces
from ledger.names import match_key


@cache
def cvx() -> dict[str, str]:
    """CDC's CVX codes of COVID-19 vaccines → the catalog's codes (EU DCC product codes)."""
    text = resources.files("intake").joinpath("data/cvx.json").read_text(encoding="utf-8")
    table: dict[str, str] = json.loads(text)
    return table


@cache
def cvx_placeholders() -> dict[str, str]:
    """CDC's placeholder CVX codes 900-902 → a catalog code, for test data only.

    CDC published 900 (COVID-19 Vaccine A), 901 (Vaccine B) and 902 (unspecified
    formulation) for testing before the real CVX codes existed; no dose was ever given under
    them. The rule: a feed refuses them unless it is told it takes test data (`test_codes`),
    and then maps A to Comirnaty and B to Spikevax, the first two products authorised (CVX
    208 and 207 since), and the unspecified formulation to Comirnaty as well.
    """
    text = resources.files("intake").joinpath("data/cvx-placeholders.json").read_text(encoding="utf-8")
    table: dict[str, str] = json.loads(text)["codes"]
    return table


@cache
def province_names() -> dict[str, str]:
    """A province's name as people write it (any case, with or without diacritics and the
    'Tỉnh'/'Thành phố' before it) → its code."""
    names = {}
    for code, name in provinces().items():
        for prefix in ("", "tinh", "thanhpho", "tp"):
            names[prefix + match_key(name)] = code
    names["tphcm"] = names["hcm"] = names["saigon"] = "79"
    return names


def province_code(value: str) -> str:
    """A province's 2-digit code, from its code or its name; ValueError naming the value if none."""
    given = value.strip()
    if given.zfill(2) in provinces():
        return given.zfill(2)
    found = province_names().get(match_key(given))
    if found is None:
        raise ValueError(f"{value!r} is not a Vietnamese province's code or name")
    return found


TABLES: dict[str, Callable[[], dict[str, str]]] = {"cvx": cvx}


def table(name: str) -> dict[str, str]:
    """A shared code table by its name; KeyError if there is none."""
    return TABLES[name]()
