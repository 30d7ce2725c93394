"""The shipped DCC schema (1.3.x): the upstream test cases, and problems that name their path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signing import schema
from tests.testdata import TESTDATA

CASES = TESTDATA / "eu-dcc" / "eu-dcc-schema" / "test"
VALID = sorted((CASES / "valid").glob("*.json"))
INVALID = sorted((CASES / "invalid").glob("*.json"))
EXAMPLES = TESTDATA / "eu-dcc" / "eu-dcc-schema" / "examples"


def test_the_upstream_cases_are_there() -> None:
    assert (len(VALID), len(INVALID)) == (13, 6)


def test_the_shipped_schema_is_the_upstream_combined_schema() -> None:
    shipped = Path(schema.__file__).parent / "data" / schema.SCHEMA_FILE
    upstream = TESTDATA / "eu-dcc" / "eu-dcc-schema" / "DCC.combined-schema.json"
    assert shipped.read_bytes() == upstream.read_bytes()
    notice = (shipped.parent / "NOTICE").read_text(encoding="utf-8")
    assert "ehn-dcc-development/eu-dcc-schema" in notice and "Apache License, Version 2.0" in notice


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.name)
def test_a_valid_case_passes(case: Path) -> None:
    assert schema.validate(json.loads(case.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize(
    ("name", "problems"),
    [
        ("empty.json", ["$.v: breaks minItems 1"]),
        ("invalid_dob.json", ["$.dob: breaks pattern ^((19|20)\\d\\d(-\\d\\d){0,2}){0,1}$"]),
        ("invalid_dob2.json", ["$.dob: breaks pattern ^((19|20)\\d\\d(-\\d\\d){0,2}){0,1}$"]),
        ("invalid_vac.json", ["$.v[0].dn: breaks minimum 1"]),
        ("missing_dob.json", ["$: breaks oneOf (missing dob | missing dob, t | missing dob, r)"]),
        ("missing_fnt_gnt.json", ["$.nam: breaks anyOf (missing fnt | missing gnt)"]),
    ],
)
def test_an_invalid_case_fails_naming_the_path(name: str, problems: list[str]) -> None:
    assert (CASES / "invalid" / name) in INVALID
    assert schema.validate(json.loads((CASES / "invalid" / name).read_text(encoding="utf-8"))) == problems


def test_a_missing_field_is_named() -> None:
    case = json.loads((CASES / "valid" / "V-min-data.json").read_text(encoding="utf-8"))
    del case["v"][0]["ci"]
    del case["v"][0]["tg"]
    assert schema.validate(case) == ["$.v[0]: missing tg, ci"]


def test_a_problem_never_quotes_the_payload() -> None:
    case = json.loads((CASES / "valid" / "V-min-data.json").read_text(encoding="utf-8"))
    case["dob"] = "Secret-1990"
    case["nam"]["fnt"] = "lowercase personal name"
    problems = schema.validate(case)
    assert len(problems) == 2
    assert not any("Secret" in p or "personal" in p for p in problems)


@pytest.mark.parametrize(
    "example", sorted(EXAMPLES.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_the_upstream_examples_pass_but_a_dose_number_0(example: Path) -> None:
    payload = json.loads(example.read_text(encoding="utf-8"))
    problems = schema.validate(payload)
    zero_dose = any(entry.get("dn") == 0 for entry in payload.get("v", []))
    assert (problems != []) is zero_dose, problems
