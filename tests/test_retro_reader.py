"""A large file is read and checked in a process of its own while the ledger records it: what is
stored is what reading it in one process stores, and a reader that fails fails the import."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import pytest

from bench.imports import generate
from intake.retro import RetroImportRun, import_status, run_import
from intake.retro.chunks import READ_APART_FROM, FileChanged, ReaderStopped, _sendable
from tests.retro_files import FORM, UNIT, people_rows, row, stored_doses, write_csv


def readers() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name.startswith("retro-reader-")]


def progress_of(ledger, path, **options):
    """The import's result and what it told after each chunk: (last row, counts, fraction read)."""
    told = []

    def tell(progress):
        told.append((progress.last_row, progress.counts.as_dict(), progress.read_fraction, len(readers())))

    result = run_import(ledger, path, FORM, actor=UNIT, on_chunk=tell, **options)
    return result, told


def test_a_large_file_is_read_apart_and_stores_what_reading_it_here_would(ledger, tmp_path):
    path = tmp_path / "campaign.csv"
    generate(path, 10_500)  # people with one to three doses, 1 % bad rows, 10 % without record ids
    assert path.stat().st_size >= READ_APART_FROM
    here, told_here = progress_of(ledger, path, dry_run=True, read_apart=False)
    apart, told_apart = progress_of(ledger, path)  # apart: chosen by the file's size
    assert told_apart[0][3] == 1 and all(n == 0 for *_, n in told_here)  # a reader, then none
    assert [t[:3] for t in told_apart] == [t[:3] for t in told_here] and len(told_here) == 21
    assert apart.counts == here.counts and apart.counts.rejected > 0
    assert apart.errors == here.errors and apart.error_count == here.error_count
    assert len(stored_doses(ledger)) == apart.counts.created
    status = import_status(ledger, apart.import_id)
    assert (status["status"], status["rows"], status["read_fraction"]) == ("completed", 10_500, 1.0)
    assert readers() == []


def test_rows_the_ledger_refuses_are_reported_on_their_columns_when_read_apart(ledger, tmp_path):
    rows = people_rows(8) + [
        row("F1", administered_at="01/07/2099"),
        row("V1", vaccine="Snake Oil"),
        row("B1", birth_date="01/01/2030"),
    ]
    path = write_csv(tmp_path / "r.csv", rows)
    here = run_import(ledger, path, FORM, actor=UNIT, dry_run=True, chunk_rows=3, read_apart=False)
    apart = run_import(ledger, path, FORM, actor=UNIT, chunk_rows=3, read_apart=True)
    assert (apart.counts.created, apart.counts.rejected) == (8, 3)
    assert apart.errors == here.errors
    assert [e["column"] for e in apart.errors] == ["Ngày tiêm", "Tên vắc xin", "Ngày sinh"]


def test_a_file_changed_after_it_was_checked_is_not_imported(ledger, tmp_path):
    path = write_csv(tmp_path / "c.csv", people_rows(4))
    run = RetroImportRun(ledger, path, FORM, UNIT, read_apart=True)
    run.begin()
    write_csv(path, people_rows(5, start=100))  # replaced meanwhile: not what was attested
    with pytest.raises(FileChanged):
        run.proceed()
    status = import_status(ledger, run.import_id)
    assert status["status"] == "failed" and status["reason"].startswith("FileChanged: c.csv changed")
    assert stored_doses(ledger) == []


def finishes(work, seconds: float = 60.0) -> BaseException | None:
    """Runs work in a thread; fails the test if it hangs, else returns what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            raised.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the import hung"
    return raised[0] if raised else None


def test_a_reader_killed_mid_file_fails_the_import_and_the_file_sent_again_completes(ledger, tmp_path):
    path = write_csv(tmp_path / "k.csv", people_rows(3000))

    def kill_the_reader(progress):
        if progress.last_row == 501:  # the first chunk: the reader is half-way through the next
            [reader] = readers()
            os.kill(reader.pid, signal.SIGKILL)

    stopped = finishes(
        lambda: run_import(ledger, path, FORM, actor=UNIT, read_apart=True, on_chunk=kill_the_reader)
    )
    assert isinstance(stopped, ReaderStopped) and "exit code -9" in str(stopped)
    kept = stored_doses(ledger)
    assert 0 < len(kept) < 3000 and len(kept) % 500 == 0  # whole chunks, none in part
    [started] = [
        n
        for n in ledger.recorder.select_notifications(None, 10_000)
        if n.topic.endswith("RetroImport.Started")
    ]
    assert import_status(ledger, started.originator_id)["status"] == "failed"
    again = run_import(ledger, path, FORM, actor=UNIT, read_apart=True)
    assert (again.counts.created, again.counts.duplicate) == (3000 - len(kept), len(kept))
    assert len(stored_doses(ledger)) == 3000


def test_ctrl_c_is_for_the_importing_side_the_reader_reads_on(ledger, tmp_path):
    path = write_csv(tmp_path / "i.csv", people_rows(3000))

    def interrupt_the_reader(progress):
        if progress.last_row == 501:  # the reader is still reading
            [reader] = readers()
            os.kill(reader.pid, signal.SIGINT)

    result = run_import(ledger, path, FORM, actor=UNIT, read_apart=True, on_chunk=interrupt_the_reader)
    assert result.counts.created == 3000


def test_an_import_stopped_by_its_own_side_leaves_no_reader_behind(ledger, tmp_path):
    path = write_csv(tmp_path / "s.csv", people_rows(3000))

    def stop(progress):
        raise KeyboardInterrupt

    assert isinstance(
        finishes(lambda: run_import(ledger, path, FORM, actor=UNIT, read_apart=True, on_chunk=stop)),
        KeyboardInterrupt,
    )
    assert readers() == [] and len(stored_doses(ledger)) == 500


def test_an_error_that_cannot_cross_to_the_importing_side_still_tells_its_type_and_text():
    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a} and {b}")

    sent = _sendable(Odd(1, 2))
    assert isinstance(sent, ReaderStopped) and str(sent) == "Odd: 1 and 2"
    kept = ValueError("plain")
    assert _sendable(kept) is kept
