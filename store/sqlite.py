"""The ledger's event store on SQLite (store.event_store): the library's recorder, plus the
reads the library has no query for, a polling subscription, and the switch of a new file to
WAL mode.

Positions are SQLite's `rowid`, which the library uses as the notification id.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from store import library
from store.data_keys import SQLITE_TABLES, DataKeys
from store.event_store import EventStore, StoredRecord

RECORDS = "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "


class SQLiteLedgerRecorder(EventStore, SQLiteApplicationRecorder):
    data_keys: DataKeys | None = None  # set by the application: new people's keys go in with their events

    def construct_create_table_statements(self) -> list[str]:
        # The people's data keys (store.data_keys) are created with the events.
        return [*super().construct_create_table_statements(), *SQLITE_TABLES]

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if self.data_keys is not None:
            self.data_keys.insert_staged(c)  # same transaction: a key commits with its events
        return super()._insert_events(c, stored_events, **kwargs)

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
