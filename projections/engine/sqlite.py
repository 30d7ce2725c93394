"""A view in the ledger's SQLite file."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
from eventsourcing.persistence import OperationalError
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from projections.engine.statements import Sql
from projections.engine.tables import Tables
from store import library

READER_BUSY_MS = 100  # the longest an event loop's SQLite read may wait for a lock


class SQLiteTables(Tables, SQLiteTrackingRecorder):
    """A view in the ledger's SQLite file."""

    datastore: SQLiteDatastore

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any):
        super().__init__(datastore)
        # The library names its table `tracking` whatever the view: each view has its own here.
        tracking = f"{self.name}_tracking"
        self.insert_tracking_statement = (
            f"INSERT INTO {tracking} VALUES (:application_name, :notification_id) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = :notification_id "
            f"WHERE {tracking}.notification_id < :notification_id RETURNING notification_id"
        )
        self.select_max_tracking_id_statement = (
            f"SELECT MAX(notification_id) FROM {tracking} WHERE application_name=?"
        )
        self._readers: dict[int, sqlite3.Connection] = {}  # one_read_on_loop's, by thread
        self._readers_lock = threading.Lock()

    def construct_create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.name}_tracking (application_name TEXT, "
            "notification_id INTEGER, PRIMARY KEY (application_name)) WITHOUT ROWID",
            *self.view_statements(),
        ]

    def _create_table(self, c: Any) -> None:
        library.create_sqlite_tables(self, c)

    def _qualified(self, table: str) -> str:
        return table

    def _text_columns(self, columns: str) -> str:
        return columns

    @contextmanager
    def _session(self, *, write: bool, aside: bool = False, primary: bool = False) -> Iterator[Sql]:
        with self.datastore.get_connection(commit=write) as conn:
            cursor = conn.cursor().sqlite_cursor
            if write:
                # A view's commit need not wait for the disk (WAL, synchronous=NORMAL): one lost
                # to a power cut takes its tracking position with it, and its events are applied
                # again. The connection is the ledger's too, so its own setting comes back after.
                synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
                cursor.execute("PRAGMA synchronous=NORMAL")
            # IMMEDIATE takes the write lock first: a deferred transaction that reads, then
            # writes after another connection wrote, fails at once instead of waiting.
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._sql(cursor, postgres=False, aside=aside)
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit() if write else conn.rollback()
            finally:
                if write:
                    cursor.execute(f"PRAGMA synchronous={int(synchronous)}")
                cursor.close()

    @contextmanager
    def _statement(self) -> Iterator[Sql]:
        with self.datastore.get_connection(commit=False) as conn:
            cursor = conn.cursor().sqlite_cursor
            try:
                yield self._sql(cursor, postgres=False)
            finally:
                cursor.close()

    async def one_read_on_loop(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """On the loop's thread itself, on a read-only connection of that thread's own, outside
        the pool: a pooled connection may have to be waited for (the group-commit writer and the
        threadpool share the pool), this one never. Measured cheap (a primary-key lookup: tens
        of microseconds, against ~0.2 ms of CPU for a hop to the threadpool and back) and
        bounded: in WAL mode a reader never waits for the writer, and busy_timeout caps the
        rare wait (another connection recovering the WAL) at READER_BUSY_MS. An in-memory
        database cannot be opened twice: there the pool serves, from the threadpool."""
        if self.datastore.pool.is_sqlite_memory_mode:
            return await anyio.to_thread.run_sync(self.one_read, statement, params)
        conn = self._readers.get(threading.get_ident())
        if conn is None:
            name = self.datastore.pool.db_name
            # Used by its own thread only (keyed by it); closed from another at shutdown.
            conn = sqlite3.connect(
                name, uri=name.startswith("file:"), isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA busy_timeout = {READER_BUSY_MS}")
            with self._readers_lock:
                self._readers[threading.get_ident()] = conn
        cursor = conn.cursor()
        try:
            return self._sql(cursor, postgres=False).rows(statement, params)
        except sqlite3.OperationalError as e:  # locked past busy_timeout, I/O: as the pool says it
            raise OperationalError(str(e)) from e
        finally:
            cursor.close()

    def close_readers(self) -> None:
        with self._readers_lock:
            readers = list(self._readers.values())
            self._readers.clear()
        for conn in readers:
            conn.close()  # sqlite3 lets another thread close it once no statement runs

    @contextmanager
    def exclusive(self, stopping: threading.Event) -> Iterator[bool]:
        path = f"{self.datastore.pool.db_name}.{self.name}.lock"
        with open(path, "a+") as lock:  # flock is per open file: two runners in one process exclude too
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if stopping.wait(0.2):
                        yield False
                        return
            self._held = (path, os.fstat(lock.fileno()).st_ino)
            try:
                yield True
            finally:
                self._held = None
                fcntl.flock(lock, fcntl.LOCK_UN)

    _held: tuple[str, int] | None = None  # the lock file exclusive() locked, and its inode

    def holds_lock(self, sql: Sql) -> bool:
        """The lock file is still the one locked: a file removed (a clean-up of the directory)
        lets another runner lock a new one at the same path."""
        if self._held is None:
            return True
        path, inode = self._held
        try:
            return os.stat(path).st_ino == inode
        except FileNotFoundError:
            return False
