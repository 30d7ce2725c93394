"""`doseledger corrections …` as an official runs it, on each store, with the projections running."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cli.main import main
from ledger.rules import now_ict
from ledger.values import Actor
from tests.readside import caught_up
from tests.test_ledger import dose, lan

PORTAL = Actor("portal", "portal")
MISSING = {"vaccine": "Pfizer", "administered_at": "2021-08-29", "site_id": "HN-001"}


@pytest.fixture
def cli(store_url, monkeypatch, capsys):
    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", store_url)
    monkeypatch.setenv("COLUMNS", "250")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["corrections", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_an_official_lists_assigns_and_accepts_a_claim_and_shows_its_history(cli, ledger, views):
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    old = (now_ict() - timedelta(days=9)).replace(microsecond=0).isoformat()
    late = ledger.request_correction(
        pid,
        "missing_dose",
        MISSING,
        filed_at=old,
        contact="0912345678",
        evidence_ref="card photo",
        actor=PORTAL,
    ).request_id
    recent = ledger.request_correction(
        pid, "wrong_details", {"changes": {"full_name": "Nguyễn Thị Lan Anh"}}, actor=PORTAL
    ).request_id
    caught_up(views, ledger)

    code, out, _ = cli("list", "--overdue", "--json")
    assert code == 0 and [r["request_id"] for r in json.loads(out)] == [str(late)]
    code, out, _ = cli("list")
    assert code == 0 and str(late) in out and str(recent) in out and "overdue" in out

    assert cli("assign", str(late), "--province", "01")[0] == 0
    code, out, _ = cli("resolve", str(late), "--accept", "--reason", "the site's paper log shows it")
    assert code == 0 and "accepted" in out
    assert ledger.person(pid).evaluation().status == "complete"

    code, out, _ = cli("show", str(late))
    assert code == 0
    for shown in (
        "CorrectionRequested",
        "CorrectionAssigned",
        "DoseRecorded",
        "CorrectionResolved",
        "card photo",
        "the site's paper log shows it",
    ):
        assert shown in out
    assert "code_digest" not in out

    caught_up(views, ledger)
    code, out, _ = cli("summary", "--json")
    summary = json.loads(out)
    assert summary["resolved"] == {"accepted": 1, "rejected": 0} and summary["overdue"] == 0
    assert summary["resolution_days"]["median"] == pytest.approx(9, abs=0.01)
    code, out, _ = cli("summary")
    assert code == 0 and "1 accepted, 0 rejected" in out and "median 9.0" in out


def test_refusals_name_what_is_wrong(cli, ledger, views):
    pid = ledger.register_person(lan()).person_id
    filed = ledger.request_correction(pid, "missing_dose", MISSING, actor=PORTAL).request_id
    ledger.resolve_correction(filed, "rejected", "no such dose", actor=PORTAL)
    code, _, err = cli("resolve", str(filed), "--accept", "--reason", "changed my mind")
    assert code == 2 and "already resolved" in err
    code, _, err = cli("show", "6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e")
    assert code == 2 and "no correction request" in err
    code, _, err = cli("list", "--status", "lost")
    assert code == 2 and "status" in err
    code, _, err = cli("assign", str(filed), "--province", "00")
    assert code == 2 and "assignee.province" in err
