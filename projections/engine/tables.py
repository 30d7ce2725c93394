"""Where a view keeps its rows: its own tables and its own tracking row, whichever the store.

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
- **One writer per view.** `exclusive()` (each store's) holds a lock for as long as a runner
  runs the projection; a second runner waits for it.
- **A runner row**, so any process can tell whether a projection is running, failed (and
  why) or stopped.
- **Tables rebuilt aside** (`swap`): a view whose rows are folds of one stream is rebuilt
  into copies of its tables, which take the tables' place in one transaction with the position.
- **Numbered migrations** (`migrations`): a table made by an earlier version is brought to
  today's shape once, and the migration recorded.

A view declares its tables, indexes and statements on a subclass of `Tables`; the engine
builds the class for the store (`store_class`).
"""

from __future__ import annotations

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

import psycopg
from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder

from projections.engine.migrations import ENGINE_MIGRATIONS, Migration, migrate
from projections.engine.statements import Sql

LEDGER = "DoseLedger"  # the application whose events every view follows
STALE_AFTER = 15.0  # seconds without a heartbeat before a runner counts as stopped
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class TrackingConflict(IntegrityError):
    """The view is no longer at the position a page was folded from: another writer moved it."""


class LostTheLock(RuntimeError):
    """The writer no longer holds the projection's lock: another may be running it."""


class Tables(TrackingRecorder, ABC):
    """A view's tables, tracking and runner row, whichever the store."""

    name: ClassVar[str]  # the projection's name: the prefix of its tables
    tables: ClassVar[dict[str, str]]  # short name → column definitions
    indexes: ClassVar[tuple[tuple[str, str], ...]] = ()  # (short table name, columns)
    # The tables a rebuild fills beside the view's (`{name}_{short}_rebuilding`, as `{short}_aside`
    # in statements), then puts in their place; empty but during a rebuild.
    aside: ClassVar[tuple[str, ...]] = ()
    # The view's own schema changes, numbered after the engine's (ENGINE_MIGRATIONS).
    migrations: ClassVar[tuple[Migration, ...]] = ()
    renames_indexes: ClassVar[bool] = False  # whether the store has ALTER INDEX ... RENAME
    remote: ClassVar[bool] = False  # whether every statement is a round trip to a server

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and not _NAME.match(cls.name):
            raise ValueError(f"a view name must be a lower-case identifier, got {cls.name!r}")
        numbers = [m.number for m in (*ENGINE_MIGRATIONS, *cls.migrations)]
        if numbers != sorted(set(numbers)):
            raise ValueError(f"{cls.__name__}: migrations must be numbered in order, once: {numbers}")

    # --- what each store provides ------------------------------------------------------------

    @abstractmethod
    def _qualified(self, table: str) -> str:
        """The table's name as SQL may name it."""

    # Where the view's reads go when not to its own database: a standby of it (PostgreSQL;
    # `read_from`). Writes, and the runner row, always go to the view's own database.
    read_datastore: Any = None

    def read_from(self, datastore: Any) -> None:
        """Read the view's rows and position from `datastore`, a streaming standby of the
        view's database (rows and position commit together; a standby replays them together)."""
        self.read_datastore = datastore

    @abstractmethod
    def _session(self, *, write: bool, aside: bool = False, primary: bool = False) -> Any:
        """A context manager: one transaction, as an `Sql` (committed when `write`); `aside`:
        the `Sql` names the aside copies where it names the view's tables; `primary`: a read
        from the view's own database even when its reads go to a standby."""

    @contextmanager
    def _changing_tables(self) -> Iterator[Sql]:
        """A transaction that drops, renames or creates the view's tables (a store may need to
        keep other processes' table creation out of the way meanwhile: PostgresTables)."""
        with self._session(write=True) as sql:
            yield sql

    def _swapping(self) -> Any:
        """A context manager: the swap's transaction, which takes its locks with a timeout
        where readers would queue behind it (PostgresTables); raises `swap_waited` then (or
        an error that wraps it)."""
        return self._changing_tables()

    swap_waited: ClassVar[tuple[type[BaseException], ...]] = ()  # a swap's lock not granted in time

    def _lock_waited(self, error: BaseException | None) -> bool:
        """Whether `error` (or what it wraps: the library re-raises the driver's) is a swap's
        lock not granted in time."""
        while error is not None:
            if isinstance(error, self.swap_waited):
                return True
            error = error.__cause__ or error.__context__
        return False

    @abstractmethod
    def _statement(self) -> Any:
        """A context manager: an `Sql` for ONE read statement, in the store's implicit
        transaction (both stores' connections are in autocommit): one round trip, not three
        (BEGIN, the statement, ROLLBACK). A single statement sees one snapshot anyway."""

    @abstractmethod
    def exclusive(self, stopping: threading.Event) -> Any:
        """A context manager that waits until this process alone runs the projection.

        Yields True once it holds the lock, False if `stopping` was set first. While held,
        `holds_lock` says whether it still holds it."""

    def holds_lock(self, sql: Sql) -> bool:
        """Whether the lock `exclusive` took is still this process's (True when none was taken:
        a test folding a view by hand)."""
        return True

    @abstractmethod
    def _text_columns(self, columns: str) -> str:
        """Column definitions as this store creates them (PostgreSQL: compressed by lz4)."""

    # --- shared ------------------------------------------------------------------------------

    def _sql(self, cursor: Any, postgres: bool, aside: bool = False) -> Sql:
        if not hasattr(self, "_names"):
            self._names = {short: self._qualified(f"{self.name}_{short}") for short in self.tables}
            self._names.update(
                {f"{short}_aside": self._qualified(self._aside_name(short)) for short in self.aside}
            )
            self._names["tracking"] = self._qualified(f"{self.name}_tracking")
            self._names["runner"] = self._qualified(f"{self.name}_runner")
            self._names["migrations"] = self._qualified("view_migrations")
            self._statements: dict[Any, str] = {}
            self._aside_names = {
                **self._names,
                **{short: self._names[f"{short}_aside"] for short in self.aside},
            }
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
        index but their key: a rebuild only inserts into them), its runner row and its indexes,
        as today's schema has them (an older store is brought there by `migrations`)."""
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self._qualified(table)} ({self._text_columns(columns)})"
            for table, columns in self._every_table()
        ]
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {self._qualified(f'{self.name}_runner')} "
            "(projection TEXT PRIMARY KEY, state TEXT NOT NULL, error TEXT, "
            "heartbeat DOUBLE PRECISION NOT NULL, holder TEXT)"
        )
        for index, short, columns in self._named_indexes():
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {index} ON {self._qualified(f'{self.name}_{short}')} ({columns})"
            )
        return statements

    def _named_indexes(self) -> list[tuple[str, str, str]]:
        """(name, short table name, columns) of the view's indexes."""
        return [
            (f"{self.name}_{short}_{re.sub(r'[^a-z0-9]+', '_', columns)}", short, columns)
            for short, columns in self.indexes
        ]

    def create_table(self) -> None:
        """The library's creation of the tables, then the migrations not yet applied (within
        the store's creation lock, which PostgresTables holds around this)."""
        super().create_table()  # type: ignore[misc]  # the store's recorder (SQLite or PostgreSQL) has it
        with self._session(write=True) as sql:
            migrate(self, sql, (*ENGINE_MIGRATIONS, *self.migrations))

    def opened_on(self, ledger: Any) -> None:
        """Told the ledger the view is opened on (a view that needs one of its keys takes it)."""

    def compress_texts(self, sql: Sql) -> None:
        """Migration 1: the text columns of tables an earlier version made, compressed as
        today's are created (PostgreSQL; nothing elsewhere)."""

    @contextmanager
    def applying(self) -> Iterator[None]:
        """Around a page a projection applies: where a store says so, one transaction that the
        page's reads and its write share (here: nothing, each keeps its own)."""
        yield

    @contextmanager
    def apart(self) -> Iterator[None]:
        """Inside `applying`: sessions of their own again, for writes that must commit whatever
        becomes of the page (here: every session is its own already)."""
        yield

    @contextmanager
    def reading(self) -> Iterator[Sql]:
        with self._session(write=False) as sql:
            yield sql

    def one_read(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of one read statement, in one round trip (a point lookup on a hot path)."""
        with self._statement() as sql:
            rows: list[dict[str, Any]] = sql.rows(statement, params)
        return rows

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
                    sql.run(
                        "INSERT INTO {tracking} (application_name, notification_id) VALUES (?, ?)",
                        (tracking.application_name, tracking.notification_id),
                    )
                except (sqlite3.IntegrityError, psycopg.errors.UniqueViolation) as e:
                    raise TrackingConflict(f"{self.name}: already applied events (expected none)") from e
            elif (
                sql.run(
                    "UPDATE {tracking} SET notification_id = ? "
                    "WHERE application_name = ? AND notification_id = ?",
                    (tracking.notification_id, tracking.application_name, after),
                )
                != 1
            ):
                raise TrackingConflict(f"{self.name}: no longer at position {after}")

    @contextmanager
    def writing_aside(self) -> Iterator[Sql]:
        """One transaction that writes into the aside tables: the view's own statements, whose
        `{table}` names the table's aside copy (a rebuild's; no position moves)."""
        with self._session(write=True, aside=True) as sql:
            yield sql

    def tracking_table(self) -> str:
        """The view's tracking table as SQL names it (its position: `application_name` LEDGER)."""
        return self._qualified(f"{self.name}_tracking")

    def position(self) -> int | None:
        """The last ledger position applied to this view (None: nothing yet)."""
        return self.max_tracking_id(LEDGER)

    def drop(self) -> None:
        """Forget everything: the view's tables are dropped and made again, its position erased."""
        with self._changing_tables() as sql:
            for short in (*self.tables, *(f"{a}_aside" for a in self.aside)):
                sql.run(f"DROP TABLE IF EXISTS {{{short}}}")
            sql.run("DELETE FROM {tracking} WHERE application_name = ?", (LEDGER,))
            sql.run("DELETE FROM {runner}")
            self.create_missing(sql)

    def empty_rebuilding(self) -> None:
        """The aside tables, emptied: for a rebuild to fill, or after one stopped halfway (they
        hold personal data)."""
        with self._changing_tables() as sql:
            for short in self.aside:
                sql.run(f"DROP TABLE IF EXISTS {{{short}_aside}}")
            self.create_missing(sql)

    def finish_rebuilding(self, position: int | None, was: int | None) -> None:
        """The aside tables become the view's, at `position`, in one transaction, if the view
        is still at `was` (the position it had when the rebuild began; else TrackingConflict)
        and the lock `exclusive` took is still held (else LostTheLock); either way nothing
        changes then. The runner row: a runner that swaps (a worker folding an empty view)
        keeps saying it runs; otherwise the row is forgotten, as a view dropped forgets it.

        Where the store can rename an index (PostgreSQL), the view's indexes are built on the
        aside tables first, in a transaction of their own, and renamed in the swap: the view's
        readers do not wait for the build. SQLite cannot rename one (an index moved with a
        renamed table keeps its name): there they are built within the swap."""
        moved = (
            [
                (index, short, columns)
                for index, short, columns in self._named_indexes()
                if short in self.aside
            ]
            if self.renames_indexes
            else []
        )
        if moved:
            with self._session(write=True) as sql:
                for index, short, columns in moved:
                    sql.run(f"CREATE INDEX IF NOT EXISTS {index}_rebuilding ON {{{short}_aside}} ({columns})")
        self._swap(position, was, moved)

    def _swap(
        self,
        position: int | None,
        was: int | None,
        moved: list[tuple[str, str, str]],
        patience: float = 60.0,
        pause: float = 0.5,
    ) -> None:
        """The swap's transaction, tried again after a pause while readers hold the tables
        (each try waits for its locks a bounded moment, so readers never queue behind it for
        longer), for up to `patience` seconds."""
        deadline = time.monotonic() + patience
        while True:
            try:
                with self._swapping() as sql:
                    self._swap_in(sql, position, was, moved)
                return
            except Exception as e:
                if not self._lock_waited(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(pause)

    def _swap_in(
        self, sql: Sql, position: int | None, was: int | None, moved: list[tuple[str, str, str]]
    ) -> None:
        if not self.holds_lock(sql):
            raise LostTheLock(f"{self.name}: the projection's lock was lost while it was folded")
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
            sql.run(
                "INSERT INTO {tracking} (application_name, notification_id) VALUES (?, ?)", (LEDGER, position)
            )
        if self._reported_state is None:
            sql.run("DELETE FROM {runner}")
        else:  # this runner goes on: status says so across the swap
            self._report_in(sql, "running", None)
        self.create_missing(sql)  # the view's indexes, and new, empty aside tables

    def create_missing(self, sql: Sql) -> None:
        """The view's tables and indexes that are not there, in this transaction."""
        for statement in self.view_statements():  # IF NOT EXISTS
            sql.run(statement.replace("{", "{{").replace("}", "}}"))

    # --- the runner row ------------------------------------------------------------------------

    _reported_state: str | None = None  # what this object last reported as the view's runner

    def report(self, state: str, error: str | None = None) -> None:
        """What the runner of this view is doing, for any process to read (and a heartbeat)."""
        with self._session(write=True) as sql:
            self._report_in(sql, state, error)
        self._reported_state = None if state == "stopped" else state

    def _report_in(self, sql: Sql, state: str, error: str | None) -> None:
        sql.run(
            "INSERT INTO {runner} (projection, state, error, heartbeat, holder) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (projection) DO UPDATE SET "
            "state = excluded.state, error = excluded.error, "
            "heartbeat = excluded.heartbeat, holder = excluded.holder",
            (self.name, state, error, time.time(), f"{socket.gethostname()}:{os.getpid()}"),
        )

    def runner(self) -> dict[str, Any] | None:
        # From the primary: a heartbeat read on a lagging standby would look stale.
        with self._session(write=False, primary=True) as sql:
            rows = sql.rows("SELECT state, error, heartbeat, holder FROM {runner}")
        return rows[0] if rows else None

    def state(self, now: float | None = None) -> tuple[str, str | None]:
        """(running | stopped | failed, the error): a runner whose heartbeat is older than
        STALE_AFTER counts as stopped (it died without a word)."""
        runner = self.runner()
        if runner is None:
            return "stopped", None
        if runner["state"] == "failed":
            return "failed", runner["error"]
        if runner["state"] == "running" and (now or time.time()) - runner["heartbeat"] < STALE_AFTER:
            return "running", None
        return "stopped", None
