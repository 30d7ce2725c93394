"""The domain core imports no I/O: it can be read, run and tested without a store or a server."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import orjson

import ledger
from ledger.values import (
    CorrectionKind,
    CorrectionStatus,
    DoseStatus,
    ImportStatus,
    ReviewStatus,
    Role,
    SiteKind,
    Source,
)

FORBIDDEN = (
    "sqlite3",
    "psycopg",
    "threading",
    "fastapi",
    "starlette",
    "eventsourcing.application",
    "eventsourcing.persistence",
    "eventsourcing.sqlite",
    "eventsourcing.postgres",
)


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            # `from eventsourcing import persistence` reaches the module all the same
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_no_module_of_the_domain_core_imports_io():
    root = Path(ledger.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 10  # the walk found the package
    found = {f"{m.relative_to(root)}: {name}" for m in modules for name in _imports(m) if _forbidden(name)}
    assert found == set()


def test_the_check_sees_every_form_of_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import sqlite3\nfrom eventsourcing import persistence\n"
        "from eventsourcing.application import Application\nimport psycopg.rows\n"
        "from eventsourcing.domain import Aggregate\nimport threading as t\n"
    )
    assert [n for n in _imports(module) if _forbidden(n)] == [
        "sqlite3",
        "eventsourcing.persistence",
        "eventsourcing.application",
        "eventsourcing.application.Application",
        "psycopg.rows",
        "threading",
    ]


def test_statuses_compare_and_serialise_as_the_strings_clients_know():
    for status_type in (
        Role,
        DoseStatus,
        CorrectionKind,
        CorrectionStatus,
        SiteKind,
        ReviewStatus,
        ImportStatus,
    ):
        for member in status_type:
            assert member == member.value and hash(member) == hash(member.value)
            assert f"{member}" == str(member) == member.value
            assert json.dumps({"status": member}) == json.dumps({"status": member.value})
            assert orjson.dumps(member) == orjson.dumps(member.value)
    assert [str(s) for s in DoseStatus] == ["created", "duplicate", "conflict", "rejected"]
    assert [str(s) for s in CorrectionStatus] == ["open", "assigned", "accepted", "rejected"]


def test_a_source_keeps_the_order_it_was_given_in():
    given = {"import_id": "i-1", "kind": "retro_import", "row": 7}
    assert list(Source.of(given).as_data().items()) == list(given.items())
    assert Source.of(given).kind == "retro_import"
    named = Source.named("correction_request", channel="portal").with_details(request_id="r-1")
    assert list(named.as_data().items()) == [
        ("kind", "correction_request"),
        ("channel", "portal"),
        ("request_id", "r-1"),
    ]
