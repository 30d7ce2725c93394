"""What the import endpoints will call: answers in the HTTP contract's shapes, access by role."""

from __future__ import annotations

import time

import pytest

from intake.retro import ImportJobs, ImportNotFound, intake
from ledger.values import Actor
from tests.retro_files import FORM, UNIT, people_rows, row, write_csv

AUDITOR = Actor("auditor-1", "auditor")
OTHER_SITE = Actor("unit-hcm", "site")


def test_a_small_file_is_answered_at_once_with_the_row_report(ledger, tmp_path):
    done = []
    path = write_csv(tmp_path / "f.csv", [row("A1"), row("A2", vaccine="Snake Oil")])
    answer = intake.submit(ledger, path, FORM, UNIT, when_done=lambda: done.append(1))
    assert {k: answer[k] for k in ("status", "rows", "created", "duplicate", "rejected")} == {
        "status": "completed",
        "rows": 2,
        "created": 1,
        "duplicate": 0,
        "rejected": 1,
    }
    assert answer["errors"] == [
        {
            "row": 3,
            "column": "Tên vắc xin",
            "value": "Snake Oil",
            "msg": "unknown vaccine code or name: 'Snake Oil'",
        }
    ]
    assert done == [1]
    dry = intake.submit(ledger, path, FORM, UNIT, dry_run=True)
    assert (dry["status"], dry["dry_run"], dry["duplicate"]) == ("completed", True, 1)


def test_a_large_file_answers_running_and_is_polled_to_completion(ledger, tmp_path):
    done = []
    path = write_csv(tmp_path / "big.csv", people_rows(8))
    jobs = ImportJobs(ledger, tmp_path / "imports")
    answer = intake.submit(
        ledger, path, FORM, UNIT, background_bytes=10, when_done=lambda: done.append(1), jobs=jobs
    )
    assert answer["status"] == "running" and answer["created"] == 0
    # The upload is moved where a restarted service finds it: the sender's copy is done with.
    assert done == [1] and not path.exists()
    deadline = time.monotonic() + 30
    while (status := intake.status(ledger, answer["import_id"], UNIT))["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (status["status"], status["created"], status["unit"]) == ("completed", 8, FORM.unit)


def test_an_import_is_read_by_its_submitter_admins_and_auditors_only(ledger, tmp_path):
    answer = intake.submit(ledger, write_csv(tmp_path / "f.csv", [row("A1", vaccine="??")]), FORM, UNIT)
    assert intake.status(ledger, answer["import_id"], AUDITOR)["rejected"] == 1
    lines = list(intake.errors_csv_lines(ledger, answer["import_id"], Actor("root", "admin")))
    assert lines[1].strip() == "row,column,value,msg" and lines[2].startswith("2,Tên vắc xin,??,")
    with pytest.raises(ImportNotFound):
        intake.status(ledger, answer["import_id"], OTHER_SITE)
    with pytest.raises(ImportNotFound):
        intake.errors_csv_lines(ledger, answer["import_id"], OTHER_SITE)


def test_the_template_comes_as_csv_or_xlsx(ledger):
    data, media, name = intake.template("xlsx")
    assert data[:2] == b"PK" and media.endswith("spreadsheetml.sheet") and name.endswith(".xlsx")
    data, media, name = intake.template("csv")
    assert data.decode("utf-8-sig").startswith("Mã bản ghi,Họ và tên") and media.startswith("text/csv")
