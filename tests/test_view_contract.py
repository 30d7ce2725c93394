"""What every view promises, whatever the store: one contract class, run on SQLite and PostgreSQL
(the `store_url` fixture) for each of the projections."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from eventsourcing.persistence import Tracking

from cli.demo import seed
from projections import open_views
from projections.engine import rebuild as rebuilding
from projections.engine.postgres import SWAP_LOCK_MS
from projections.engine.rebuild import Quiet, rebuild_views
from projections.engine.tables import LEDGER, STALE_AFTER, LostTheLock, TrackingConflict
from projections.running import start_embedded
from projections.views import PROJECTIONS, construct_view
from tests.readside import FAST
from tests.test_ledger import dose, lan
from usecases.application import DoseLedger


def people_rows(view) -> int:
    with view.reading() as sql:
        return int(sql.rows("SELECT COUNT(*) AS n FROM {people}")[0]["n"])


# The views that fold people (the issuances view folds Issuance streams: its own tests,
# tests/test_issuances_view.py, hold it to the same contract).
@pytest.fixture(params=[name for name, p in PROJECTIONS.items() if "people" in p.view_class.tables])
def projection(request, ledger: DoseLedger):
    return PROJECTIONS[request.param](view=construct_view(ledger, PROJECTIONS[request.param]))


@pytest.fixture(params=[name for name, p in PROJECTIONS.items() if p.rebuilds_by_person])
def folded(request, ledger: DoseLedger):
    """A projection whose rebuild folds person by person, then swaps its tables in."""
    return PROJECTIONS[request.param](view=construct_view(ledger, PROJECTIONS[request.param]))


@pytest.fixture
def notifications(ledger: DoseLedger):
    """Three people registered, one dose: the people's notifications, in order.

    (Key streams written beside them are left out, so ids are positions, not a count.)"""
    pids = [ledger.register_person(lan(national_id=None, full_name=f"Người {n}")).person_id for n in range(3)]
    dose(ledger, pids[0], "R1")
    return [n for n in ledger.recorder.select_notifications(start=1, limit=100) if n.originator_id in pids]


class TestViewContract:
    def test_a_fresh_view_has_applied_nothing(self, projection):
        assert projection.view.position() is None
        assert people_rows(projection.view) == 0

    def test_a_page_commits_its_rows_and_its_position_together(self, projection, notifications, ledger):
        assert (
            projection.process_notifications(notifications[:3], ledger.mapper, after=None)
            == notifications[2].id
        )
        assert projection.view.position() == notifications[2].id and people_rows(projection.view) == 3
        last = projection.process_notifications(notifications[3:], ledger.mapper, after=notifications[2].id)
        assert projection.view.position() == last == notifications[-1].id

    def test_a_page_applied_twice_is_refused_and_changes_nothing(self, projection, notifications, ledger):
        projection.process_notifications(notifications[:2], ledger.mapper, after=None)
        for after in (None, 0, notifications[0].id):  # as if a runner crashed after the commit and forgot it
            with pytest.raises(TrackingConflict):
                projection.process_notifications(notifications[:2], ledger.mapper, after=after)
        assert projection.view.position() == notifications[1].id and people_rows(projection.view) == 2

    def test_a_page_folded_from_a_position_the_view_has_left_is_refused(
        self, projection, notifications, ledger
    ):
        projection.process_notifications(notifications[:2], ledger.mapper, after=None)
        projection.process_notifications(notifications[2:3], ledger.mapper, after=notifications[1].id)
        with pytest.raises(TrackingConflict):  # a second writer, still at 2, overlapping the first
            projection.process_notifications(notifications[2:], ledger.mapper, after=notifications[1].id)
        assert projection.view.position() == notifications[2].id and people_rows(projection.view) == 3

    def test_the_commit_itself_checks_the_position(self, projection, notifications, ledger):
        """A writer that checked the position, then lost a race to another, fails at commit."""
        projection.process_notifications(notifications[:3], ledger.mapper, after=None)
        for after in (None, notifications[1].id):
            with (
                pytest.raises(TrackingConflict),
                projection.view.writing(Tracking(LEDGER, notifications[-1].id + 5), after) as sql,
            ):
                sql.run("DELETE FROM {people}")
        assert projection.view.position() == notifications[2].id and people_rows(projection.view) == 3

    def test_a_failed_transaction_changes_neither_rows_nor_the_position(
        self, projection, notifications, ledger
    ):
        projection.process_notifications(notifications[:3], ledger.mapper, after=None)
        with (
            pytest.raises(RuntimeError),
            projection.view.writing(Tracking(LEDGER, notifications[3].id), notifications[2].id) as sql,
        ):
            sql.run("DELETE FROM {people}")
            raise RuntimeError("the process died here")
        assert projection.view.position() == notifications[2].id and people_rows(projection.view) == 3

    def test_drop_forgets_the_rows_and_the_position(self, projection, notifications, ledger):
        projection.process_notifications(notifications, ledger.mapper, after=None)
        projection.view.report("running")
        projection.view.drop()
        assert projection.view.position() is None and people_rows(projection.view) == 0
        assert projection.view.runner() is None
        projection.process_notifications(notifications, ledger.mapper, after=None)
        assert people_rows(projection.view) == 3

    def test_the_librarys_one_event_path_applies_an_event_and_tracks_it(
        self, projection, notifications, ledger
    ):
        for notification in notifications:
            projection.process_event(
                ledger.mapper.to_domain_event(notification), Tracking(LEDGER, notification.id)
            )
        assert people_rows(projection.view) == 3
        assert projection.view.has_tracking_id(LEDGER, notifications[-1].id)
        projection.view.wait(LEDGER, notifications[-1].id, timeout=1)

    def test_the_runner_row_says_what_its_runner_does(self, projection):
        assert projection.view.runner() is None
        projection.view.report("failed", "stopped at notification 7: KeyError")
        runner = projection.view.runner()
        assert (runner["state"], runner["error"]) == ("failed", "stopped at notification 7: KeyError")

    def test_a_views_commit_does_not_wait_for_the_disk_and_the_ledgers_still_does(
        self, projection, ledger: DoseLedger
    ):
        """A view's commit lost to a power cut takes its position with it: its events are applied
        again. A dose the ledger accepted is never lost: its commits wait for the disk, on the
        same connections the views borrow."""
        sqlite = ledger.factory.__class__.__name__.startswith("SQLite")
        setting = "PRAGMA synchronous" if sqlite else "SHOW synchronous_commit"
        with projection.view._session(write=True) as sql:
            in_view = list(sql.rows(setting)[0].values())[0]
            borrowed = sql.cursor.connection  # the pool's: the ledger's writer gets it next
        assert in_view == (1 if sqlite else "off")  # SQLite NORMAL: no sync at each WAL commit
        after = borrowed.execute(setting).fetchone()  # the same connection, back in the pool
        assert (after[0] if sqlite else after["synchronous_commit"]) == (2 if sqlite else "on")  # FULL

    # --- rebuilds ---------------------------------------------------------------------------------

    def test_a_rebuild_equals_the_live_view(self, projection, ledger):
        seed(ledger, people=80)
        live = caught_up_by_pages(projection, ledger)
        shown = view_rows(projection.view)
        [rebuilt] = rebuild_views(ledger, [type(projection)], Quiet(), wait=5, by_person=True)
        assert rebuilt.position == live == projection.view.position()
        assert view_rows(projection.view) == shown and shown["people"]

    def test_a_rebuild_stopped_halfway_leaves_the_view_as_it_was(self, projection, ledger, monkeypatch):
        """Folded person by person, a view is rebuilt into tables of its own, which take its
        place only once whole. A view replayed page by page (the correction requests) is at
        the last page it committed, and goes on from there."""
        seed(ledger, people=80)
        live = caught_up_by_pages(projection, ledger)
        shown = view_rows(projection.view)
        monkeypatch.setattr(rebuilding, "PAGE", 5)
        decode, decoded = ledger.mapper.to_domain_event, []

        def failing_midway(stored):
            decoded.append(stored)
            if len(decoded) == 40:
                raise OSError("the ledger went away")
            return decode(stored)

        monkeypatch.setattr(ledger.mapper, "to_domain_event", failing_midway)
        with pytest.raises(OSError, match="went away"):
            rebuild_views(ledger, [type(projection)], Quiet(), wait=5, by_person=True)
        monkeypatch.undo()
        assert aside_rows(projection.view) == 0  # no personal data left beside the view
        if projection.rebuilds_by_person:
            assert projection.view.position() == live and view_rows(projection.view) == shown
        else:
            assert projection.view.position() < live
            caught_up_by_pages(projection, ledger)
            assert view_rows(projection.view) == shown

    # --- status ---------------------------------------------------------------------------------

    def test_status_says_running_failed_or_stopped(self, projection):
        view = projection.view
        assert view.state() == ("stopped", None)  # never run
        view.report("running")
        assert view.state() == ("running", None)
        assert view.state(now=time.time() + STALE_AFTER + 1) == ("stopped", None)  # died without a word
        view.report("failed", "stopped at notification 7: KeyError")
        assert view.state() == ("failed", "stopped at notification 7: KeyError")
        view.report("stopped")
        assert view.state() == ("stopped", None)

    def test_a_runner_folding_an_empty_view_is_running_across_its_swap(
        self, folded, ledger, store_url, monkeypatch
    ):
        """A projector starting on an empty view folds it person by person and swaps it in:
        the status says it runs before, during and right after the swap."""
        seed(ledger, people=80)
        states: list[Any] = []
        finish = type(folded.view).finish_rebuilding

        def watched(view, position, was):
            finish(view, position, was)
            with open_views(store_url, ledger=ledger) as views:
                states.append(
                    next((s["state"], s["position"]) for s in views.status() if s["name"] == folded.name)
                )

        monkeypatch.setattr(folded.view_class, "finish_rebuilding", watched)
        with start_embedded(store_url, names=[folded.name], **FAST):
            assert wait_for(lambda: states)
        assert states and states[0][0] == "running"

    # --- the swap: its locks ----------------------------------------------------------------------

    def test_a_reader_does_not_queue_behind_a_swap_waiting_for_a_long_read(self, folded, ledger, store_url):
        """A swap drops and renames the view's tables: it waits for a long read that holds them
        (a report), but takes its locks with a timeout, so that the readers arriving meanwhile
        wait no longer than that, and then swaps once the long read is done."""
        seed(ledger, people=80)
        caught_up_by_pages(folded, ledger)
        swapped: list[BaseException | None] = []
        with long_read(store_url, f"{folded.name}_people"):
            thread = threading.Thread(
                target=lambda: swapped.append(
                    _raised(lambda: rebuild_views(ledger, [type(folded)], Quiet(), wait=5, by_person=True))
                )
            )
            thread.start()
            time.sleep(0.5)  # the swap is waiting for the long read by now (PostgreSQL)
            waits = []
            for _ in range(5):
                started = time.monotonic()
                folded.view.one_read("SELECT COUNT(*) AS n FROM {people}")
                waits.append(time.monotonic() - started)
                time.sleep(0.1)
            assert max(waits) < SWAP_LOCK_MS / 1000 + 0.5, waits
        thread.join(30)
        assert swapped == [None]  # then the swap went through

    def test_a_writer_that_lost_its_lock_never_swaps(self, folded, ledger, store_url):
        """The projection's lock can go (its connection killed, its file removed) while a rebuild
        folds: another runner may have taken the view meanwhile. The swap checks first."""
        seed(ledger, people=80)
        live = caught_up_by_pages(folded, ledger)
        shown = view_rows(folded.view)
        with folded.view.exclusive(threading.Event()) as alone:
            assert alone
            lose_the_lock(folded.view, store_url)
            with pytest.raises(LostTheLock):
                rebuilding.fold_by_person(ledger, folded)
        assert folded.view.position() == live and view_rows(folded.view) == shown
        assert aside_rows(folded.view) == 0


KEPT = "00000000-0000-4000-8000-000000000001"


class TestMigrations:
    def test_a_store_made_by_the_previous_code_is_migrated_once(self, ledger, store_url):
        """The previous code made the certificates' tables without lz4 and kept a retired
        `certificates_rebuilding` table, dropped at every start; now each change is a numbered
        migration, applied once and recorded."""
        with raw(store_url) as (run, name):
            run(
                f"CREATE TABLE {name('certificates_people')} (person_id TEXT PRIMARY KEY, "
                "record TEXT NOT NULL, document TEXT NOT NULL)"
            )
            run(
                f"CREATE TABLE {name('certificates_rebuilding')} (person_id TEXT PRIMARY KEY, "
                "record TEXT NOT NULL, document TEXT NOT NULL)"
            )
            run(f"INSERT INTO {name('certificates_people')} VALUES ('{KEPT}', '{{}}', '{{\"version\": 1}}')")
        view = construct_view(ledger, PROJECTIONS["certificates"])
        with raw(store_url) as (run, name):
            applied = run(
                f"SELECT view, number, applied_at FROM {name('view_migrations')} "
                "WHERE view = 'certificates' ORDER BY number"
            )
            assert [(r[0], r[1]) for r in applied] == [
                ("certificates", 1),
                ("certificates", 2),
                ("certificates", 3),
            ]
            assert not table_exists(run, store_url, "certificates_rebuilding")
            if store_url.startswith("postgresql"):
                compressed = run(
                    "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = "
                    f"'{name('certificates_people')}'::regclass AND atttypid = 'text'::regtype"
                )
                has_lz4 = run(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
                )[0][0]
                assert {c for _, c in compressed} == ({"l"} if has_lz4 else {""})
        # Versions made before content-addressed ids are folded again: the view starts over.
        assert view.certificate(KEPT) is None and view.position() is None
        construct_view(ledger, PROJECTIONS["certificates"])  # opened again: nothing runs twice
        with raw(store_url) as (run, name):
            again = run(
                f"SELECT view, number, applied_at FROM {name('view_migrations')} "
                "WHERE view = 'certificates' ORDER BY number"
            )
        assert again == applied

    def test_a_new_store_records_every_migration_of_every_view(self, ledger, store_url):
        for p in PROJECTIONS.values():
            construct_view(ledger, p)
        with raw(store_url) as (run, name):
            rows = run(f"SELECT view, number FROM {name('view_migrations')} ORDER BY view, number")
        assert sorted(rows) == sorted(
            [(n, 1) for n in PROJECTIONS] + [("certificates", 2), ("certificates", 3), ("statistics", 2)]
        )


class TestOneDatabaseManyViews:
    def test_each_view_keeps_its_own_position(self, ledger, notifications):
        """eventsourcing's SQLite tracking table is one `tracking` table keyed by application:
        views sharing it would share one position. Each has its own."""
        views = {name: p(view=construct_view(ledger, p)) for name, p in PROJECTIONS.items()}
        views["certificates"].process_notifications(notifications[:1], ledger.mapper, after=None)
        views["review"].process_notifications(notifications[:3], ledger.mapper, after=None)
        assert {name: p.view.position() for name, p in views.items()} == {
            "certificates": notifications[0].id,
            "statistics": None,
            "localities": None,
            "review": notifications[2].id,
            "corrections": None,
            "issuances": None,
            "backlog": None,
        }

    def test_a_second_runner_waits_for_the_first(self, ledger):
        view = construct_view(ledger, PROJECTIONS["statistics"])
        other = construct_view(ledger, PROJECTIONS["statistics"])
        never, soon = threading.Event(), threading.Event()
        with view.exclusive(never) as first:
            assert first
            threading.Timer(0.3, soon.set).start()
            with other.exclusive(soon) as second:
                assert not second  # it gave up waiting
        with other.exclusive(never) as second:
            assert second  # free once the first let go

    def test_a_certificate_too_big_for_one_stored_row_reads_back_whole(self, ledger, store_url):
        """Twelve doses make a record and certificate of about 4 kB, past the 2 kB after which
        PostgreSQL compresses a row; its views compress with lz4 (faster than its default,
        pglz), and every byte comes back."""
        person = ledger.register_person(lan()).person_id
        for n in range(12):
            dose(
                ledger,
                person,
                f"BIG-{n}",
                administered_at=f"2021-{1 + n:02d}-01",
                lot=f"LOT-{n:02d}-" + "X" * 40,
            )
        projection = PROJECTIONS["certificates"](view=construct_view(ledger, PROJECTIONS["certificates"]))
        projection.process_notifications(
            ledger.recorder.select_notifications(start=1, limit=1000), ledger.mapper, after=None
        )
        again = construct_view(ledger, PROJECTIONS["certificates"])  # as the API reads it
        certificate = again.certificate(person)
        assert [d["lot"] for d in certificate["doses"]] == [f"LOT-{n:02d}-" + "X" * 40 for n in range(12)]
        assert certificate["status"] == "booster" and certificate["version"] == 13
        if store_url.startswith("postgresql"):
            with again.reading() as sql:
                stored = sql.rows(
                    "SELECT pg_column_compression(record) AS record, "
                    "pg_column_compression(document) AS document FROM {people}"
                )
                has_lz4 = sql.rows(
                    "SELECT 'lz4' = ANY(enumvals) AS has FROM pg_settings "
                    "WHERE name = 'default_toast_compression'"
                )[0]["has"]
            method = "lz4" if has_lz4 else "pglz"  # a server built without lz4 keeps its default
            assert stored == [{"record": method, "document": method}]


# --- helpers ----------------------------------------------------------------------------------------


def caught_up_by_pages(projection, ledger, page: int = 50) -> int:
    """The view applied page by page up to the ledger's head, as a projector does: the position."""
    position = projection.view.position()
    while True:
        notifications = ledger.recorder.select_notifications(start=(position or 0) + 1, limit=page)
        if not notifications:
            return position
        position = projection.process_notifications(notifications, ledger.mapper, after=position)


def view_rows(view) -> dict[str, list]:
    """Every row of every table of a view, in one order."""
    with view.reading() as sql:
        return {
            short: sorted((tuple(row.values()) for row in sql.rows(f"SELECT * FROM {{{short}}}")), key=repr)
            for short in view.tables
        }


def aside_rows(view) -> int:
    with view.reading() as sql:
        return sum(sql.rows(f"SELECT COUNT(*) AS n FROM {{{short}_aside}}")[0]["n"] for short in view.aside)


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _raised(call) -> BaseException | None:
    try:
        call()
    except BaseException as e:  # noqa: BLE001 - handed to the test's thread
        return e
    return None


class raw:
    """A connection of the test's own to the store: `run(statement)` → rows; `name(table)`."""

    def __init__(self, store_url: str):
        self.url = store_url

    def __enter__(self):
        parts = urlsplit(self.url)
        if parts.scheme == "sqlite":
            self.conn: Any = sqlite3.connect(parts.path[1:], isolation_level=None)
            return (lambda statement: self.conn.execute(statement).fetchall()), (lambda table: table)
        schema = parse_qs(parts.query)["schema"][0]
        self.conn = psycopg.connect(self.url.split("?")[0], autocommit=True)

        def run(statement: str) -> list[tuple]:
            cursor = self.conn.execute(statement)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

        return run, (lambda table: f'"{schema}"."{table}"')

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def table_exists(run, store_url: str, table: str) -> bool:
    if store_url.startswith("sqlite"):
        return bool(run(f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{table}'"))
    schema = parse_qs(urlsplit(store_url).query)["schema"][0]
    return bool(run(f"SELECT 1 FROM pg_tables WHERE schemaname = '{schema}' AND tablename = '{table}'"))


class long_read:
    """A read transaction that holds a table (a long report) until the block ends, or `hold`
    seconds have passed (so that a reader queued behind a swap fails the test, not hangs it)."""

    def __init__(self, store_url: str, table: str, hold: float = 5.0):
        self.url, self.table, self.hold = store_url, table, hold
        self._ended = threading.Lock()

    def __enter__(self) -> None:
        with raw(self.url) as (_, name):
            qualified = name(self.table)
        parts = urlsplit(self.url)
        if parts.scheme == "sqlite":
            self.conn: Any = sqlite3.connect(parts.path[1:], isolation_level=None, check_same_thread=False)
            self.conn.execute("BEGIN")
        else:
            self.conn = psycopg.connect(self.url.split("?")[0])  # a transaction, open until closed
        self.conn.execute(f"SELECT COUNT(*) FROM {qualified}").fetchall()
        self.timer = threading.Timer(self.hold, self._end)
        self.timer.start()

    def _end(self) -> None:
        if self._ended.acquire(blocking=False):
            self.conn.rollback()
            self.conn.close()

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()
        self._end()


def lose_the_lock(view, store_url: str) -> None:
    """What a network cut or an operator does to the projection's lock."""
    if store_url.startswith("sqlite"):
        os.unlink(view._held[0])  # a new runner then locks a new file at the same path
        return
    with raw(store_url) as (run, _):
        run(f"SELECT pg_terminate_backend({view._held[0]})")
