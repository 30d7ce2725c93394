"""The views' reads on a hot standby, run again when the standby cancels them for its replay.

A standby replays the primary's DROP TABLE and ALTER TABLE ... RENAME (a rebuild's swap:
engine/tables.py) under an ACCESS EXCLUSIVE lock. A read holding the table's ACCESS SHARE lock
then holds the replay up, for `max_standby_streaming_delay` at most (30 s by default, counted
from when the WAL arrived: a standby already that far behind waits no longer at all), after
which the standby cancels it: SQLSTATE 40001, "canceling statement due to conflict with
recovery" or, for a session sitting idle inside a transaction (between two statements of a
`reading()` block), "terminating connection due to conflict with recovery", its connection
closed. A snapshot conflict (the primary's vacuum removing rows a read still sees, when
`hot_standby_feedback` is off) and a buffer pin end the same way. (docs/SCALE.md: the settings.)

Such a read did nothing wrong: on a fresh connection a moment later it queues behind the replay's
lock, which goes with the swap's commit, and answers from the new tables. So each read statement
on the standby runs again on a fresh connection, up to ATTEMPTS times with a pause that doubles
(at most 150 ms of pauses in all), before the error goes on (the API's 503, as any store error).
A statement runs again alone, not its whole block: the views read in READ COMMITTED, where each
statement sees a snapshot of its own anyway, so one run on a new connection sees the view no
less whole than it would have.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresDatastore

from projections.engine.statements import Sql

T = TypeVar("T")

ATTEMPTS = 5  # a read statement's runs at most: one, and four again
FIRST_PAUSE = 0.01  # seconds before the first run again; doubled each time (10+20+40+80 ms)


class _Retried:
    """How many read statements this process ran again after a recovery conflict."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count


RETRIED = _Retried()


def recovery_conflict(error: BaseException, connection: Any) -> bool:
    """Whether `error` is the standby cancelling a read for its replay: SQLSTATE 40001 "...
    due to conflict with recovery", or the session gone under the read (its FATAL unseen: the
    standby closed it at a conflict, or restarted; a read is safe to run again either way)."""
    if not isinstance(error, psycopg.Error):
        return False
    if error.sqlstate == "40001" and "conflict with recovery" in str(error):
        return True
    return bool(getattr(connection, "broken", False))


@contextmanager
def checked_out(datastore: PostgresDatastore, timeout: float) -> Iterator[Any]:
    """A pooled connection on the standby, waited for `timeout` seconds at most (the library's
    `get_connection` waits its pool's whole timeout, the connect timeout: 5 s by default), an
    error on it translated as the store's (the API's 503)."""
    try:
        datastore.pool.open(wait=False)
        with datastore.pool.connection(timeout=max(timeout, 0.001)) as conn:
            yield conn
    except psycopg.OperationalError as error:  # PoolTimeout too: no standby answered in time
        raise OperationalError(f"the standby did not answer: {type(error).__name__}") from error


class StandbySession:
    """Reads on the standby: a pooled connection (in one transaction when `transaction`, as a
    view's `reading()` block is), replaced by a fresh one when the standby cancels a read.
    `checkout_timeout`: seconds to wait for a connection at most (default: the pool's timeout)."""

    def __init__(
        self, datastore: PostgresDatastore, *, transaction: bool, checkout_timeout: float | None = None
    ):
        self.datastore = datastore
        self.transaction = transaction
        self.checkout_timeout = checkout_timeout
        self._stack: ExitStack | None = None
        self._cursor: psycopg.RawCursor[Any] | None = None

    def _open(self) -> psycopg.RawCursor[Any]:
        stack = ExitStack()
        try:
            conn = stack.enter_context(
                self.datastore.get_connection()
                if self.checkout_timeout is None
                else checked_out(self.datastore, self.checkout_timeout)
            )
            if self.transaction:
                stack.enter_context(conn.transaction(force_rollback=True))
            cursor = stack.enter_context(psycopg.RawCursor(conn))
        except BaseException:
            stack.close()
            raise
        self._stack, self._cursor = stack, cursor
        return cursor

    def _abandon(self, error: BaseException) -> None:
        """Give the cancelled session back (the pool rolls it back, or drops it closed) and
        forget the error it ends with: the read runs again on another."""
        stack, self._stack, self._cursor = self._stack, None, None
        if stack is not None:
            try:
                stack.__exit__(type(error), error, error.__traceback__)
            except Exception:  # noqa: BLE001 - the store's translation of the error being retried
                pass

    def attempt(self, read: Callable[[psycopg.RawCursor[Any]], T]) -> T:
        """`read(cursor)`, run again on a fresh connection after a recovery conflict (bounded)."""
        pause = FIRST_PAUSE
        attempt = 1
        while True:
            cursor = self._cursor or self._open()
            try:
                return read(cursor)
            except psycopg.Error as error:
                if attempt >= ATTEMPTS or not recovery_conflict(error, cursor.connection):
                    raise
                self._abandon(error)
            RETRIED.add()
            time.sleep(pause)
            pause *= 2
            attempt += 1

    def __enter__(self) -> StandbySession:
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        stack, self._stack, self._cursor = self._stack, None, None
        # The connection's own exit: back to the pool; an error translated as the store's.
        return stack.__exit__(*exc) if stack is not None else None


class StandbySql(Sql):
    """A view's `Sql` on the standby: each statement runs through `StandbySession.attempt`."""

    def __init__(self, session: StandbySession, names: dict[str, str], cache: dict[Any, str]):
        super().__init__(None, names, True, cache)
        self.session = session

    def _fetch(self, text: str, params: Sequence[Any]) -> list[Any]:
        def read(cursor: psycopg.RawCursor[Any]) -> list[Any]:
            cursor.execute(text, params)
            return cursor.fetchall()

        return self.session.attempt(read)

    def _execute(self, text: str, params: Sequence[Any]) -> Any:
        def run(cursor: psycopg.RawCursor[Any]) -> Any:
            cursor.execute(text, params)
            return cursor

        return self.session.attempt(run)
