"""Stored records as the event store holds them, each with its position in the application log.

The library's `select_events` returns a stream's records without their notification ids, and
`select_notifications` has no filter by stream (a person's history would scan the whole log).
So audit reads the events table itself, with one query per stream over the primary key
(originator_id, originator_version) that also returns the notification id: `rowid` in SQLite,
`notification_id` in PostgreSQL. Reading the rows ourselves, not through the domain, is also
what an integrity check needs: it sees exactly what is stored, gaps and all.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

PAGE = 1000  # rows per query when scanning the whole store


@dataclass(frozen=True)
class StoredRecord:
    """One row of the events table."""

    position: int | None  # the notification id: the event's place in the application log
    originator_id: UUID
    version: int
    topic: str
    state: bytes

    def stored_event(self) -> StoredEvent:
        return StoredEvent(self.originator_id, self.version, self.topic, self.state)


def read_stream(recorder: Any, stream_id: UUID) -> list[StoredRecord]:
    """Every stored record of one stream, in version order, as stored (gaps included)."""
    return _reader(recorder).stream(recorder, stream_id)


def scan_streams(recorder: Any, page: int = PAGE) -> Iterator[list[StoredRecord]]:
    """The whole store, one stream at a time (each in version order), in pages of `page` rows.

    Keyset pagination over the primary key: no long transaction, no OFFSET, the index does the
    ordering on both stores. Events appended behind the scan are simply not part of it.
    """
    reader = _reader(recorder)
    current: list[StoredRecord] = []
    after: tuple[UUID, int] | None = None
    while True:
        rows = reader.page(recorder, after, page)
        for record in rows:
            if current and record.originator_id != current[0].originator_id:
                yield current
                current = []
            current.append(record)
        if len(rows) < page:
            break
        after = (rows[-1].originator_id, rows[-1].version)
    if current:
        yield current


def count_records(recorder: Any) -> int:
    return _reader(recorder).count(recorder)


class _SQLiteReader:
    def __init__(self, recorder: Any) -> None:
        table = recorder.events_table_name
        columns = f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
        self.stream_sql = columns + "WHERE originator_id=? ORDER BY originator_version"
        self.first_page_sql = columns + "ORDER BY originator_id, originator_version LIMIT ?"
        self.page_sql = (columns + "WHERE (originator_id, originator_version) > (?, ?) "
                         "ORDER BY originator_id, originator_version LIMIT ?")
        self.count_sql = f"SELECT COUNT(*) FROM {table}"

    @staticmethod
    def _select(recorder: Any, sql: str, params: list[Any]) -> list[StoredRecord]:
        convert: Callable[[str], Any] = recorder.convert_originator_id
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return [StoredRecord(row[0], convert(row[1]), row[2], row[3], row[4]) for row in c.fetchall()]

    def stream(self, recorder: Any, stream_id: UUID) -> list[StoredRecord]:
        return self._select(recorder, self.stream_sql, [stream_id.hex])

    def page(self, recorder: Any, after: tuple[UUID, int] | None, limit: int) -> list[StoredRecord]:
        if after is None:
            return self._select(recorder, self.first_page_sql, [limit])
        return self._select(recorder, self.page_sql, [after[0].hex, after[1], limit])

    def count(self, recorder: Any) -> int:
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(self.count_sql)
            return int(c.fetchone()[0])


class _PostgresReader:
    def __init__(self, recorder: Any) -> None:
        table = SQL("{}.{}").format(Identifier(recorder.datastore.schema),
                                    Identifier(recorder.events_table_name))
        columns = SQL("SELECT notification_id, originator_id, originator_version, topic, state "
                      "FROM {} ").format(table)
        self.stream_sql = columns + SQL("WHERE originator_id = %s ORDER BY originator_version")
        self.first_page_sql = columns + SQL("ORDER BY originator_id, originator_version LIMIT %s")
        self.page_sql = columns + SQL("WHERE (originator_id, originator_version) > (%s, %s) "
                                      "ORDER BY originator_id, originator_version LIMIT %s")
        self.count_sql = SQL("SELECT COUNT(*) AS n FROM {}").format(table)

    @staticmethod
    def _select(recorder: Any, sql: Any, params: list[Any]) -> list[StoredRecord]:
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(sql, params, prepare=True)
            return [
                StoredRecord(row["notification_id"], row["originator_id"], row["originator_version"],
                             row["topic"], bytes(row["state"]))
                for row in curs.fetchall()
            ]

    def stream(self, recorder: Any, stream_id: UUID) -> list[StoredRecord]:
        return self._select(recorder, self.stream_sql, [stream_id])

    def page(self, recorder: Any, after: tuple[UUID, int] | None, limit: int) -> list[StoredRecord]:
        if after is None:
            return self._select(recorder, self.first_page_sql, [limit])
        return self._select(recorder, self.page_sql, [after[0], after[1], limit])

    def count(self, recorder: Any) -> int:
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.count_sql)
            return int(curs.fetchone()["n"])


# One reader (its SQL, built once) per recorder; it holds no reference back to the recorder.
_readers: weakref.WeakKeyDictionary[Any, _SQLiteReader | _PostgresReader] = weakref.WeakKeyDictionary()


def _reader(recorder: Any) -> _SQLiteReader | _PostgresReader:
    reader = _readers.get(recorder)
    if reader is None:
        if isinstance(recorder, SQLiteApplicationRecorder):  # the ledger's subclasses included
            reader = _SQLiteReader(recorder)
        elif isinstance(recorder, PostgresApplicationRecorder):
            reader = _PostgresReader(recorder)
        else:
            raise TypeError(f"audit reads SQLite or PostgreSQL event stores, "
                            f"not {type(recorder).__qualname__}")
        _readers[recorder] = reader
    return reader
