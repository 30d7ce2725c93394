"""`doseledger replay …` as an auditor runs it, on each store."""

from __future__ import annotations

import json

import pytest

from cli.demo import seed
from cli.main import main
from replay import history
from tests.stored_rows import StoredRows
from tests.test_ledger import dose, lan


@pytest.fixture
def cli(store_url, monkeypatch, capsys):
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", store_url)
    monkeypatch.setenv("COLUMNS", "200")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["replay", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def lan_id(ledger):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    dose(ledger, pid, "R2", administered_at="2021-08-29")
    ledger.void_dose(first.dose_id, "entered in error")
    return pid


def test_history_as_json_is_the_replay_answer_and_as_a_table_names_each_event(cli, ledger, lan_id):
    code, out, _ = cli("history", str(lan_id), "--json")
    assert code == 0 and json.loads(out) == history(ledger, lan_id)
    code, out, _ = cli("history", str(lan_id))
    assert code == 0
    assert all(
        word in out
        for word in ("Registered", "DoseRecorded", "DoseVoided", "entered in error", "site HN-001 record R2")
    )


def test_state_diff_and_explain_answer_from_the_command_line(cli, lan_id):
    code, out, _ = cli("state", str(lan_id), "--as-of", "3", "--json")
    assert code == 0 and json.loads(out)["state"]["status"] == "complete"
    code, out, _ = cli("diff", str(lan_id), "--from", "3", "--to", "4", "--json")
    assert json.loads(out)["changes"]["status"] == {"from": "complete", "to": "partial"}
    code, out, _ = cli("explain", str(lan_id))
    assert code == 0 and "voided v4" in out and "Removed (voided)" in out
    code, out, _ = cli("state", str(lan_id), "--as-of", "2021-01-01")
    assert code == 0 and "Nothing was recorded" in out


def test_a_bad_person_id_is_refused_naming_the_field(cli):
    code, _, err = cli("history", "nobody")
    assert code == 2 and "person_id" in err
    code, _, err = cli("verify")
    assert code == 2 and "PERSON_ID or --all" in err


def test_verify_exits_1_when_a_stored_row_was_edited(cli, lan_id, store_url):
    assert cli("verify", str(lan_id), "--no-views")[0] == 0
    rows = StoredRows(store_url)
    rows.edit(lan_id, 2, lot="EDITED")
    rows.close()
    code, out, _ = cli("verify", str(lan_id), "--no-views", "--json")
    assert code == 1
    assert [(d["kind"], d.get("finding"), d.get("version")) for d in json.loads(out)["differences"]] == [
        ("integrity", "altered", 2)
    ]


def test_verify_all_on_the_demo_data_checks_every_stream_and_sums_up(cli, ledger, store_url):
    seed(ledger, people=40)
    code, out, _ = cli("verify", "--all", "--no-views", "--json")
    report = json.loads(out)
    assert code == 0 and report["consistent"]
    assert report["events"] == ledger.head() and report["people"] == 41  # and one duplicate, merged
    code, out, _ = cli("verify", "--all", "--no-views")
    assert code == 0 and "streams/s" in out and "consistent" in out

    survivor = _merged_survivor(ledger)
    rows = StoredRows(store_url)
    rows.delete(survivor, 2)
    rows.close()
    code, out, _ = cli("verify", "--all", "--no-views")
    assert code == 1 and "removed" in out
    code, out, _ = cli("verify", "--all", "--no-views", "--json")
    differences = json.loads(out)["differences"]
    assert {d["stream_id"] for d in differences} == {str(survivor)}
    assert [(d["finding"], d["version"]) for d in differences if d["kind"] == "integrity"] == [
        ("removed", 2),
        ("unverified", 3),
    ]


def _merged_survivor(ledger):
    """The demo merges one duplicate into its first person: find that person's id."""
    for notification in ledger.recorder.select_notifications(1, 100000):
        if notification.topic.endswith("Person.DuplicateAbsorbed"):
            return notification.originator_id
    raise AssertionError("the demo merges a duplicate")
