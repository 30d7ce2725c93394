"""A start on a PostgreSQL store that others are writing: it neither waits for their
transactions nor deadlocks with them, and a conflict in the save's pipeline is raised as the
conflict it is.

PostgreSQL only: the table locks and the pipeline are PostgreSQL's (SQLite's starts beside
writers are retried, store.sqlite.while_locked, and tested in tests/test_site_record_keys.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from projections import open_views
from projections.views import PROJECTIONS
from store.data_keys import DataKeys
from tests.test_keyed_ids import MINH, opened
from tests.test_ledger import SITE, lan
from usecases.application import DoseLedger
from usecases.keyed_ids import ForeignIdsSecret


@pytest.fixture
def pg_url(postgres_database: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{postgres_database}?schema={schema}"


def finished_while_held(url: str, locks: list[str], start: Callable[[], Any]) -> tuple[bool, list[Any]]:
    """Run `start` in a thread while another session holds `locks` (LOCK TABLE statements) in
    an open transaction, as a writer in the middle of its transaction does: did it finish
    before that transaction ended? What it returned, to close."""
    done: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            done.append(start())
        except BaseException as e:  # noqa: BLE001 - the test's finding
            errors.append(e)

    database, schema = url.split("?schema=")
    with psycopg.connect(database) as writer:
        writer.execute(f'SET search_path TO "{schema}"')
        for lock in locks:
            writer.execute(lock)
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=15)
        finished = not thread.is_alive()
        writer.rollback()  # the writer's transaction ends: a start that waited for it goes on
    thread.join(timeout=30)
    assert errors == []
    return finished, done


def test_a_start_does_not_wait_for_a_save_in_flight(pg_url, tmp_path):
    """A save holds the events table in EXCLUSIVE mode from its first statement to its commit.
    The creation every start runs locked that table (an index's IF NOT EXISTS) and so waited
    for the save, and any save after it waited for the start."""
    with opened(pg_url, tmp_path / "secrets") as first:
        first.register_person(lan(), actor=SITE)
        events = first.recorder.events_table_name
    finished, started = finished_while_held(
        pg_url, [f"LOCK TABLE {events} IN EXCLUSIVE MODE"], lambda: opened(pg_url, tmp_path / "secrets")
    )
    for ledger in started:
        ledger.close()
    assert finished


def test_views_open_beside_their_writer_without_a_deadlock(pg_url, tmp_path):
    """The API opens the views while the embedded projector writes them (a server started on
    a store with events to project). The views' creation locked each table it indexed, in its
    own order; the projector wrote them in another: PostgreSQL failed the API's start with a
    deadlock. Now a start locks none of them, so it finishes while they are being written."""
    with opened(pg_url, tmp_path / "secrets") as ledger:
        views = open_views(pg_url, ledger=ledger)
        tables = [f"{name}_{short}" for name, p in PROJECTIONS.items() for short in p.view_class.tables]
        views.close()
        finished, again = finished_while_held(
            pg_url,
            [f"LOCK TABLE {t} IN ROW EXCLUSIVE MODE" for t in tables],
            lambda: open_views(pg_url, ledger=ledger),
        )
        for opened_views in again:
            opened_views.close()
    assert finished


def test_a_conflict_that_arrives_before_the_pipeline_is_synced_is_raised_as_itself(
    pg_url, tmp_path, monkeypatch
):
    """In the save's pipeline, a conflict on the events is read with whichever statement comes
    next: here the person's data key, once the conflict has arrived (a pause makes it sure).
    It failed the save with "pipeline aborted", an OperationalError, instead of the conflict
    that a second ids secret is refused on."""
    first, second = opened(pg_url, tmp_path / "first"), opened(pg_url, tmp_path / "second")
    real = DataKeys.insert_staged

    def late(self: DataKeys, curs: Any) -> None:
        time.sleep(0.2)  # the events' unique violation is back before this insert is sent
        real(self, curs)

    try:
        first.register_person(lan(), actor=SITE)
        monkeypatch.setattr(DataKeys, "insert_staged", late)
        for _ in range(3):
            with pytest.raises(ForeignIdsSecret):
                second.register_person(MINH, actor=SITE)
        monkeypatch.setattr(DataKeys, "insert_staged", real)
        assert first.register_person(MINH, actor=SITE).created  # the store serves on
    finally:
        first.close()
        second.close()


def test_processes_starting_at_once_beside_a_writer_all_start(pg_url, tmp_path):
    """Three starts at once while a fourth ledger keeps saving: every start finishes, and every
    dose saved meanwhile is there once."""
    with opened(pg_url, tmp_path / "secrets") as writer:
        stop = threading.Event()
        saved: list[Any] = []

        def write() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                person = lan(national_id=f"0791{n:08d}", phone=f"09{n:08d}")
                saved.append(writer.register_person(person, actor=SITE))

        thread = threading.Thread(target=write)
        thread.start()
        started: list[DoseLedger] = []
        errors: list[BaseException] = []

        def start() -> None:
            try:
                started.append(opened(pg_url, tmp_path / "secrets"))
                started.append(open_views(pg_url, ledger=started[-1]))  # type: ignore[arg-type]
            except BaseException as e:  # noqa: BLE001 - the test's finding
                errors.append(e)

        try:
            starts = [threading.Thread(target=start) for _ in range(3)]
            for t in starts:
                t.start()
            for t in starts:
                t.join(timeout=60)
            assert errors == [] and not any(t.is_alive() for t in starts)
        finally:
            stop.set()
            thread.join(timeout=30)
            for opened_ in reversed(started):
                opened_.close()
        assert saved and len({r.person_id for r in saved}) == len(saved)
