"""A view in the ledger's PostgreSQL database, in the ledger's schema."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
import psycopg
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL

from projections.engine.standby_reads import StandbySession, StandbySql
from projections.engine.statements import Sql
from projections.engine.tables import LEDGER, Tables
from store.postgres import OneSchemaCreatorAtATime, connection_of_its_own, schema_creation_lock

SWAP_LOCK_MS = 200  # the longest a swap waits for the view's tables before letting readers go on


_LZ4: dict[str, bool] = {}  # conninfo → whether the server compresses with lz4


class PostgresTables(OneSchemaCreatorAtATime, Tables, PostgresTrackingRecorder):
    """A view in the ledger's PostgreSQL database, in the ledger's schema."""

    datastore: PostgresDatastore
    renames_indexes = True
    remote = True
    swap_waited = (psycopg.errors.LockNotAvailable,)

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any):
        # The factory names the tracking table after its environment (the ledger's): not here.
        super().__init__(datastore, tracking_table_name=f"{self.name}_tracking")
        # The library types its list as Composed; SQL runs the same way.
        self.sql_create_statements.extend(SQL(s) for s in self.view_statements())  # type: ignore[misc]  # see above

    def _qualified(self, table: str) -> str:
        return f'"{self.datastore.schema}"."{table}"'

    def _lz4(self) -> bool:
        """Whether the server has lz4 (a server before 14, or built without it, has not)."""
        conninfo = str(self.datastore.pool.conninfo)
        if conninfo not in _LZ4:
            with self.datastore.get_connection() as conn:
                row = conn.execute(
                    "SELECT 'lz4' = ANY(enumvals) AS has FROM pg_settings "
                    "WHERE name = 'default_toast_compression'"
                ).fetchone()
            _LZ4[conninfo] = bool(row and row["has"])
        return _LZ4[conninfo]

    def _text_columns(self, columns: str) -> str:
        """Text columns compressed by lz4 where the server has it.

        A person's record and certificate together pass the 2 kB past which PostgreSQL
        compresses a row. Its default, pglz, took half as long again as lz4 to upsert a rebuild's
        rows (20,000 certificates: 500 ms of server time against 340; inserts 330 against 180),
        server time that the API and the projector share on a small machine."""
        if not self._lz4():
            return columns
        return re.sub(r"((?:^|,)\s*\w+ TEXT\b)", r"\1 COMPRESSION lz4", columns)

    def compress_texts(self, sql: Sql) -> None:
        """Migration 1: tables made before their columns were created compressed are altered
        (a role that does not own them leaves them as they are)."""
        if not self._lz4():
            return
        for name, columns in self._every_table():
            texts = re.findall(r"(?:^|,)\s*(\w+) TEXT\b", columns)
            if texts:
                table = self._qualified(name)
                alter = ", ".join(f"ALTER COLUMN {c} SET COMPRESSION lz4" for c in texts)
                sql.run(
                    "DO $$ BEGIN IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = "
                    f"'{table}'::regclass AND attnum > 0 AND atttypid = 'text'::regtype "
                    f"AND attcompression <> 'l') THEN EXECUTE 'ALTER TABLE {table} {alter}'; END IF; "
                    "EXCEPTION WHEN insufficient_privilege THEN NULL; END $$"
                )

    def _reads_datastore(self, primary: bool = False) -> PostgresDatastore:
        """Where a read goes: the standby the view reads from, if any (`read_from`)."""
        return self.read_datastore if self.read_datastore is not None and not primary else self.datastore

    def position(self) -> int | None:
        if self.read_datastore is None:
            return super().position()
        # The position of the rows this view serves: the standby's.
        rows = self.one_read(
            "SELECT MAX(notification_id) AS position FROM {tracking} WHERE application_name = ?", (LEDGER,)
        )
        return rows[0]["position"] if rows else None

    def _on_standby(self, *, transaction: bool, aside: bool = False) -> Iterator[Sql]:
        """Reads on the standby, each statement run again after a recovery conflict."""
        plain = self._sql(None, postgres=True, aside=aside)  # the view's names and statement cache
        with StandbySession(self.read_datastore, transaction=transaction) as session:
            yield StandbySql(session, plain.names, plain.cache)

    # The page a thread is applying (`applying`): that thread's sessions and statements join it.
    _page: tuple[int, Sql] | None = None

    @contextmanager
    def applying(self) -> Iterator[None]:
        """One transaction for the page: its reads, its write and its tracking position. Each
        session of its own cost a pooled connection, BEGIN and COMMIT or ROLLBACK, and a page
        opened six to eight (the statistics'), for a few statements each: round trips whose
        client side was most of a projector's CPU per event while following. The view has one
        writer (`exclusive`), so reading inside the write transaction reads what it would have
        read before it. A view reading from a standby keeps its sessions apart."""
        if self.read_datastore is not None or self._page is not None:
            yield
            return
        with self._session(write=True) as sql:
            self._page = (threading.get_ident(), sql)
            try:
                yield
            finally:
                self._page = None

    @contextmanager
    def apart(self) -> Iterator[None]:
        """Sessions of their own inside a page: a rules adoption's re-evaluation of people the
        page does not touch commits a few at a time, whatever becomes of the page, as on
        SQLite (a stop halfway leaves those done)."""
        page = self._joined()
        if page is None:
            yield
            return
        held, self._page = self._page, None
        try:
            yield
        finally:
            self._page = held

    def _joined(self, aside: bool = False) -> Sql | None:
        """The page this thread is applying, if any (the aside tables are never part of one)."""
        page = self._page
        return page[1] if page is not None and not aside and page[0] == threading.get_ident() else None

    @contextmanager
    def _session(self, *, write: bool, aside: bool = False, primary: bool = False) -> Iterator[Sql]:
        if (page := self._joined(aside)) is not None:
            yield page
            return
        if not write and not primary and self.read_datastore is not None:
            yield from self._on_standby(transaction=True, aside=aside)
            return
        datastore = self.datastore if write else self._reads_datastore(primary)
        with (
            datastore.get_connection() as conn,
            conn.transaction(force_rollback=not write),
            psycopg.RawCursor(conn) as cursor,
        ):
            if write:
                # As on SQLite: a view's commit need not wait for the disk. One lost to a crash
                # takes its tracking position with it, and its events are applied again.
                cursor.execute("SET LOCAL synchronous_commit = off")
            yield self._sql(cursor, postgres=True, aside=aside)

    @contextmanager
    def _statement(self) -> Iterator[Sql]:
        if (page := self._joined()) is not None:
            yield page
            return
        if self.read_datastore is not None:
            yield from self._on_standby(transaction=False)
            return
        with self._reads_datastore().get_connection() as conn, psycopg.RawCursor(conn) as cursor:
            yield self._sql(cursor, postgres=True)

    @contextmanager
    def _changing_tables(self) -> Iterator[Sql]:
        """Under the schema's creation lock: another process creating its tables (a server
        starting, `open_views`) while a view's tables are dropped and renamed fails with
        "cache lookup failed for relation" (its `::regclass` found the table the drop removed)."""
        with schema_creation_lock(self.datastore), self._session(write=True) as sql:
            yield sql

    @contextmanager
    def _swapping(self) -> Iterator[Sql]:
        """The swap's DROP waits for the view's readers to finish, and every reader that comes
        meanwhile queues behind it: a long read (a report, a reconciliation) would stall the
        API. So it waits SWAP_LOCK_MS at most, then gives up (LockNotAvailable) and the
        readers go on; `_swap` tries again after a pause."""
        with self._changing_tables() as sql:
            sql.run(f"SET LOCAL lock_timeout = '{SWAP_LOCK_MS}ms'")
            yield sql

    async def one_read_on_loop(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        # A round trip to the server, and a pooled connection to wait for: from the threadpool.
        # (An async connection would save the hop; the library's pool is synchronous.)
        return await anyio.to_thread.run_sync(self.one_read, statement, params)

    _held: tuple[int, int] | None = None  # the lock's session (backend pid) and key, while held

    @contextmanager
    def exclusive(self, stopping: threading.Event) -> Iterator[bool]:
        key = f"doseledger:{self.datastore.schema}:{self.name}"
        # A session lock on a connection of its own: it lasts exactly as long as this runner.
        with connection_of_its_own(self.datastore) as conn:
            while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:  # type: ignore[index]  # one row
                if stopping.wait(0.5):
                    yield False
                    return
            hashed = conn.execute("SELECT hashtext(%s)", (key,)).fetchone()[0]  # type: ignore[index]  # one row
            self._held = (conn.info.backend_pid, hashed)
            try:
                yield True
            finally:
                self._held = None
                if not conn.closed:
                    try:
                        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
                    except psycopg.OperationalError:  # the session went, and its lock with it
                        pass

    def holds_lock(self, sql: Sql) -> bool:
        """The lock's session still holds it (a connection dropped by the network or killed by
        an operator has released it, and another runner may have taken it)."""
        if self._held is None:
            return True
        pid, key = self._held
        return bool(
            sql.rows(
                "SELECT 1 AS held FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = ? "
                "AND classid::bigint = ? AND objid::bigint = ? AND objsubid = 1",
                (pid, (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
            )
        )
