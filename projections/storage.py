"""Where a view keeps its rows: its own tables and its own tracking row, on SQLite or PostgreSQL.

A view is an eventsourcing `TrackingRecorder`: every change to its tables commits in the same
transaction as its tracking position, so an event is applied exactly once and a stopped
runner resumes where it stopped. What the library does not give, and this module adds:

- **One tracking table per projection, on both stores.** The library's SQLite tracking table
  is a fixed `tracking` table keyed by application name, so every projection of the ledger
  in one SQLite file would share one row. Each view here tracks in `{name}_tracking`.
- **A checked advance.** A page is committed only if the tracking row still holds the
  position the page was folded from (`after`): a second writer that raced this one fails its
  commit instead of applying the same events on top (the library only checks that positions
  grow, which a page that overlaps another's would pass).
- **One writer per view.** `exclusive()` holds a PostgreSQL advisory lock (or, on SQLite, a
  lock on a file beside the database) for as long as a runner runs the projection; a second
  runner waits for it.
- **A runner row**, so any process can tell whether a projection is running, failed (and
  why) or stopped.
- **Tables rebuilt aside.** A view whose rows are folds of one stream (or sums of them) is
  rebuilt into copies of its tables (`aside`), which take the tables' place in one transaction
  with the position: the API reads the old rows until then, and a rebuild stopped halfway
  leaves them.

The SQL of a view is written once, for both stores: `?` placeholders and `{table}` names,
which each store turns into its own.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import anyio.to_thread
import psycopg
from eventsourcing.persistence import IntegrityError, OperationalError, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL

from store import library
from store.postgres import OneSchemaCreatorAtATime, connection_of_its_own, schema_creation_lock

LEDGER = "DoseLedger"  # the application whose events every view follows
CHUNK = 500  # ids per IN (...) list
READER_BUSY_MS = 100  # the longest an event loop's SQLite read may wait for a lock
ROWS = 250  # rows per multi-row INSERT (psycopg's executemany pays ~50 µs of Python per row)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class TrackingConflict(IntegrityError):
    """The view is no longer at the position a page was folded from: another writer moved it."""


class Sql:
    """Runs a view's statements on one cursor: `{table}` names and `?` placeholders.

    On PostgreSQL the cursor is psycopg's `RawCursor` and `?` becomes `$1, $2...`: psycopg then
    sends the text as it is. Its default cursor rewrites `%s` into `$n` on every execute and
    caches that only for statements under 4 kB, which a multi-row INSERT of a page is not
    (that rewriting was a quarter of a statistics rebuild).
    """

    def __init__(self, cursor: Any, names: dict[str, str], postgres: bool, cache: dict[Any, str]):
        self.cursor = cursor
        self.names = names
        self.postgres = postgres
        self.cache = cache  # statement text as written → as this store runs it

    def _text(self, statement: str, marks: int = 0, width: int = 0) -> str:
        text = self.cache.get((statement, marks, width))
        if text is None:
            row = "(" + ",".join("?" * width) + ")"
            text = statement.format(ids=",".join("?" * marks), rows=",".join([row] * marks), **self.names)
            if self.postgres:  # a raw cursor: PostgreSQL's own $n, which psycopg sends as written
                parts = text.split("?")
                text = "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], start=1)) + parts[-1]
            self.cache[(statement, marks, width)] = text
        return text

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cursor.execute(self._text(statement), tuple(params))
        found = self.cursor.fetchall()
        return found if self.postgres else [dict(row) for row in found]

    def rows_in(self, statement: str, ids: Sequence[Any], params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """`statement` has `({ids})`; it runs once per chunk of ids (params come after the ids)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start:start + CHUNK])
            self.cursor.execute(self._text(statement, len(chunk)), (*chunk, *params))
            rows = self.cursor.fetchall()
            found.extend(rows if self.postgres else (dict(row) for row in rows))
        return found

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        self.cursor.execute(self._text(statement), tuple(params))
        return self.cursor.rowcount

    def run_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self._text(statement), [tuple(r) for r in rows])

    def run_in(self, statement: str, ids: Sequence[Any]) -> None:
        """`statement` has `({ids})`; it runs once per chunk of ids."""
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start:start + CHUNK])
            self.cursor.execute(self._text(statement, len(chunk)), chunk)

    def insert_rows(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """`statement` has `VALUES {rows}`; it runs once per chunk of rows, not once per row.

        The rows of one chunk must not share a conflict key (an upsert touches a row once).
        """
        if not rows:
            return
        width = len(rows[0])
        for start in range(0, len(rows), ROWS):
            chunk = rows[start:start + ROWS]
            self.cursor.execute(self._text(statement, len(chunk), width), [v for row in chunk for v in row])


class Tables(TrackingRecorder, ABC):
    """A view's tables, tracking and runner row, whichever the store."""

    name: ClassVar[str]  # the projection's name: the prefix of its tables
    tables: ClassVar[dict[str, str]]  # short name → column definitions
    indexes: ClassVar[tuple[tuple[str, str], ...]] = ()  # (short table name, columns)
    # The tables a rebuild fills beside the view's (`{name}_{short}_rebuilding`, as `{short}_aside`
    # in statements), then puts in their place; empty but during a rebuild.
    aside: ClassVar[tuple[str, ...]] = ()
    retired: ClassVar[tuple[str, ...]] = ()  # tables earlier versions made: dropped with the aside ones
    renames_indexes: ClassVar[bool] = False  # whether the store has ALTER INDEX ... RENAME

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and not _NAME.match(cls.name):
            raise ValueError(f"a view name must be a lower-case identifier, got {cls.name!r}")

    # --- what each store provides ------------------------------------------------------------

    @abstractmethod
    def _qualified(self, table: str) -> str:
        """The table's name as SQL may name it."""

    @abstractmethod
    def _session(self, *, write: bool, aside: bool = False) -> Any:
        """A context manager: one transaction, as an `Sql` (committed when `write`); `aside`:
        the `Sql` names the aside copies where it names the view's tables."""

    @contextmanager
    def _changing_tables(self) -> Iterator[Sql]:
        """A transaction that drops, renames or creates the view's tables (a store may need to
        keep other processes' table creation out of the way meanwhile: PostgresTables)."""
        with self._session(write=True) as sql:
            yield sql

    @abstractmethod
    def _statement(self) -> Any:
        """A context manager: an `Sql` for ONE read statement, in the store's implicit
        transaction (both stores' connections are in autocommit): one round trip, not three
        (BEGIN, the statement, ROLLBACK). A single statement sees one snapshot anyway."""

    @abstractmethod
    def exclusive(self, stopping: threading.Event) -> Any:
        """A context manager that waits until this process alone runs the projection.

        Yields True once it holds the lock, False if `stopping` was set first.
        """

    # --- shared ------------------------------------------------------------------------------

    def _sql(self, cursor: Any, postgres: bool, aside: bool = False) -> Sql:
        if not hasattr(self, "_names"):
            self._names = {short: self._qualified(f"{self.name}_{short}") for short in self.tables}
            self._names.update({f"{short}_aside": self._qualified(self._aside_name(short)) for short in self.aside})
            self._names.update({f"{short}_retired": self._qualified(f"{self.name}_{short}") for short in self.retired})
            self._names["tracking"] = self._qualified(f"{self.name}_tracking")
            self._names["runner"] = self._qualified(f"{self.name}_runner")
            self._statements: dict[Any, str] = {}
            self._aside_names = {**self._names, **{short: self._names[f"{short}_aside"] for short in self.aside}}
            self._aside_statements: dict[Any, str] = {}
        if aside:
            return Sql(cursor, self._aside_names, postgres, self._aside_statements)
        return Sql(cursor, self._names, postgres, self._statements)

    def _aside_name(self, short: str) -> str:
        return f"{self.name}_{short}_rebuilding"

    def _every_table(self) -> Iterator[tuple[str, str]]:
        """(unqualified name, column definitions) of the view's tables and their aside copies."""
        for short, columns in self.tables.items():
            yield f"{self.name}_{short}", columns
        for short in self.aside:
            yield self._aside_name(short), self.tables[short]

    def view_statements(self) -> list[str]:
        """CREATE statements for the view's own tables (and their aside copies, which have no
        index but their key: a rebuild only inserts into them), its runner row and its indexes."""
        statements = [f"CREATE TABLE IF NOT EXISTS {self._qualified(table)} ({columns})"
                      for table, columns in self._every_table()]
        statements.append(f"CREATE TABLE IF NOT EXISTS {self._qualified(f'{self.name}_runner')} "
                          "(projection TEXT PRIMARY KEY, state TEXT NOT NULL, error TEXT, "
                          "heartbeat DOUBLE PRECISION NOT NULL, holder TEXT)")
        for index, short, columns in self._named_indexes():
            statements.append(f"CREATE INDEX IF NOT EXISTS {index} "
                              f"ON {self._qualified(f'{self.name}_{short}')} ({columns})")
        return statements

    def _named_indexes(self) -> list[tuple[str, str, str]]:
        """(name, short table name, columns) of the view's indexes."""
        return [(f"{self.name}_{short}_{re.sub(r'[^a-z0-9]+', '_', columns)}", short, columns)
                for short, columns in self.indexes]

    @contextmanager
    def reading(self) -> Iterator[Sql]:
        with self._session(write=False) as sql:
            yield sql

    def one_read(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of one read statement, in one round trip (a point lookup on a hot path)."""
        with self._statement() as sql:
            return sql.rows(statement, params)

    @abstractmethod
    async def one_read_on_loop(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """`one_read` for an event loop: never holds the loop for more than a bounded moment."""

    def close_readers(self) -> None:
        """Close what `one_read_on_loop` opened (nothing, unless a store says otherwise)."""

    @contextmanager
    def writing(self, tracking: Tracking, after: int | None) -> Iterator[Sql]:
        """One transaction that changes the view and moves it from `after` to `tracking`."""
        if after is not None and tracking.notification_id <= after:
            raise TrackingConflict(f"{self.name}: position {tracking.notification_id} is not after {after}")
        with self._session(write=True) as sql:
            yield sql
            if after is None:
                try:
                    sql.run("INSERT INTO {tracking} (application_name, notification_id) VALUES (?, ?)",
                            (tracking.application_name, tracking.notification_id))
                except (sqlite3.IntegrityError, psycopg.errors.UniqueViolation) as e:
                    raise TrackingConflict(f"{self.name}: already applied events (expected none)") from e
            elif sql.run("UPDATE {tracking} SET notification_id = ? "
                         "WHERE application_name = ? AND notification_id = ?",
                         (tracking.notification_id, tracking.application_name, after)) != 1:
                raise TrackingConflict(f"{self.name}: no longer at position {after}")

    @contextmanager
    def writing_aside(self) -> Iterator[Sql]:
        """One transaction that writes into the aside tables: the view's own statements, whose
        `{table}` names the table's aside copy (a rebuild's; no position moves)."""
        with self._session(write=True, aside=True) as sql:
            yield sql

    def position(self) -> int | None:
        """The last ledger position applied to this view (None: nothing yet)."""
        return self.max_tracking_id(LEDGER)

    def drop(self) -> None:
        """Forget everything: the view's tables are dropped and made again, its position erased."""
        with self._changing_tables() as sql:
            for short in (*self.tables, *(f"{a}_aside" for a in self.aside), *(f"{r}_retired" for r in self.retired)):
                sql.run(f"DROP TABLE IF EXISTS {{{short}}}")
            sql.run("DELETE FROM {tracking} WHERE application_name = ?", (LEDGER,))
            sql.run("DELETE FROM {runner}")
            self.create_missing(sql)

    def empty_rebuilding(self) -> None:
        """The aside tables, emptied: for a rebuild to fill, or after one stopped halfway (they
        hold personal data)."""
        with self._changing_tables() as sql:
            for short in (*(f"{a}_aside" for a in self.aside), *(f"{r}_retired" for r in self.retired)):
                sql.run(f"DROP TABLE IF EXISTS {{{short}}}")
            self.create_missing(sql)

    def finish_rebuilding(self, position: int | None, was: int | None) -> None:
        """The aside tables become the view's, at `position` (its runner row forgotten, as a
        view dropped forgets it), in one transaction, if the view is still at `was` (the
        position it had when the rebuild began); else TrackingConflict and nothing changes.

        Where the store can rename an index (PostgreSQL), the view's indexes are built on the
        aside tables first, in a transaction of their own, and renamed in the swap: the view's
        readers do not wait for the build. SQLite cannot rename one (an index moved with a
        renamed table keeps its name): there they are built within the swap."""
        moved = [(index, short, columns) for index, short, columns in self._named_indexes()
                 if short in self.aside] if self.renames_indexes else []
        if moved:
            with self._session(write=True) as sql:
                for index, short, columns in moved:
                    sql.run(f"CREATE INDEX IF NOT EXISTS {index}_rebuilding ON {{{short}_aside}} ({columns})")
        with self._changing_tables() as sql:
            rows = sql.rows("SELECT notification_id FROM {tracking} WHERE application_name = ?", (LEDGER,))
            if (rows[0]["notification_id"] if rows else None) != was:
                raise TrackingConflict(f"{self.name}: moved from position {was} while it was folded")
            for short in self.aside:
                sql.run(f"DROP TABLE {{{short}}}")
                sql.run(f'ALTER TABLE {{{short}_aside}} RENAME TO "{self.name}_{short}"')
            for index, _, _ in moved:
                sql.run(f'ALTER INDEX {self._qualified(f"{index}_rebuilding")} RENAME TO "{index}"')
            sql.run("DELETE FROM {tracking} WHERE application_name = ?", (LEDGER,))
            if position is not None:
                sql.run("INSERT INTO {tracking} (application_name, notification_id) VALUES (?, ?)",
                        (LEDGER, position))
            sql.run("DELETE FROM {runner}")
            self.create_missing(sql)  # the view's indexes, and new, empty aside tables

    def create_missing(self, sql: Sql) -> None:
        """The view's tables and indexes that are not there, in this transaction."""
        for statement in self.view_statements():  # IF NOT EXISTS
            sql.run(statement.replace("{", "{{").replace("}", "}}"))

    def report(self, state: str, error: str | None = None) -> None:
        """What the runner of this view is doing, for any process to read (and a heartbeat)."""
        with self._session(write=True) as sql:
            sql.run("INSERT INTO {runner} (projection, state, error, heartbeat, holder) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (projection) DO UPDATE SET "
                    "state = excluded.state, error = excluded.error, "
                    "heartbeat = excluded.heartbeat, holder = excluded.holder",
                    (self.name, state, error, time.time(), f"{socket.gethostname()}:{os.getpid()}"))

    def runner(self) -> dict[str, Any] | None:
        with self.reading() as sql:
            rows = sql.rows("SELECT state, error, heartbeat, holder FROM {runner}")
        return rows[0] if rows else None


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
            f"WHERE {tracking}.notification_id < :notification_id RETURNING notification_id")
        self.select_max_tracking_id_statement = (
            f"SELECT MAX(notification_id) FROM {tracking} WHERE application_name=?")
        self._readers: dict[int, sqlite3.Connection] = {}  # one_read_on_loop's, by thread
        self._readers_lock = threading.Lock()

    def construct_create_table_statements(self) -> list[str]:
        return [f"CREATE TABLE IF NOT EXISTS {self.name}_tracking (application_name TEXT, "
                "notification_id INTEGER, PRIMARY KEY (application_name)) WITHOUT ROWID",
                *self.view_statements()]

    def _create_table(self, c: Any) -> None:
        library.create_sqlite_tables(self, c)

    def _qualified(self, table: str) -> str:
        return table

    @contextmanager
    def _session(self, *, write: bool, aside: bool = False) -> Iterator[Sql]:
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
            conn = sqlite3.connect(name, uri=name.startswith("file:"), isolation_level=None,
                                   check_same_thread=False)
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
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class PostgresTables(OneSchemaCreatorAtATime, Tables, PostgresTrackingRecorder):
    """A view in the ledger's PostgreSQL database, in the ledger's schema."""

    datastore: PostgresDatastore
    renames_indexes = True

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any):
        # The factory names the tracking table after its environment (the ledger's): not here.
        super().__init__(datastore, tracking_table_name=f"{self.name}_tracking")
        self.sql_create_statements.extend(SQL(s) for s in self.view_statements())  # type: ignore[arg-type]

    def _qualified(self, table: str) -> str:
        return f'"{self.datastore.schema}"."{table}"'

    def view_statements(self) -> list[str]:
        """Tables as on every store, their text columns compressed by lz4 where the server has it.

        A person's record and certificate together pass the 2 kB past which PostgreSQL
        compresses a row. Its default, pglz, took half as long again as lz4 to upsert a rebuild's
        rows (20,000 certificates: 500 ms of server time against 340; inserts 330 against 180),
        server time that the API and the projector share on a small machine. Altered once, when
        the table still has the default (the check runs at every start; the ALTER does not). The
        ALTER is run as text (EXECUTE): a server before 14 would refuse its syntax even unrun; a
        role that does not own the tables leaves them as they are.
        """
        statements = super().view_statements()
        for name, columns in self._every_table():
            table = self._qualified(name)
            texts = re.findall(r"(?:^|,)\s*(\w+) TEXT\b", columns)
            if texts:
                alter = ", ".join(f"ALTER COLUMN {c} SET COMPRESSION lz4" for c in texts)
                statements.append(
                    "DO $$ BEGIN IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression' "
                    "AND 'lz4' = ANY(enumvals)) THEN IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = "
                    f"'{table}'::regclass AND attnum > 0 AND atttypid = 'text'::regtype AND attcompression <> 'l') "
                    f"THEN EXECUTE 'ALTER TABLE {table} {alter}'; END IF; END IF; "
                    "EXCEPTION WHEN insufficient_privilege THEN NULL; END $$")
        return statements

    @contextmanager
    def _session(self, *, write: bool, aside: bool = False) -> Iterator[Sql]:
        with (self.datastore.get_connection() as conn,
              conn.transaction(force_rollback=not write),
              psycopg.RawCursor(conn) as cursor):
            if write:
                # As on SQLite: a view's commit need not wait for the disk. One lost to a crash
                # takes its tracking position with it, and its events are applied again.
                cursor.execute("SET LOCAL synchronous_commit = off")
            yield self._sql(cursor, postgres=True, aside=aside)

    @contextmanager
    def _statement(self) -> Iterator[Sql]:
        with self.datastore.get_connection() as conn, psycopg.RawCursor(conn) as cursor:
            yield self._sql(cursor, postgres=True)

    @contextmanager
    def _changing_tables(self) -> Iterator[Sql]:
        """Under the schema's creation lock: another process creating its tables (a server
        starting, `open_views`) while a view's tables are dropped and renamed fails with
        "cache lookup failed for relation" (its `::regclass` found the table the drop removed)."""
        with schema_creation_lock(self.datastore), self._session(write=True) as sql:
            yield sql

    async def one_read_on_loop(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        # A round trip to the server, and a pooled connection to wait for: from the threadpool.
        # (An async connection would save the hop; the library's pool is synchronous.)
        return await anyio.to_thread.run_sync(self.one_read, statement, params)

    @contextmanager
    def exclusive(self, stopping: threading.Event) -> Iterator[bool]:
        key = f"doseledger:{self.datastore.schema}:{self.name}"
        # A session lock on a connection of its own: it lasts exactly as long as this runner.
        with connection_of_its_own(self.datastore) as conn:
            while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:
                if stopping.wait(0.5):
                    yield False
                    return
            try:
                yield True
            finally:
                if not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
