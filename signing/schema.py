"""The EU DCC payload against the eHealth Network's combined JSON schema (1.3.x, Draft
2020-12), shipped in `data/` (its source and licence in `data/NOTICE`)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError  # type: ignore[import-untyped]

SCHEMA_FILE = "DCC.combined-schema.json"


@cache
def _validator() -> Draft202012Validator:
    # Loaded once per process: the schema is 30 KB of JSON and never changes at run time.
    text = resources.files("signing").joinpath("data", SCHEMA_FILE).read_text(encoding="utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(hcert: Any) -> list[str]:
    """Every problem of the payload, each naming its JSON path and the rule it breaks
    ("$.v[0].dn: breaks minimum 1"); [] when it conforms. The payload's values are never
    quoted: they are a person's name and birth date, and a problem may be logged."""
    errors = sorted(_validator().iter_errors(hcert), key=lambda e: [str(p) for p in e.absolute_path])
    # The combined schema reaches some definitions by two routes, which report the same problem.
    return list(dict.fromkeys(f"{error.json_path}: {_rule(error)}" for error in errors))


def _rule(error: ValidationError) -> str:
    if error.validator == "required":
        missing = [name for name in error.validator_value if not _has(error.instance, name)]
        return f"missing {', '.join(missing)}"
    if error.validator in ("anyOf", "oneOf") and error.context:
        # What each alternative lacked: "breaks anyOf (missing fnt | missing gnt)".
        alternatives = list(dict.fromkeys(_rule(e) for e in error.context if not e.relative_path))
        if alternatives:
            return f"breaks {error.validator} ({' | '.join(alternatives)})"
    constraint = error.validator_value
    if isinstance(constraint, str | int | float | bool) and len(str(constraint)) <= 80:
        return f"breaks {error.validator} {constraint}"
    return f"breaks {error.validator}"


def _has(instance: Any, name: str) -> bool:
    return isinstance(instance, dict) and name in instance
