"""The ledger's reaches past eventsourcing's public API (store/library.py) do what the public
path does: an upgrade of the library that changes one fails here, not in production."""

from __future__ import annotations

import sqlite3
import threading
import time
from importlib.metadata import version
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteDatastore,
    SQLiteRecorder,
    SQLiteTrackingRecorder,
)

from ledger.site import MOBILE, Site
from store import library
from store.postgres import PostgresLedgerRecorder

ACTOR = {"principal_id": "p", "role": "admin"}


def _listed(name: str) -> Site:
    site = Site.add_to_directory(uuid4(), name, name, MOBILE, "01", None, ACTOR, {"kind": "directory"})
    site.review("approved", None, f"{name} renamed", None, None, None, ACTOR)
    return site


def _stored(ledger, aggregate_id):
    return [
        (e.originator_version, e.topic.rsplit(":", 1)[1])
        for e in ledger.events.recorder.select_events(aggregate_id)
    ]


def test_the_pinned_minor_version_is_the_installed_one():
    assert version("eventsourcing").startswith(f"{library.PINNED}.")


def test_the_ledgers_save_stores_what_the_librarys_save_stores_and_answers_its_position(ledger):
    ours, theirs = _listed("A"), _listed("B")
    position = library.save(ledger, [ours])
    recordings = ledger.save(theirs)
    assert (
        _stored(ledger, ours.id) == _stored(ledger, theirs.id) == [(1, "Site.Listed"), (2, "Site.Reviewed")]
    )
    assert position == ledger.recorder.max_notification_id() - 2
    assert recordings[-1].notification.id == ledger.recorder.max_notification_id()
    # Both folds read back as the aggregate that was saved (snapshots and cache included).
    for saved in (ours, theirs):
        found = ledger.repository.get(saved.id)
        assert (found.version, found.name, found.review_status) == (2, saved.name, "approved")


def test_the_ledgers_save_of_nothing_new_writes_nothing_and_answers_no_position(ledger):
    site = _listed("C")
    library.save(ledger, [site])
    head = ledger.recorder.max_notification_id()
    assert library.save(ledger, [site]) is None
    assert ledger.recorder.max_notification_id() == head


# SQLite's view tables: created as the library's SQLiteRecorder creates any recorder's tables,
# without SQLiteTrackingRecorder's migration of a multi-row `tracking` table.

VIEW_TABLES = [
    "CREATE TABLE IF NOT EXISTS v_tracking (application_name TEXT, notification_id INTEGER, "
    "PRIMARY KEY (application_name)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS v_rows (person_id TEXT PRIMARY KEY, doses INTEGER)",
]


class _ViewTables(SQLiteTrackingRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return VIEW_TABLES

    def _create_table(self, c) -> None:
        library.create_sqlite_tables(self, c)


class _PlainTables(SQLiteRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return VIEW_TABLES


def _schema(path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_sqlite_view_tables_are_created_as_the_library_creates_a_recorders_and_nothing_migrated(tmp_path):
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    with sqlite3.connect(ours) as conn:  # another application's tracking, of the library's older shape
        conn.execute("CREATE TABLE tracking (application_name TEXT, notification_id INTEGER)")
        conn.executemany("INSERT INTO tracking VALUES ('other', ?)", [(1,), (2,)])
    kept = _schema(ours)
    _ViewTables(SQLiteDatastore(str(ours))).create_table()
    _PlainTables(SQLiteDatastore(str(theirs))).create_table()  # the library's public path
    assert _schema(ours) == sorted(kept + _schema(theirs))
    with sqlite3.connect(ours) as conn:
        assert conn.execute("SELECT notification_id FROM tracking").fetchall() == [(1,), (2,)]


# The insert: PostgreSQL's from binary arrays inside the library's step (its table lock and
# NOTIFY), SQLite's the library's own. Each store's recorder is compared with the library's
# own recorder for that store, on tables of their own in the same database.

THE_LIBRARYS = {"sqlite": SQLiteApplicationRecorder, "postgresql": PostgresApplicationRecorder}
EVENTS = [  # awkward bytes and text: what an escaping bug would change
    StoredEvent(UUID(int=2), 1, "tests:Story.Began", b"\x00\\'\"{}\n"),
    StoredEvent(UUID(int=1), 1, "tests:Story.Began", b""),
    StoredEvent(UUID(int=2), 2, "tests:Chuyện.Kể", "Nguyễn Thị Lan".encode() * 500),
]


def _store_kind(ledger) -> str:
    return "postgresql" if isinstance(ledger.recorder, PostgresApplicationRecorder) else "sqlite"


def _recorders(ledger):
    ours = type(ledger.recorder)(ledger.recorder.datastore, events_table_name="ours")
    theirs = THE_LIBRARYS[_store_kind(ledger)](ledger.recorder.datastore, events_table_name="theirs")
    for recorder in (ours, theirs):
        recorder.create_table()
    return ours, theirs


def _log(recorder):
    return [
        (n.id, n.originator_id, n.originator_version, n.topic, n.state)
        for n in recorder.select_notifications(None, 100)
    ]


def test_events_inserted_by_the_ledger_read_back_as_the_librarys_own_insert_stores_them(ledger):
    ours, theirs = _recorders(ledger)
    assert ours.insert_events(EVENTS[:2]) == theirs.insert_events(EVENTS[:2]) == [1, 2]
    assert ours.insert_events(EVENTS[2:]) == theirs.insert_events(EVENTS[2:]) == [3]
    assert _log(ours) == _log(theirs)
    for stream in (UUID(int=1), UUID(int=2)):
        assert ours.select_events(stream) == theirs.select_events(stream)
    assert [e.state for e in ours.select_events(UUID(int=2))] == [EVENTS[0].state, EVENTS[2].state]
    with pytest.raises(IntegrityError):  # a version taken twice is refused, and nothing of the batch stays
        ours.insert_events([StoredEvent(UUID(int=3), 1, "tests:Story.Began", b""), EVENTS[1]])
    assert _log(ours) == _log(theirs)


# Where each store's insert can be held open, its rows written and not yet committed.
AFTER_THE_ROWS = {"sqlite": "_insert_events", "postgresql": "_fetch_ids_after_insert_events"}


def test_notification_ids_are_in_commit_order_a_second_insert_waits_for_the_first(ledger):
    recorder = ledger.recorder
    hook = AFTER_THE_ROWS[_store_kind(ledger)]
    written, release = threading.Event(), threading.Event()
    rows_written = getattr(recorder, hook)

    def held_open(curs, stored_events, **kwargs):
        ids = rows_written(curs, stored_events, **kwargs)
        if stored_events[0].originator_id == UUID(int=1):
            written.set()
            assert release.wait(10)
        return ids

    setattr(recorder, hook, held_open)  # on this instance only
    ids: dict[str, list[int]] = {}
    first = threading.Thread(target=lambda: ids.update(first=recorder.insert_events(EVENTS[1:2])))
    second = threading.Thread(target=lambda: ids.update(second=recorder.insert_events(EVENTS[:1])))
    first.start()
    assert written.wait(10)
    assert recorder.max_notification_id() in (None, 0)  # readers do not see the first yet
    second.start()
    second.join(0.5)
    assert second.is_alive(), "the second insert did not wait for the first to commit"
    release.set()
    first.join(10)
    second.join(10)
    assert ids == {"first": [1], "second": [2]}
    assert [(n.id, n.originator_id) for n in recorder.select_notifications(None, 10)] == [
        (1, UUID(int=1)),
        (2, UUID(int=2)),
    ]


def test_the_postgresql_insert_is_the_librarys_own_under_a_retry_of_ours():
    assert (
        PostgresLedgerRecorder.insert_events.__wrapped__
        is PostgresApplicationRecorder.insert_events.__wrapped__
    )


# SQLite waits out its busy timeout inside the library and then fails at once; PostgreSQL
# tries a lost connection once more, 0.2 s later, then fails (the API answers 503).
ATTEMPTS = {"sqlite": 1, "postgresql": 2}


@pytest.mark.parametrize("error", [OperationalError, IntegrityError])
def test_an_insert_is_retried_exactly_as_configured(ledger, error):
    recorder, attempts = ledger.recorder, []

    def failing(curs, stored_events, **kwargs):
        attempts.append(time.monotonic())
        raise error("the database went away" if error is OperationalError else "a version taken twice")

    recorder._insert_events = failing  # the first step of each attempt, on both stores
    with pytest.raises(error):
        recorder.insert_events(EVENTS[:1])
    assert len(attempts) == (ATTEMPTS[_store_kind(ledger)] if error is OperationalError else 1)
    if len(attempts) == 2:
        assert 0.17 < attempts[1] - attempts[0] < 1.0
    del recorder._insert_events
    assert recorder.insert_events(EVENTS[:1]) == [1]


# The subscriptions: pages read by the library's listen-notify machinery.


def test_a_subscription_hands_out_what_the_librarys_public_reads_return(ledger):
    recorder = ledger.recorder
    recorder.insert_events(EVENTS[:2])
    got = []
    with recorder.follow(None) as following:
        recorder.insert_events(EVENTS[2:])
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            got += following.next_page(timeout=0.2)
    assert got == list(recorder.select_notifications(None, 100))
    if _store_kind(ledger) == "postgresql":  # the library's own subscription, iterated
        with recorder.subscribe(gt=None) as theirs:
            assert [next(theirs) for _ in got] == got


def test_the_urls_target_session_attrs_reaches_libpq_through_the_librarys_pool(postgres_database):
    """`library.connect_as`: a session libpq is asked for is the one it gives, or none at all."""
    from store.url import URL_KEY
    from usecases.application import DoseLedger

    base = postgres_database.split("?")[0]
    host = base.split("@", 1)[1].split("/", 1)[0]  # 127.0.0.1:5432: a primary
    twice = base.replace(host, f"{host},{host}")
    with DoseLedger(env={URL_KEY: f"{twice}?target_session_attrs=read-write"}) as ledger:
        datastore = ledger.recorder.datastore
        assert datastore.pool.kwargs["target_session_attrs"] == "read-write"
        with datastore.get_connection() as conn:
            assert conn.info.host == "127.0.0.1"
    # Neither host is a standby: the pool gets no connection (within the URL's 5 s).
    with pytest.raises(OperationalError, match="couldn't get a connection"):
        DoseLedger(env={URL_KEY: f"{twice}?target_session_attrs=read-only"})
