"""The series rules as versioned data: what a certificate says of each product and each dose.

A version names, per catalog product, the EU DCC codes of its doses (`ma` the manufacturer,
`vp` the SNOMED CT vaccine type; `mp` is the catalog code itself), the CVX code a SMART Health
Card names it by, its primary series length, and how doses are numbered dn/sd, boosters
included. Version 1 ships with the code (`data/series-rules/1.json`, its sources and choices
said in the file); later versions are adopted as events (ledger.rules_book). A certificate
names the version that numbered it, so a new version is a new certificate version, never a
silent change of an issued one.

Every code is checked against the EU DCC value sets the ledger ships a copy of
(`data/eu-dcc-value-sets.json`): a product no value set names is kept, for its doses count in
the series, but marked not certifiable with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from ledger.catalog import vaccine_catalog
from ledger.errors import InvalidValue
from ledger.series import BOOSTER, COMPLETE, NONE, PARTIAL, Evaluation

# How sd is written for a booster: the primary series' length (2/1 after Jcovden) or the dose's
# own number (3/3 after two doses).
SERIES_LENGTH, DOSE_NUMBER = "series-length", "dose-number"
BOOSTER_SD = (SERIES_LENGTH, DOSE_NUMBER)


class RulesInvalid(InvalidValue):
    """A rules version that cannot be used; `field` is the dotted path of the value at fault."""


@dataclass(frozen=True)
class ProductRules:
    code: str  # the catalog code, which is the EU DCC medicinal product (`mp`)
    series: int  # doses in the primary series
    certifiable: bool
    ma: str | None  # None when not certifiable
    vp: str | None
    cvx: str | None  # None: no CVX code names the product (no SMART Health Card entry)
    reason: str | None  # why not certifiable


@dataclass(frozen=True)
class EncodedDose:
    """A valid dose's place under a rules version."""

    dose: dict[str, Any]
    number: int  # dn
    series: int  # sd
    booster: bool


@dataclass(frozen=True)
class SeriesRules:
    version: int
    source: Mapping[str, str]
    products: Mapping[str, ProductRules]
    booster_sd_after_one_dose: str  # SERIES_LENGTH or DOSE_NUMBER
    booster_sd_after_longer: str
    # The data the version was parsed from, as adopted (what `rules show` prints).
    data: Mapping[str, Any] = field(compare=False, repr=False)

    def product(self, code: str) -> ProductRules:
        found = self.products.get(code)
        if found is None:  # parse made sure every catalog product is here
            raise InvalidValue("vaccine", f"{code!r} has no series rules in version {self.version}")
        return found

    def number(self, evaluation: Evaluation) -> list[EncodedDose]:
        """The evaluation's valid doses (administered order) numbered by these rules' series
        lengths: the same count as ledger.series, with this version's lengths."""
        doses = [numbered.dose for numbered in evaluation.doses]
        complete_at = self._complete_at(doses)
        if complete_at is None:
            # Incomplete: every dose so far counts towards the latest product's series (a code
            # no rules know, which the catalog refuses at intake, never completes one, as in
            # ledger.series).
            known = [p for p in (self.products.get(d["vaccine"]) for d in doses) if p is not None]
            length = max(known[-1].series, len(doses)) if known else len(doses)
            return [EncodedDose(d, n, length, False) for n, d in enumerate(doses, start=1)]
        booster_sd = self.booster_sd_after_one_dose if complete_at == 1 else self.booster_sd_after_longer
        return [
            EncodedDose(dose, n, complete_at, False)
            if n <= complete_at
            else EncodedDose(dose, n, complete_at if booster_sd == SERIES_LENGTH else n, True)
            for n, dose in enumerate(doses, start=1)
        ]

    def encode(self, evaluation: Evaluation) -> list[tuple[int, int]]:
        """(dn, sd) of each valid dose, in the evaluation's (administered) order."""
        return [(d.number, d.series) for d in self.number(evaluation)]

    def status(self, evaluation: Evaluation) -> str:
        """none | partial | complete | booster, by these rules' series lengths."""
        doses = [numbered.dose for numbered in evaluation.doses]
        if not doses:
            return NONE
        complete_at = self._complete_at(doses)
        if complete_at is None:
            return PARTIAL
        return BOOSTER if len(doses) > complete_at else COMPLETE

    def _complete_at(self, doses: list[dict[str, Any]]) -> int | None:
        # The first dose whose running count reaches its own product's series length.
        for n, dose in enumerate(doses, start=1):
            product = self.products.get(dose["vaccine"])
            if product is not None and n >= product.series:
                return n
        return None


def encode(evaluation: Evaluation, rules: SeriesRules | None = None) -> list[tuple[int, int]]:
    """(dn, sd) of each valid dose by `rules` (the shipped version 1 if none is given)."""
    return (rules or shipped()).encode(evaluation)


# --- parsing ----------------------------------------------------------------------------------


def parse(data: Mapping[str, Any]) -> SeriesRules:
    """A rules version from its data, or RulesInvalid naming the first field at fault."""
    if not isinstance(data, Mapping):
        raise RulesInvalid("rules", "must be a JSON object")
    try:  # a copy the caller cannot change, and proof that it can be stored as it is
        data = json.loads(json.dumps(data, allow_nan=False))
    except (TypeError, ValueError):
        raise RulesInvalid("rules", "must be JSON data (objects, arrays, text, numbers)") from None
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RulesInvalid("version", "must be a whole number from 1")
    source = data.get("source")
    if not isinstance(source, Mapping):
        raise RulesInvalid("source", "must be an object naming the value set and its date")
    for key in ("value_set", "value_set_date"):
        if not isinstance(source.get(key), str) or not source[key].strip():
            raise RulesInvalid(f"source.{key}", "is required")
    booster = data.get("booster")
    if not isinstance(booster, Mapping):
        raise RulesInvalid("booster", "must be an object saying how boosters are encoded")
    for key in ("sd_after_one_dose_series", "sd_after_longer_series"):
        if booster.get(key) not in BOOSTER_SD:
            raise RulesInvalid(f"booster.{key}", f"must be one of {', '.join(BOOSTER_SD)}")
    for key in ("rule", "source"):
        if not isinstance(booster.get(key), str) or not booster[key].strip():
            raise RulesInvalid(f"booster.{key}", "is required: say the rule and where it comes from")
    products = data.get("products")
    if not isinstance(products, Mapping) or not products:
        raise RulesInvalid("products", "must be an object of the catalog's products")
    catalog = vaccine_catalog()
    for code in catalog.vaccines:
        if code not in products:
            raise RulesInvalid(f"products.{code}", "missing: every catalog product needs its rules")
    parsed = {}
    for code, entry in products.items():
        if code not in catalog:
            raise RulesInvalid(f"products.{code}", "not in the vaccine catalog")
        parsed[code] = _product(code, entry)
    return SeriesRules(
        version=version,
        source={k: v for k, v in source.items() if isinstance(v, str)},
        products=parsed,
        booster_sd_after_one_dose=str(booster["sd_after_one_dose_series"]),
        booster_sd_after_longer=str(booster["sd_after_longer_series"]),
        data=data,
    )


def _product(code: str, entry: Any) -> ProductRules:
    at = f"products.{code}"
    if not isinstance(entry, Mapping):
        raise RulesInvalid(at, "must be an object")
    series = entry.get("series")
    if not isinstance(series, int) or isinstance(series, bool) or not 1 <= series <= 10:
        raise RulesInvalid(f"{at}.series", "must be a whole number from 1 to 10")
    certifiable = entry.get("certifiable", True)
    if not isinstance(certifiable, bool):
        raise RulesInvalid(f"{at}.certifiable", "must be true or false")
    if not certifiable:
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise RulesInvalid(f"{at}.reason", "is required: why the product cannot be certified")
        return ProductRules(code, series, False, None, None, None, reason)
    sets = value_sets()
    if code not in sets.medicinal_products:
        raise RulesInvalid(at, "not in the value set vaccine-medicinal-product: mark it not certifiable")
    allowed = sets.encoding.get(code)
    ma, vp, cvx = entry.get("ma"), entry.get("vp"), entry.get("cvx")
    if not isinstance(ma, str) or ma not in sets.manufacturers:
        raise RulesInvalid(f"{at}.ma", "not in the value set vaccine-mah-manf")
    if allowed is not None and ma != allowed[0]:
        raise RulesInvalid(f"{at}.ma", f"the encoding instructions give {allowed[0]} for this product")
    if not isinstance(vp, str) or vp not in sets.prophylaxis:
        raise RulesInvalid(f"{at}.vp", "not in the value set vaccine-prophylaxis")
    if allowed is not None and vp not in allowed[1]:
        raise RulesInvalid(f"{at}.vp", f"the encoding instructions allow {' or '.join(allowed[1])}")
    if cvx is not None and (not isinstance(cvx, str) or not cvx.isdigit() or len(cvx) > 3):
        raise RulesInvalid(f"{at}.cvx", "must be a CVX code (up to 3 digits) or null")
    return ProductRules(code, series, True, ma, vp, cvx, None)


# --- shipped data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueSets:
    """The codes of the EU DCC value sets a rules version is checked against."""

    medicinal_products: frozenset[str]
    manufacturers: frozenset[str]
    prophylaxis: frozenset[str]
    encoding: Mapping[str, tuple[str, tuple[str, ...]]]  # mp → (ma, allowed vp codes)


def _data(*path: str) -> Any:
    return json.loads(resources.files("ledger").joinpath("data", *path).read_text("utf-8"))


@cache
def value_sets() -> ValueSets:
    loaded = _data("eu-dcc-value-sets.json")
    return ValueSets(
        medicinal_products=frozenset(loaded["vaccine-medicinal-product"]["codes"]),
        manufacturers=frozenset(loaded["vaccine-mah-manf"]["codes"]),
        prophylaxis=frozenset(loaded["vaccine-prophylaxis"]["codes"]),
        encoding={
            mp: (entry["ma"], tuple(entry["vp"]))
            for mp, entry in loaded["vaccine-encoding-instructions"]["products"].items()
        },
    )


@cache
def shipped() -> SeriesRules:
    """Version 1, as shipped with the code: in force until a later version is adopted."""
    return parse(_data("series-rules", "1.json"))
