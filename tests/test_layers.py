"""Dependencies point down and inwards: each package imports only the layers beneath it, as
docs/ARCHITECTURE.md draws them, so the domain and the adapters can change apart."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {
    "ledger",
    "store",
    "usecases",
    "replay",
    "projections",
    "intake",
    "config",
    "signing",
    "api",
    "cli",
    "bench",
    "drills",
}
ALLOWED = {
    "ledger": set(),
    "store": set(),
    "usecases": {"ledger", "store"},
    "replay": {"ledger", "store"},
    "projections": {"ledger", "store", "usecases"},
    "intake": {"ledger", "usecases"},
    "config": {"store", "intake"},
    "signing": {"ledger"},
    "drills": {"store", "usecases"},
}


def _imported_packages(package: str) -> dict[str, set[str]]:
    """Each module of `package` → the other project packages it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = (names & PROJECT) - {package}
    return found


def test_each_package_imports_only_the_layers_beneath_it():
    beyond = {
        module: sorted(imported - allowed)
        for package, allowed in ALLOWED.items()
        for module, imported in _imported_packages(package).items()
        if imported - allowed
    }
    assert beyond == {}


def test_nothing_but_the_benchmarks_imports_the_api_or_the_cli():
    reaching = {
        module: sorted(imported & {"api", "cli"})
        for package in PROJECT - {"api", "cli", "bench"}
        for module, imported in _imported_packages(package).items()
        if imported & {"api", "cli"}
    }
    assert reaching == {}
