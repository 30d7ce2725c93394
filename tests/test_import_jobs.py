"""Background imports as jobs: a job whose process stopped is taken over by another service,
resumed after its last saved chunk (every row booked once), or marked failed with exactly what
was stored; never left running. A stopped process is played by a thread held forever at the
point where the process would have died; the service taking over is a second ImportJobs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from intake.retro import ImportJobs, import_status, run_import
from intake.retro.jobs import kept_upload
from ledger.retro_import import RetroImport
from tests.retro_files import FORM, UNIT, people_rows, stored_doses, write_csv

ROWS, CHUNK = 40, 5


class Halt:
    """Holds the thread making the n-th call forever: its process is gone."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any) -> None:
        self.calls += 1
        if self.calls == self.n and threading.current_thread().name.startswith("retro-import-"):
            self.reached.set()
            self.release.wait(60)


@pytest.fixture
def halts() -> Iterator[list[Halt]]:
    made: list[Halt] = []
    yield made
    for halt in made:
        halt.release.set()


def upload(tmp_path: Path, rows: int = ROWS) -> Path:
    folder = tmp_path / "upload"
    folder.mkdir(exist_ok=True)
    return write_csv(folder / "file", people_rows(rows))


def finished(ledger: Any, import_id: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (status := import_status(ledger, import_id))["status"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


def taken_over(jobs: ImportJobs, import_id: Any) -> None:
    """The watch's first look sees the stream; a later one, it standing still, takes it over."""
    deadline = time.monotonic() + 10
    while import_id not in jobs.take_over_stopped():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def per_record(ledger: Any) -> Counter[str]:
    return Counter(e.source["row"] for e in stored_doses(ledger))


def test_a_job_whose_process_stopped_is_resumed_and_every_row_is_booked_once(ledger, tmp_path, halts):
    folder = tmp_path / "imports"
    first = ImportJobs(ledger, folder, resume_after=3600)
    halts.append(halt := Halt(3))  # the process dies after its third chunk is saved
    import_id = first.start(upload(tmp_path), FORM, UNIT, chunk_rows=CHUNK, on_chunk=halt)
    assert halt.reached.wait(30)
    assert kept_upload(folder, import_id).file.exists()  # kept where a restart finds it
    status = import_status(ledger, import_id)
    assert (status["status"], status["rows"], status["last_row"]) == ("running", 15, 16)

    second = ImportJobs(ledger, folder, resume_after=0.2)
    taken_over(second, import_id)
    status = finished(ledger, import_id)
    assert (status["status"], status["rows"], status["created"], status["duplicate"]) == (
        "completed",
        ROWS,
        ROWS,
        0,
    )
    assert status["resumed"] == 1
    rows = per_record(ledger)
    assert len(rows) == ROWS and set(rows.values()) == {1}
    assert _gone_soon(kept_upload(folder, import_id).folder)  # removed once the import ended

    # The first process, were it only slow, finds the job taken: it books nothing twice.
    halt.release.set()
    time.sleep(0.5)
    assert set(per_record(ledger).values()) == {1}
    assert finished(ledger, import_id)["status"] == "completed"


def test_a_job_taken_over_is_claimed_by_one_service_only(ledger, tmp_path, halts):
    folder = tmp_path / "imports"
    halts.append(halt := Halt(2))
    import_id = ImportJobs(ledger, folder, resume_after=3600).start(
        upload(tmp_path), FORM, UNIT, chunk_rows=CHUNK, on_chunk=halt
    )
    assert halt.reached.wait(30)
    services = [ImportJobs(ledger, folder, resume_after=0.2) for _ in range(2)]
    for service in services:
        service.take_over_stopped()
    time.sleep(0.3)
    claims = [service.take_over_stopped() for service in services]
    assert sorted(len(c) for c in claims) == [0, 1]
    assert finished(ledger, import_id)["resumed"] == 1


def test_a_service_losing_the_race_to_claim_a_job_leaves_it_to_the_winner(
    ledger, tmp_path, halts, monkeypatch
):
    folder = tmp_path / "imports"
    halts.append(halt := Halt(2))
    import_id = ImportJobs(ledger, folder, resume_after=3600).start(
        upload(tmp_path), FORM, UNIT, chunk_rows=CHUNK, on_chunk=halt
    )
    assert halt.reached.wait(30)
    winner, loser = (ImportJobs(ledger, folder, resume_after=0.2) for _ in range(2))
    winner.take_over_stopped(), loser.take_over_stopped()
    time.sleep(0.3)
    resumed_run = ImportJobs._resumed_run

    def winner_first(self: ImportJobs, *args: Any) -> Any:
        # The loser has read the stream at the version it watched: the winner claims it now.
        assert import_id in winner.take_over_stopped()
        return resumed_run(self, *args)

    monkeypatch.setattr(loser, "_resumed_run", winner_first.__get__(loser))
    assert loser.take_over_stopped() == []
    status = finished(ledger, import_id)
    assert (status["status"], status["resumed"], status["created"]) == ("completed", 1, ROWS)
    assert set(per_record(ledger).values()) == {1} and len(per_record(ledger)) == ROWS


def test_a_job_whose_upload_is_gone_fails_with_exactly_what_was_stored(ledger, tmp_path, halts, monkeypatch):
    """The process dies after a chunk's doses are stored but before its ChunkImported is: the
    failure counts those doses too, found by their source."""
    folder = tmp_path / "imports"
    halts.append(halt := Halt(3))
    record_reports = ledger.record_reports

    def then_die(*args: Any, **kwargs: Any) -> Any:
        outcomes = record_reports(*args, **kwargs)
        halt()
        return outcomes

    monkeypatch.setattr(ledger, "record_reports", then_die)
    import_id = ImportJobs(ledger, folder, resume_after=3600).start(
        upload(tmp_path), FORM, UNIT, chunk_rows=CHUNK
    )
    assert halt.reached.wait(30)
    assert import_status(ledger, import_id)["rows"] == 2 * CHUNK  # the third chunk is not reported
    kept_upload(folder, import_id).discard()

    taken_over(ImportJobs(ledger, folder, resume_after=0.2), import_id)
    status = import_status(ledger, import_id)
    assert (status["status"], status["created"], status["last_row"]) == ("failed", 3 * CHUNK, 3 * CHUNK + 1)
    assert status["created"] == len(per_record(ledger)) == 15
    assert "15 rows booked" in status["reason"] and "up to row 16" in status["reason"]


def test_a_chunk_stored_but_not_reported_is_counted_once_as_created_on_resume(
    ledger, tmp_path, halts, monkeypatch
):
    folder = tmp_path / "imports"
    halts.append(halt := Halt(3))
    record_reports = ledger.record_reports

    def then_die(*args: Any, **kwargs: Any) -> Any:
        outcomes = record_reports(*args, **kwargs)
        halt()
        return outcomes

    monkeypatch.setattr(ledger, "record_reports", then_die)
    import_id = ImportJobs(ledger, folder, resume_after=3600).start(
        upload(tmp_path), FORM, UNIT, chunk_rows=CHUNK
    )
    assert halt.reached.wait(30)
    assert (len(per_record(ledger)), import_status(ledger, import_id)["rows"]) == (3 * CHUNK, 2 * CHUNK)

    taken_over(ImportJobs(ledger, folder, resume_after=0.2), import_id)
    status = finished(ledger, import_id)
    assert (status["status"], status["rows"], status["created"], status["duplicate"]) == (
        "completed",
        ROWS,
        ROWS,
        0,
    )
    rows = per_record(ledger)
    assert len(rows) == ROWS and set(rows.values()) == {1}


def test_an_import_the_cli_ran_and_was_killed_is_marked_failed_not_left_running(
    ledger, tmp_path, monkeypatch
):
    path = write_csv(tmp_path / "f.csv", people_rows(12))

    class Killed(BaseException):
        """Not even proceed()'s handler runs: SIGKILL."""

    def kill(progress: Any) -> None:
        if progress.last_row > 5:
            raise Killed

    monkeypatch.setattr(RetroImport, "fail", lambda self, reason: None)  # nothing recorded at a kill
    with pytest.raises(Killed):
        run_import(ledger, path, FORM, actor=UNIT, chunk_rows=4, on_chunk=kill)
    monkeypatch.undo()
    (import_id,) = {e.source["import_id"] for e in stored_doses(ledger)}
    assert import_status(ledger, import_id)["status"] == "running"

    taken_over(ImportJobs(ledger, tmp_path / "imports", resume_after=0.2), UUID(import_id))
    status = import_status(ledger, import_id)
    assert (status["status"], status["created"]) == ("failed", 8)
    assert "ran where it was sent" in status["reason"]


def test_a_dry_run_job_books_nothing_and_is_polled_to_completion(ledger, tmp_path):
    folder = tmp_path / "imports"
    jobs = ImportJobs(ledger, folder)
    import_id = jobs.start(upload(tmp_path), FORM, UNIT, dry_run=True, chunk_rows=CHUNK)
    status = finished(ledger, import_id)
    assert (status["status"], status["dry_run"], status["rows"], status["created"]) == (
        "completed",
        True,
        ROWS,
        ROWS,
    )
    assert stored_doses(ledger) == []
    assert _gone_soon(kept_upload(folder, import_id).folder)


def _gone_soon(folder: Path) -> bool:
    deadline = time.monotonic() + 10
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not folder.exists()
