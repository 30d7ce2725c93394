"""Rows edited, deleted, reordered or inserted with SQL: `doseledger replay verify --all` says so.

End to end as an operator runs it: the command in its own process against the store, exit 0
on the untouched store, exit 1 (naming the stream) after each kind of tampering, on each store.
"""

from __future__ import annotations

import json

import pytest

from tests.reliability.server import doseledger
from tests.stored_rows import StoredRows
from tests.test_ledger import dose, lan

TAMPERING = {
    "edited": lambda rows, pid: rows.edit(pid, 2, lot="EDITED"),
    "deleted": lambda rows, pid: rows.delete(pid, 3),
    "reordered": lambda rows, pid: rows.swap(pid, 2, 3),
    "inserted": lambda rows, pid: rows.insert(pid, 5, *rows.row(pid, 4)),
}


@pytest.mark.parametrize("kind", TAMPERING)
def test_verify_all_exits_1_naming_the_stream_after_rows_are_changed_with_sql(ledger, store_url, kind):
    people = [
        ledger.register_person(lan(national_id=f"00118501234{i}", phone=f"091234567{i}")).person_id
        for i in range(3)
    ]
    for i, pid in enumerate(people):
        dose(ledger, pid, f"R{i}-1")
        dose(ledger, pid, f"R{i}-2", administered_at="2021-08-29")
        dose(ledger, pid, f"R{i}-3", administered_at="2022-01-15", vaccine="EU/1/20/1507")
    clean = doseledger(store_url, "replay", "verify", "--all", "--no-views", "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr

    target = people[1]
    rows = StoredRows(store_url)
    TAMPERING[kind](rows, target)
    rows.close()
    found = doseledger(store_url, "replay", "verify", "--all", "--no-views", "--json")
    assert found.returncode == 1, found.stdout + found.stderr
    report = json.loads(found.stdout)
    assert not report["consistent"]
    assert {d["stream_id"] for d in report["differences"]} == {str(target)}
