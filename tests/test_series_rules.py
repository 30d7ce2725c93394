"""The series rules as data: the shipped version's codes, its dn/sd numbering, and parse's refusals."""

from __future__ import annotations

import copy
import json
import random
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ledger.catalog import vaccine_catalog
from ledger.errors import InvalidValue
from ledger.series import evaluate
from ledger.series_rules import RulesInvalid, encode, parse, shipped, value_sets
from tests.testdata import TESTDATA

VALUE_SETS = TESTDATA / "eu-dcc" / "eu-dcc-valuesets"
VERSION_2 = Path(__file__).with_name("series-rules") / "2.json"
GENERIC_VP = "28531000087107"  # SNOMED CT "COVID-19 vaccine": allowed for every product

PFIZER, MODERNA, AZ, JANSSEN = "EU/1/20/1528", "EU/1/20/1507", "EU/1/21/1529", "EU/1/20/1525"


def published(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VALUE_SETS / name).read_text("utf-8"))
    return loaded


def active_codes(name: str) -> set[str]:
    return {code for code, value in published(name)["valueSetValues"].items() if value["active"]}


def doses(*vaccines: str, voided: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """One dose a month from January 2021, in the order given; `voided`: 1-based positions."""
    return [
        {
            "dose_id": f"d{i}",
            "vaccine": v,
            "lot": f"L{i}",
            "administered_at": f"2021-{i:02d}-15T09:00:00+07:00",
            "site_id": "01-TYT-001",
            "seq": i,
            "reported_dose_number": None,
            "voided": i in voided,
        }
        for i, v in enumerate(vaccines, start=1)
    ]


def version_2() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(VERSION_2.read_text("utf-8"))
    return loaded


# --- the shipped version's data ---------------------------------------------------------------


def test_the_shipped_version_covers_every_catalog_product_with_its_series_length():
    rules = shipped()
    catalog = vaccine_catalog().vaccines
    assert rules.version == 1 and shipped() is rules
    assert set(rules.products) == set(catalog)
    assert {code: p.series for code, p in rules.products.items()} == {
        code: v.series_doses for code, v in catalog.items()
    }


def test_every_certifiable_product_is_coded_as_the_eu_value_sets_and_encoding_instructions_say():
    instructions = {
        v["vaccine-code"]: v
        for v in published("vaccine-encoding-instructions.json")["valueSetValues"].values()
    }
    mp = active_codes("vaccine-medicinal-product.json")
    ma = active_codes("vaccine-mah-manf.json")
    vp = active_codes("vaccine-prophylaxis.json")
    certifiable = [p for p in shipped().products.values() if p.certifiable]
    assert len(certifiable) == 14
    for product in certifiable:
        assert product.code in mp and product.ma in ma and product.vp in vp, product.code
        assert product.ma == instructions[product.code]["vaccine-manufacturer"], product.code
        allowed = instructions[product.code]["sct-codes"]
        assert product.vp in allowed, product.code
        # The most specific allowed: the platform's code wherever one is allowed beside the generic.
        assert product.vp != GENERIC_VP or allowed == [GENERIC_VP], product.code


def test_a_product_no_value_set_names_is_kept_for_counting_but_marked_not_certifiable_with_a_reason():
    not_certifiable = [p for p in shipped().products.values() if not p.certifiable]
    assert [p.code for p in not_certifiable] == ["Nanocovax"]
    nanocovax = not_certifiable[0]
    assert nanocovax.code not in active_codes("vaccine-medicinal-product.json")
    assert nanocovax.reason and "vaccine-medicinal-product" in nanocovax.reason
    assert (nanocovax.ma, nanocovax.vp, nanocovax.cvx, nanocovax.series) == (None, None, None, 2)


def test_the_value_sets_shipped_with_the_ledger_are_the_published_ones():
    shipped_sets = value_sets()
    assert shipped_sets.medicinal_products == active_codes("vaccine-medicinal-product.json")
    assert shipped_sets.manufacturers == active_codes("vaccine-mah-manf.json")
    assert shipped_sets.prophylaxis == active_codes("vaccine-prophylaxis.json")
    instructions = published("vaccine-encoding-instructions.json")
    assert instructions["valueSetDate"] == shipped().source["value_set_date"] == "2023-05-05"
    assert instructions["valueSetId"] == shipped().source["value_set"]
    assert dict(shipped_sets.encoding) == {
        v["vaccine-code"]: (v["vaccine-manufacturer"], tuple(v["sct-codes"]))
        for v in instructions["valueSetValues"].values()
    }


def test_each_cvx_reads_back_as_its_product_through_the_intake_code_table():
    cvx_table = json.loads(resources.files("intake").joinpath("data", "cvx.json").read_text("utf-8"))
    coded = {p.code: p.cvx for p in shipped().products.values() if p.cvx is not None}
    assert coded[PFIZER] == "208" and coded[MODERNA] == "207" and coded[JANSSEN] == "212"
    assert {code: cvx_table[cvx] for code, cvx in coded.items()} == {code: code for code in coded}
    # A product without a CVX is one no CVX of the table names.
    assert not {p.code for p in shipped().products.values() if p.cvx is None} & set(cvx_table.values())


def test_the_booster_rule_is_stated_with_its_source():
    booster = shipped().data["booster"]
    assert "3/3" in booster["rule"] and "2/1" in booster["rule"]
    assert "2021/2301" in booster["source"]
    assert shipped().data["notes"]["vp"]


# --- dn/sd --------------------------------------------------------------------------------------

CASES = [
    ("one dose of two", [PFIZER], [], [(1, 2)], "partial"),
    ("two of two", [PFIZER, PFIZER], [], [(1, 2), (2, 2)], "complete"),
    ("Janssen, one of one", [JANSSEN], [], [(1, 1)], "complete"),
    ("booster after two doses", [PFIZER, PFIZER, PFIZER], [], [(1, 2), (2, 2), (3, 3)], "booster"),
    ("second booster", [PFIZER] * 4, [], [(1, 2), (2, 2), (3, 3), (4, 4)], "booster"),
    ("booster after Janssen", [JANSSEN, PFIZER], [], [(1, 1), (2, 1)], "booster"),
    ("second booster after Janssen", [JANSSEN, PFIZER, MODERNA], [], [(1, 1), (2, 1), (3, 1)], "booster"),
    ("mixed AZ then Pfizer", [AZ, PFIZER], [], [(1, 2), (2, 2)], "complete"),
    ("booster of another product", [AZ, AZ, MODERNA], [], [(1, 2), (2, 2), (3, 3)], "booster"),
    (
        "Pfizer then Janssen completes at two",
        [PFIZER, JANSSEN, PFIZER],
        [],
        [(1, 2), (2, 2), (3, 3)],
        "booster",
    ),
    ("three-dose series", ["Abdala", "Abdala"], [], [(1, 3), (2, 3)], "partial"),
    ("three-dose series then a booster", ["Abdala"] * 4, [], [(1, 3), (2, 3), (3, 3), (4, 4)], "booster"),
    ("a voided dose renumbers", [PFIZER, PFIZER, PFIZER], [2], [(1, 2), (2, 2)], "complete"),
    ("a voided Janssen renumbers", [JANSSEN, PFIZER, PFIZER], [1], [(1, 2), (2, 2)], "complete"),
    (
        "an uncertifiable product still counts",
        ["Nanocovax", "Nanocovax", PFIZER],
        [],
        [(1, 2), (2, 2), (3, 3)],
        "booster",
    ),
]


@pytest.mark.parametrize(
    ("vaccines", "voided", "expected", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_doses_are_numbered_dn_sd_as_the_eu_guidelines_say(vaccines, voided, expected, status):
    evaluation = evaluate(doses(*vaccines, voided=tuple(voided)))
    assert shipped().encode(evaluation) == expected
    assert encode(evaluation) == expected  # the shipped version by default
    assert shipped().status(evaluation) == status == evaluation.status


def test_numbers_follow_administered_order_not_the_order_the_doses_came_in():
    given = doses(JANSSEN, PFIZER)
    given[0]["administered_at"], given[1]["administered_at"] = (
        given[1]["administered_at"],
        given[0]["administered_at"],
    )
    numbered = shipped().number(evaluate(given))
    assert [(d.dose["vaccine"], d.number, d.series, d.booster) for d in numbered] == [
        (PFIZER, 1, 2, False),
        (JANSSEN, 2, 2, False),
    ]


def test_the_shipped_version_agrees_with_the_catalog_count_of_ledger_series_on_any_record():
    rng = random.Random(5)
    codes = sorted(vaccine_catalog().vaccines)
    for _ in range(500):
        given = doses(*rng.choices(codes, k=rng.randrange(0, 7)))
        for dose in given:
            dose["voided"] = rng.random() < 0.15
        evaluation = evaluate(given)
        numbered = shipped().number(evaluation)
        assert shipped().status(evaluation) == evaluation.status
        assert [(d.number, d.booster) for d in numbered] == [(d.number, d.booster) for d in evaluation.doses]
        for d in (
            numbered
        ):  # a primary dose never says more doses than its series; a booster always does or ends at 1
            assert d.number <= d.series if not d.booster else (d.number == d.series or d.series == 1)


def test_another_version_numbers_by_its_own_rules():
    rules = parse(version_2())
    assert rules.version == 2 and rules != shipped()
    janssen_booster = evaluate(doses(JANSSEN, PFIZER))
    assert shipped().encode(janssen_booster) == [(1, 1), (2, 1)]
    assert rules.encode(janssen_booster) == [(1, 1), (2, 2)]
    coronavac = evaluate(doses("CoronaVac", "CoronaVac"))
    assert (shipped().encode(coronavac), shipped().status(coronavac)) == ([(1, 2), (2, 2)], "complete")
    assert (rules.encode(coronavac), rules.status(coronavac)) == ([(1, 3), (2, 3)], "partial")


def test_no_doses_number_nothing():
    assert shipped().encode(evaluate([])) == [] and shipped().status(evaluate([])) == "none"


# --- parse --------------------------------------------------------------------------------------


def changed(path: str, value: Any) -> dict[str, Any]:
    """Version 2 with one value set (or removed, for `...`) at a dotted path (product codes hold
    slashes, not dots)."""
    data = version_2()
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return data


REFUSED = [
    ("products.EU/1/20/1528.vp", "999999", "products.EU/1/20/1528.vp: not in the value set"),
    ("products.EU/1/20/1528.vp", "1157024006", "products.EU/1/20/1528.vp: the encoding instructions allow"),
    ("products.EU/1/20/1528.ma", "ORG-100031184", "products.EU/1/20/1528.ma: the encoding instructions give"),
    ("products.EU/1/20/1528.ma", "Pfizer", "products.EU/1/20/1528.ma: not in the value set"),
    ("products.EU/1/20/1528.cvx", "two-oh-eight", "products.EU/1/20/1528.cvx:"),
    ("products.EU/1/20/1528.series", 0, "products.EU/1/20/1528.series:"),
    ("products.EU/1/20/1528.series", "2", "products.EU/1/20/1528.series:"),
    ("products.EU/1/20/1528.series", True, "products.EU/1/20/1528.series:"),
    ("products.EU/1/20/1528.certifiable", "yes", "products.EU/1/20/1528.certifiable:"),
    ("products.EU/1/20/1528", "comirnaty", "products.EU/1/20/1528: must be an object"),
    ("products.Abdala", ..., "products.Abdala: missing"),
    (
        "products.Moderna",
        {"series": 2, "ma": "ORG-100031184", "vp": "1119349007"},
        "products.Moderna: not in the vaccine catalog",
    ),
    (
        "products.Nanocovax.certifiable",
        ...,
        "products.Nanocovax: not in the value set vaccine-medicinal-product",
    ),
    ("products.Nanocovax.reason", " ", "products.Nanocovax.reason:"),
    ("products", {}, "products:"),
    ("version", 0, "version:"),
    ("version", "2", "version:"),
    ("source.value_set_date", ..., "source.value_set_date:"),
    ("source", "the EU", "source:"),
    ("booster.sd_after_one_dose_series", "two", "booster.sd_after_one_dose_series: must be one of"),
    ("booster.source", "", "booster.source:"),
    ("booster", ..., "booster:"),
]


@pytest.mark.parametrize(("path", "value", "message"), REFUSED, ids=[f"{p}={v!r}" for p, v, _ in REFUSED])
def test_parse_refuses_a_bad_version_naming_the_field(path, value, message):
    with pytest.raises(RulesInvalid) as refused:
        parse(changed(path, value))
    assert str(refused.value).startswith(message)
    assert isinstance(refused.value, InvalidValue) and refused.value.field == message.split(":")[0]


def test_parse_refuses_what_is_not_a_json_object():
    for data in ([], "rules", None, {**version_2(), "notes": {1, 2}}):
        with pytest.raises(RulesInvalid) as refused:
            parse(data)  # type: ignore[arg-type]
        assert refused.value.field == "rules"


def test_a_parsed_version_is_a_copy_the_caller_cannot_change():
    data = version_2()
    rules = parse(data)
    kept = copy.deepcopy(rules.data)
    data["products"]["EU/1/20/1528"]["vp"] = "999999"
    assert rules.data == kept and rules.product(PFIZER).vp == "1119349007"
    assert parse(rules.data) == rules
