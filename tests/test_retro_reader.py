"""A large file is read and checked in a process of its own while the ledger records it: what is
stored is what reading it in one process stores, and a reader that fails fails the import."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from bench.imports import generate
from retro import RetroImportRun, import_status, run_import
from retro.chunks import READ_APART_FROM
from retro.rows import TemplateMismatch
from tests.retro_files import FORM, UNIT, people_rows, row, stored_doses, write_csv


def test_a_large_file_is_read_apart_and_stores_what_reading_it_here_would(ledger, tmp_path):
    path = tmp_path / "campaign.csv"
    generate(path, 10_500)  # people with one to three doses, 1 % bad rows, 10 % without record ids
    assert path.stat().st_size >= READ_APART_FROM
    here = run_import(ledger, path, FORM, actor=UNIT, dry_run=True, read_apart=False)
    run = RetroImportRun(ledger, path, FORM, UNIT)
    run.begin()
    assert run.read_apart  # chosen by the file's size
    apart = run.proceed()
    assert apart.counts == here.counts and apart.counts.rejected > 0
    assert apart.errors == here.errors and apart.error_count == here.error_count
    assert len(stored_doses(ledger)) == apart.counts.created
    status = import_status(ledger, apart.import_id)
    assert (status["status"], status["rows"], status["read_fraction"]) == (
        "completed", 10_500, 1.0)


def test_rows_the_ledger_refuses_are_reported_on_their_columns_when_read_apart(ledger, tmp_path):
    rows = people_rows(8) + [row("F1", administered_at="01/07/2099"), row("V1", vaccine="Snake Oil"),
                             row("B1", birth_date="01/01/2030")]
    path = write_csv(tmp_path / "r.csv", rows)
    here = run_import(ledger, path, FORM, actor=UNIT, dry_run=True, chunk_rows=3, read_apart=False)
    apart = run_import(ledger, path, FORM, actor=UNIT, chunk_rows=3, read_apart=True)
    assert (apart.counts.created, apart.counts.rejected) == (8, 3)
    assert apart.errors == here.errors
    assert [e["column"] for e in apart.errors] == ["Ngày tiêm", "Tên vắc xin", "Ngày sinh"]


def test_a_file_changed_after_its_header_was_checked_fails_the_import_saying_why(ledger, tmp_path):
    path = write_csv(tmp_path / "c.csv", people_rows(4))
    run = RetroImportRun(ledger, path, FORM, UNIT, read_apart=True)
    run.begin()
    path.write_text("a title, and no header\n", encoding="utf-8")  # replaced meanwhile
    with pytest.raises(TemplateMismatch):
        run.proceed()
    status = import_status(ledger, run.import_id)
    assert status["status"] == "failed" and status["reason"].startswith("TemplateMismatch: ")
    assert stored_doses(ledger) == []


def test_a_reader_killed_mid_file_fails_the_import_and_the_file_sent_again_completes(ledger,
                                                                                    tmp_path):
    path = write_csv(tmp_path / "k.csv", people_rows(200))

    def kill_the_reader(progress):
        if progress.last_row == 6:  # the first chunk: the reader is a few chunks ahead, waiting
            [reader] = [p for p in multiprocessing.active_children()
                        if p.name.startswith("retro-reader-")]
            os.kill(reader.pid, signal.SIGKILL)

    with pytest.raises(RuntimeError, match="reader stopped"):
        run_import(ledger, path, FORM, actor=UNIT, chunk_rows=5, read_apart=True,
                   on_chunk=kill_the_reader)
    kept = stored_doses(ledger)
    assert 0 < len(kept) < 200 and len(kept) % 5 == 0  # whole chunks, none in part
    again = run_import(ledger, path, FORM, actor=UNIT, chunk_rows=5, read_apart=True)
    assert (again.counts.created, again.counts.duplicate) == (200 - len(kept), len(kept))
    assert len(stored_doses(ledger)) == 200
