"""`doseledger erase` and the erasures `doseledger reconcile` finishes, on each store."""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.readside import caught_up
from tests.test_ledger import dose, lan


def test_an_admin_erases_a_person_from_the_command_line(cli, ledger):
    pid = ledger.register_person(lan()).person_id
    code, out, _ = cli("erase", str(pid), "--reason", "the citizen's request")
    assert code == 0 and f"erased person {pid}" in out
    assert not ledger.data_keys.holds(pid)
    assert ledger.person(pid).erased

    again = cli("erase", str(pid), "--reason", "again")
    unknown = cli("erase", str(uuid4()), "--reason", "asked")
    no_reason = cli("erase", str(pid), "--reason", "")
    assert again[:2] == (2, f"doseledger erase: person_id: person {pid} is already erased\n")
    assert unknown[0] == 2 and unknown[1].startswith("doseledger erase: person_id: no person")
    assert no_reason[0] == 2 and no_reason[1].startswith("doseledger erase: reason:")


def test_reconcile_finishes_an_erasure_interrupted_before_its_key_went(cli, ledger, views, monkeypatch):
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")

    def dies(person_id):
        raise SystemExit("died between the save and the key's destruction")

    with monkeypatch.context() as patched:
        patched.setattr(ledger.data_keys, "destroy", dies)
        with pytest.raises(SystemExit):
            ledger.erase_person(pid, "asked")
    assert ledger.data_keys.holds(pid)
    caught_up(views, ledger)
    code, out, _ = cli("reconcile", "--timeout", "10")
    assert code == 0, out
    assert f"erasure of person {pid} finished" in out and "no differences" in out
    assert not ledger.data_keys.holds(pid)
