"""The ledger's SQLite recorder: the library's, plus reading many streams in one query, and
the switch of a new file to WAL mode."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    def select_streams(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        if not ids:
            return []
        statement = (
            f"SELECT originator_id, originator_version, topic, state FROM {self.events_table_name} "
            f"WHERE originator_id IN ({','.join('?' * len(ids))}) "
            "ORDER BY originator_id, originator_version"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, [i.hex for i in ids])
            return [
                StoredEvent(
                    originator_id=self.convert_originator_id(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in c.fetchall()
            ]

    def scan_streams(self, topics: Sequence[str], up_to: int, chunk: int = 2000) -> Iterator[StoredEvent]:
        """Every event of these topics at positions up to `up_to`, stream after stream, each
        stream in version order: the primary key's order, `chunk` rows a query, each query
        after the last key read (no sort, and no read transaction held open for the whole scan:
        events never change, and those up to `up_to` are all there)."""
        statement = (
            f"SELECT originator_id, originator_version, topic, state FROM {self.events_table_name} "
            # +rowid: the bound is checked row by row, so that the primary key's index is walked
            f"WHERE (originator_id, originator_version) > (?, ?) AND topic IN ({','.join('?' * len(topics))}) "
            "AND +rowid <= ? ORDER BY originator_id, originator_version LIMIT ?"
        )
        after: tuple[str, int] = ("", 0)
        while True:
            with self.datastore.transaction(commit=False) as c:
                c.execute(statement, [*after, *topics, up_to, chunk])
                rows = c.fetchall()
            for row in rows:
                yield StoredEvent(originator_id=self.convert_originator_id(row["originator_id"]),
                                  originator_version=row["originator_version"],
                                  topic=row["topic"], state=row["state"])
            if len(rows) < chunk:
                return
            after = (rows[-1]["originator_id"], rows[-1]["originator_version"])

    def count_notifications(self, stop: int) -> int:
        """How many events are stored at positions up to `stop`."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT COUNT(*) FROM {self.events_table_name} WHERE rowid <= ?", (stop,))
            return int(c.fetchone()[0])


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
