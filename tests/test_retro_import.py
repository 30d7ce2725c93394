"""A unit sends its spreadsheet, again and again until every row is in: nothing stored twice,
every dose traceable to the file, the row and the person who attested it."""

from __future__ import annotations

import time

import pytest

from intake.retro import (
    Form,
    ImportNotFound,
    errors_csv,
    import_errors,
    import_status,
    run_import,
    start_import,
)
from ledger.errors import InvalidValue
from ledger.retro_import import RetroImport
from ledger.values import Actor
from replay.verify import verify_all
from tests.retro_files import FORM, UNIT, people_rows, row, stored_doses, write_csv
from tests.test_ledger import lan


def imported(ledger, path, form=FORM, **options):
    return run_import(ledger, path, form, actor=UNIT, **options)


def test_a_file_sent_twice_is_stored_once(ledger, tmp_path):
    path = write_csv(tmp_path / "f.csv", people_rows(6) + people_rows(4, record=False, start=10))
    first = imported(ledger, path)
    head = ledger.head()
    second = imported(ledger, path)
    assert (first.counts.created, first.counts.duplicate) == (10, 0)
    assert (second.counts.created, second.counts.duplicate, second.counts.rejected) == (0, 10, 0)
    assert len(stored_doses(ledger)) == 10
    # The second submission wrote its own stream and nothing else.
    assert ledger.head() - head == len(list(ledger.events.get(second.import_id)))


def test_overlapping_files_store_only_the_rows_not_seen_before(ledger, tmp_path):
    january = write_csv(tmp_path / "jan.csv", people_rows(6, record=False))
    january_and_more = write_csv(tmp_path / "jan-feb.csv", people_rows(10, start=3, record=False))
    assert imported(ledger, january).counts.created == 6
    result = imported(ledger, january_and_more)
    assert (result.counts.created, result.counts.duplicate) == (7, 3)
    assert len(stored_doses(ledger)) == 13


def test_a_row_without_record_id_is_keyed_by_its_content(ledger, tmp_path):
    result = imported(ledger, write_csv(tmp_path / "f.csv", [row(None), row(None, lot="B9999")]))
    assert result.counts.created == 2
    records = sorted(e.source["row"] for e in stored_doses(ledger))
    assert records == [2, 3]
    keys = ledger.recorder.site_records.find(e.dose_id for e in stored_doses(ledger))
    ids = {key.site_record_id for key in keys.values()}
    assert all(i.startswith("sha256:") and len(i) == 39 for i in ids) and len(ids) == 2


def test_a_record_sent_again_with_other_content_is_a_conflict_naming_the_stored_dose(ledger, tmp_path):
    first = imported(ledger, write_csv(tmp_path / "a.csv", [row("C1")]))
    [dose] = stored_doses(ledger)
    result = imported(ledger, write_csv(tmp_path / "b.csv", [row("C1", lot="OTHER")]))
    assert (result.counts.rejected, result.counts.conflict) == (1, 1)
    [error] = result.errors
    assert error["column"] == "Mã bản ghi" and error["value"] == "C1"
    assert str(dose.dose_id) in error["msg"] and "amend" in error["msg"]
    assert first.counts.created == 1 and len(stored_doses(ledger)) == 1


def test_a_row_finds_its_person_by_national_id_else_by_name_birth_and_phone(ledger, tmp_path):
    by_id = ledger.register_person(lan()).person_id
    by_details = ledger.register_person(
        lan(national_id=None, full_name="Lê Văn Hùng", birth_date="1970-05-05", phone="0988000111")
    ).person_id
    rows = [
        row("P1", full_name="Nguyễn T. Lan (typed otherwise)", national_id="001185012345"),
        row("P2", full_name="LÊ VĂN HÙNG", birth_date="05/05/1970", phone="0988 000 111", national_id=""),
        row("P3", full_name="Lê Văn Hùng", birth_date="05/05/1970", phone="0988000222", national_id=""),
    ]
    result = imported(ledger, write_csv(tmp_path / "p.csv", rows))
    assert result.counts.created == 3
    holders = {e.source["row"]: e.originator_id for e in stored_doses(ledger)}
    assert holders[2] == by_id and holders[3] == by_details
    assert holders[4] not in (by_id, by_details)  # another phone: another person


def test_a_row_matching_two_people_is_refused_naming_both(ledger, tmp_path):
    twins = [ledger.register_person(lan(national_id=None)).person_id for _ in range(2)]
    result = imported(ledger, write_csv(tmp_path / "t.csv", [row("A1", national_id="")]))
    [error] = result.errors
    assert error["column"] == "Họ và tên" and error["row"] == 2
    assert all(str(t) in error["msg"] for t in twins) and "national id" in error["msg"]
    assert stored_doses(ledger) == []


def test_two_rows_of_one_new_person_make_one_person_even_across_chunks(ledger, tmp_path):
    rows = [row(f"S{k}", national_id="", administered_at=f"0{k}/07/2021") for k in range(1, 4)]
    result = imported(ledger, write_csv(tmp_path / "s.csv", rows), chunk_rows=2)
    assert result.counts.created == 3
    assert len({e.originator_id for e in stored_doses(ledger)}) == 1


def test_every_dose_carries_the_import_and_its_row_and_the_stream_tells_who_attested(ledger, tmp_path):
    path = write_csv(
        tmp_path / "prov.csv", [row("V1"), row("V2", vaccine="??"), row("V3", administered_at="01/08/2021")]
    )
    result = imported(ledger, path)
    for dose in stored_doses(ledger):
        assert dose.source == {
            "kind": "retro_import",
            "import_id": str(result.import_id),
            "row": dose.source["row"],
        }
        assert dose.actor == UNIT.as_data()
    assert sorted(d.source["row"] for d in stored_doses(ledger)) == [2, 4]
    events = list(ledger.events.get(result.import_id))
    assert [type(e).__name__ for e in events] == ["Started", "ChunkImported", "Completed"]
    started = events[0]
    import hashlib

    assert started.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (started.unit, started.attested_by, started.document_ref, started.site_id) == (
        "TTYT Quận Ba Đình",
        "BS. Lê Văn Tám",
        "CV 123/TTYT",
        "HN-BD-01",
    )
    assert started.submitter == UNIT.as_data()
    status = import_status(ledger, result.import_id)
    assert (status["status"], status["rows"], status["created"], status["rejected"]) == ("completed", 3, 2, 1)
    assert status["errors"] == result.errors
    assert isinstance(ledger.repository.get(result.import_id), RetroImport)
    # An auditor's check of the whole store: the import's stream is hash-chained like the rest.
    audit = verify_all(ledger)
    assert audit["consistent"] and audit["by_type"]["RetroImport"] == 1


def test_a_dry_run_reports_exactly_what_a_real_run_does_and_stores_nothing(ledger, tmp_path):
    ledger.register_person(lan(national_id=None, full_name="Hai Người", phone="0900000001"))
    ledger.register_person(lan(national_id=None, full_name="Hai Người", phone="0900000001"))
    rows = people_rows(3) + [
        row("X1", vaccine="Snake Oil"),
        row("X2", national_id="", full_name="Hai Người", phone="0900000001"),
    ]
    path = write_csv(tmp_path / "d.csv", rows)
    dry = imported(ledger, path, dry_run=True)
    # the two people and the ids secret's fingerprint (their identity key is a table's rows),
    # nothing from the dry run
    assert ledger.head() == 3
    real = imported(ledger, path)
    assert (dry.counts, dry.errors) == (real.counts, real.errors)
    assert real.counts.created == 3 and real.counts.rejected == 2
    with pytest.raises(ImportNotFound):
        import_status(ledger, dry.import_id)


def test_an_interrupted_import_run_again_completes_with_nothing_doubled(ledger, tmp_path):
    path = write_csv(tmp_path / "big.csv", people_rows(23) + [row("BAD", vaccine="Snake Oil")])
    chunks = []

    def pull_the_plug(progress):
        chunks.append(progress.last_row)
        if len(chunks) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        imported(ledger, path, chunk_rows=5, on_chunk=pull_the_plug)
    assert len(stored_doses(ledger)) == 10
    [stopped] = [
        n
        for n in ledger.recorder.select_notifications(None, 10_000)
        if n.topic.endswith("RetroImport.Started")
    ]
    status = import_status(ledger, stopped.originator_id)
    assert (status["status"], status["reason"], status["created"], status["last_row"]) == (
        "failed",
        "KeyboardInterrupt",
        10,
        11,
    )

    again = imported(ledger, path, chunk_rows=5)
    assert (again.counts.created, again.counts.duplicate, again.counts.rejected) == (13, 10, 1)
    assert len(stored_doses(ledger)) == 23
    assert len({e.dose_id for e in stored_doses(ledger)}) == 23


def test_the_error_report_holds_every_error_as_csv_safe_for_a_spreadsheet(ledger, tmp_path):
    rows = [row(f"E{k}", vaccine="=cmd|' /C calc'!A0") for k in range(30)] + [row("OK")]
    result = imported(ledger, write_csv(tmp_path / "e.csv", rows), keep_errors=5, chunk_rows=7)
    assert len(result.errors) == 5 and result.error_count == 30
    lines = "".join(errors_csv(import_errors(ledger, result.import_id))).lstrip("\ufeff").splitlines()
    assert lines[0] == "row,column,value,msg" and len(lines) == 31
    assert lines[1].startswith("2,Tên vắc xin,'=cmd|' /C calc'!A0,")  # inert in Excel
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(2, 32))
    with pytest.raises(ImportNotFound):
        list(import_errors(ledger, "00000000-0000-0000-0000-000000000000"))


def test_a_dry_run_streams_its_full_report_to_a_file(ledger, tmp_path):
    rows = [row(f"E{k}", vaccine="Snake Oil") for k in range(12)]
    out = tmp_path / "errors.csv"
    with out.open("w", encoding="utf-8", newline="") as errors_to:
        result = imported(
            ledger, write_csv(tmp_path / "e.csv", rows), dry_run=True, keep_errors=3, errors_to=errors_to
        )
    assert len(result.errors) == 3
    assert len(out.read_text("utf-8-sig").splitlines()) == 13


def test_a_site_imports_only_for_its_own_sites(ledger, tmp_path):
    form = Form(FORM.unit, FORM.attested_by, site_id="HN-BD-01", allowed_sites=frozenset({"HN-BD-01"}))
    rows = [row("O1"), row("O2", site_id="HCM-Q1-01")]
    result = imported(ledger, write_csv(tmp_path / "o.csv", rows), form=form)
    assert result.counts.created == 1
    assert result.errors == [
        {
            "row": 3,
            "column": "Mã cơ sở tiêm",
            "value": "HCM-Q1-01",
            "msg": "is not one of the sites you may import for",
        }
    ]


def test_the_form_needs_the_unit_and_who_attested(ledger, tmp_path):
    path = write_csv(tmp_path / "f.csv", [row()])
    with pytest.raises(InvalidValue) as refused:
        imported(ledger, path, form=Form(unit="TTYT", attested_by="  "))
    assert refused.value.field == "attested_by"
    assert ledger.head() == 0


def test_a_large_file_runs_in_the_background_and_its_progress_is_readable(ledger, tmp_path):
    path = write_csv(tmp_path / "bg.csv", people_rows(12) + [row("BAD", vaccine="??")])
    finished = []
    import_id = start_import(
        ledger,
        path,
        FORM,
        actor=Actor("admin-1", "admin"),
        chunk_rows=4,
        when_done=lambda: finished.append(True),
    )
    assert import_status(ledger, import_id)["status"] in ("running", "completed")
    deadline = time.monotonic() + 30
    while not finished and time.monotonic() < deadline:
        time.sleep(0.05)
    status = import_status(ledger, import_id)
    assert (status["status"], status["created"], status["rejected"], status["read_fraction"]) == (
        "completed",
        12,
        1,
        1.0,
    )
    assert len(list(import_errors(ledger, import_id))) == 1
