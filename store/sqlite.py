"""The ledger's event store on SQLite (store.event_store): the library's recorder, plus the
reads the library has no query for, a polling subscription, and the switch of a new file to
WAL mode.

Positions are SQLite's `rowid`, which the library uses as the notification id.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.persistence import OperationalError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from store import library
from store.data_keys import SQLITE_TABLES, DataKeys
from store.event_store import EventStore, StoredRecord
from store.person_keys import IDENTITY_TABLE, PersonKeys
from store.person_keys import SQLITE_TABLES as NATIONAL_ID_TABLES
from store.site_records import SQLITE_TABLES as KEY_TABLES
from store.site_records import SiteRecordKeys

RECORDS = "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "

# Each connection's own settings (SQLite keeps them per connection, not in the file); the
# library sets none. SQLite's 2 MB page cache holds less than the events' primary-key index of
# a store of 100,000 events (5.6 MB; 250 MB at 5 M events, a level deeper): each look-up and
# each insert at a random UUID read its index pages from the OS again. 64 MB holds both trees'
# interior pages at 5 M and the hottest leaves (filled as used: per pooled connection, at most).
# A checkpoint every 10,000 WAL pages (40 MB) rather than 1,000 copies a page dirtied by several
# batches into the file once. Measured at 5 M events: docs/PERFORMANCE.md "Second round: growth".
CONNECTION_PRAGMAS: tuple[str, ...] = ("PRAGMA cache_size=-65536", "PRAGMA wal_autocheckpoint=10000")
STARTING_WAIT = 30.0  # seconds a start retries against other processes starting at once

T = TypeVar("T")


class SQLiteLedgerRecorder(EventStore, SQLiteApplicationRecorder):
    data_keys: DataKeys | None = None  # set by the application: new people's keys go in with their events

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        if CONNECTION_PRAGMAS:
            settle_connections(datastore)
        self.site_records = SiteRecordKeys(self.datastore)
        self.national_ids = PersonKeys(self.datastore)
        self.identities = PersonKeys(self.datastore, IDENTITY_TABLE)

    def create_table(self) -> None:
        # Several processes starting at once on one file: see while_locked.
        while_locked(super().create_table)

    def copy_old_keys(self, copy: Callable[[], int]) -> int:
        """Retried whole while another process starting at once holds the file (see
        while_locked); a second copy inserts nothing (store.site_records)."""
        return while_locked(copy)

    def construct_create_table_statements(self) -> list[str]:
        # The people's data keys (store.data_keys) and the site-record keys (store.site_records)
        # are created with the events; so are the people's keys (store.person_keys).
        return [
            *super().construct_create_table_statements(),
            *SQLITE_TABLES,
            *KEY_TABLES,
            *NATIONAL_ID_TABLES,
        ]

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.data_keys is not None:
            self.data_keys.insert_staged(c)  # same transaction: a key commits with its events
        positions = super()._insert_events(c, stored_events, **kwargs)
        self.site_records.insert_staged(c)  # same transaction: a second claimant fails the save
        self.national_ids.insert_staged(c)  # and a second claimant of a national id
        self.identities.insert_staged(c)  # or a second change of one identity key
        return positions

    def _records(self, rows: list[Any]) -> list[StoredRecord]:
        convert = self.convert_originator_id  # UUIDs: the ledger's datastores are made for them
        return [
            StoredRecord(
                originator_id=cast(UUID, convert(row[1])),
                originator_version=row[2],
                topic=row[3],
                state=row[4],
                position=row[0],
            )
            for row in rows
        ]

    def select_streams(self, ids: Sequence[UUID]) -> list[StoredRecord]:
        if not ids:
            return []
        statement = (
            RECORDS.format(table=self.events_table_name)
            + f"WHERE originator_id IN ({','.join('?' * len(ids))}) "
            "ORDER BY originator_id, originator_version"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, [i.hex for i in ids])
            return self._records(c.fetchall())

    def scan_streams(
        self, topics: Sequence[str] | None = None, up_to: int | None = None, chunk: int = 2000
    ) -> Iterator[StoredRecord]:
        """In the primary key's order, `chunk` rows a query, each query after the last key read
        (no sort, and no read transaction held open for the whole scan: events never change,
        and those up to `up_to` are all there). See EventStore.scan_streams."""
        if topics is not None and not topics:
            return
        if up_to is None:
            up_to = self.max_notification_id() or 0
        of_topics = "" if topics is None else f"AND topic IN ({','.join('?' * len(topics))}) "
        statement = (
            RECORDS.format(table=self.events_table_name)
            # +rowid: the bound is checked row by row, so that the primary key's index is walked
            + f"WHERE (originator_id, originator_version) > (?, ?) {of_topics}"
            "AND +rowid <= ? ORDER BY originator_id, originator_version LIMIT ?"
        )
        after: tuple[str, int] = ("", 0)
        while True:
            with self.datastore.transaction(commit=False) as c:
                c.execute(statement, [*after, *(topics or ()), up_to, chunk])
                rows = c.fetchall()
            yield from self._records(rows)
            if len(rows) < chunk:
                return
            after = (rows[-1][1], rows[-1][2])

    def count_notifications(self, stop: int | None = None) -> int:
        with self.datastore.transaction(commit=False) as c:
            if stop is None:
                c.execute(f"SELECT COUNT(*) FROM {self.events_table_name}")
            else:
                c.execute(f"SELECT COUNT(*) FROM {self.events_table_name} WHERE rowid <= ?", (stop,))
            return int(c.fetchone()[0])

    def stream_heads(self) -> tuple[int, list[StoredRecord]]:
        """One statement, so one snapshot: the head position and each stream's last record
        up to it (the primary key's index gives each stream's highest version)."""
        table = self.events_table_name
        statement = (
            f"WITH top(position) AS (SELECT MAX(rowid) FROM {table}) "
            "SELECT top.position, e.rowid, e.originator_id, e.originator_version, e.topic, e.state "
            f"FROM top, {table} e JOIN (SELECT originator_id, MAX(originator_version) AS version "
            f"FROM {table} WHERE rowid <= (SELECT position FROM top) GROUP BY originator_id) h "
            "ON e.originator_id = h.originator_id AND e.originator_version = h.version "
            "ORDER BY e.originator_id"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement)
            rows = c.fetchall()
        if not rows:
            return 0, []
        return int(rows[0][0]), self._records([row[1:] for row in rows])

    def follow(self, gt: int | None) -> library.PollingSubscription:
        return library.PollingSubscription(self, gt=gt)


def settle_connections(datastore: SQLiteDatastore) -> None:
    """Run CONNECTION_PRAGMAS on each connection the datastore's pool makes from now on. The
    library's pool makes its connections in `_create_connection` and has no setting for them."""
    pool: Any = datastore.pool
    create = pool._create_connection

    def created() -> Any:
        connection = create()
        for pragma in CONNECTION_PRAGMAS:
            connection._sqlite_conn.execute(pragma)
        return connection

    pool._create_connection = created


def while_locked(attempt: Callable[[], T], wait: float = STARTING_WAIT) -> T:
    """`attempt` again, for up to `wait` seconds, while SQLite answers "database is locked".

    A transaction that read before it writes (the library's table creation, a copy's reads
    then inserts) cannot wait out the busy timeout when another connection wrote meanwhile:
    SQLite refuses it at once. Only what is safe to run twice is given here."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return attempt()
        except (sqlite3.OperationalError, OperationalError) as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def in_wal_mode(path: str, wait: float = 30.0) -> None:
    """Switch an SQLite file to WAL once, before any pool opens it.

    eventsourcing switches the file of each new connection that finds it in another mode.
    Processes opening a new file together race on that switch, and SQLite refuses the loser
    at once with "database is locked": the switch does not wait out the busy timeout (CI, the
    starting-together test). Here the switch is retried for up to `wait` seconds; once the file
    is in WAL mode (which it keeps), the library's connections find it so and change nothing.
    """
    if not path or path == ":memory:" or "mode=memory" in path:
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            with closing(sqlite3.connect(path, timeout=wait, uri=path.startswith("file:"))) as conn:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
