"""Every reach past eventsourcing's public API, in one module, pinned to the library's minor version.

The library's public API covers almost everything the ledger does. Where measurement or a
missing hook made the project reach into its private methods, the reach is here and nowhere
else, so that an upgrade of the library has one file to read. Importing this module with
another minor version fails at once; tests/test_library_reach.py compares each reach with the
library's public path on both stores.

The reaches: the save path (`save`); the SQLite view tables' creation; PostgreSQL's insert
step (`PostgresInsertStep`: its table lock and NOTIFY around our INSERT) and its retry
(`insert_events_retrying`); the subscriptions that hand out pages (`Pages` and its two
wake-ups), built on the library's listen-notify machinery and its private state; libpq's
`target_session_attrs` added to the keywords the library's datastore gives its pool
(`connect_as`).
"""

from __future__ import annotations

import queue
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import (
    ApplicationRecorder,
    InterfaceError,
    ListenNotifySubscription,
    Notification,
    OperationalError,
    ShutDown,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresSubscription
from eventsourcing.sqlite import SQLiteRecorder
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

PINNED = "9.5"  # the minor version every reach below was written against and tested with
INSTALLED = version("eventsourcing")
if INSTALLED.split(".")[:2] != PINNED.split("."):
    raise ImportError(
        f"store.library reaches into eventsourcing {PINNED}'s private API, but {INSTALLED} is "
        "installed: check each reach in store/library.py against the new version, then re-pin"
    )


def save(app: Application[Any], aggregates: Sequence[Any]) -> int | None:
    """`Application.save` as the library writes it, less `ProcessingEvent.collect_events`: its
    isinstance checks against runtime typing Protocols cost more per aggregate than the
    aggregate's own events do, and the ledger only ever saves concrete aggregates.

    Returns the position of the last event written (None: nothing was written).
    """
    processing: ProcessingEvent[Any] = ProcessingEvent()
    for aggregate in aggregates:
        processing.events.extend(aggregate.collect_events())
        processing.aggregates[aggregate.id] = aggregate
    sealing = getattr(app.mapper, "prepare_events", None) is not None
    try:
        if sealing:  # store.sealing: new people's keys stored with their events; the others' read at once
            app.mapper.prepare_events(processing.events)  # type: ignore[attr-defined]  # the sealing mapper's
        recordings = app._record(processing)
    except BaseException:
        if sealing:  # nothing staged outlives this save, whatever stopped it
            app.mapper.saved(failed=True)  # type: ignore[attr-defined]  # the sealing mapper's
        raise
    if sealing:
        app.mapper.saved(failed=False)  # type: ignore[attr-defined]  # the sealing mapper's
    app._take_snapshots(processing)
    app._notify(recordings)
    return recordings[-1].notification.id if recordings and recordings[-1].notification else None


def create_sqlite_tables(recorder: SQLiteRecorder, cursor: Any) -> None:
    """Run the recorder's CREATE statements as the library's `SQLiteRecorder` does, without
    `SQLiteTrackingRecorder`'s migration of its older multi-row `tracking` table: each view
    tracks in a table of its own, which never had the old shape."""
    SQLiteRecorder._create_table(recorder, cursor)


# PostgreSQL's recording.


class PostgresInsertStep(PostgresApplicationRecorder):
    """The library's insert step (`_insert_stored_events`), with the INSERT itself the
    subclass's `insert_rows` (store.postgres sends the rows as binary arrays).

    The step keeps the library's order: the table lock first, so that each transaction takes
    all its notification ids and commits before another takes any (readers never pass over a
    gap filled in later), then the NOTIFY that wakes subscriptions at commit, then the rows.
    """

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        self.insert_rows(curs, stored_events)

    @abstractmethod
    def insert_rows(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]) -> None:
        """The INSERT ... RETURNING notification_id the library's step ends with."""


def insert_events_retrying(max_attempts: int, wait: float) -> Callable[..., Any]:
    """`PostgresApplicationRecorder.insert_events` tried `max_attempts` times, `wait` seconds
    apart, on InterfaceError and OperationalError: the library's own body (what its retry
    decorator wraps) under a retry of ours, in place of its 10 attempts."""
    insert: Callable[..., Any] = PostgresApplicationRecorder.insert_events.__wrapped__
    wrapped: Callable[..., Any] = retry(
        (InterfaceError, OperationalError), max_attempts=max_attempts, wait=wait
    )(insert)
    return wrapped


def connect_as(datastore: PostgresDatastore, target_session_attrs: str, connect_timeout: float) -> None:
    """Every connection the datastore's pool makes from now on asks libpq for a session of
    `target_session_attrs` ("read-write": the primary among the URL's hosts), giving each host
    `connect_timeout` seconds before the next.

    The library builds its pool from host, port, user, password and dbname only, as keywords
    (a dict kept as the pool's `kwargs`, read again at every connection): there is no setting
    for the others. Without connect_timeout, libpq waits on a host that does not answer for as
    long as TCP does (minutes) before it tries the next one.
    """
    kwargs = datastore.pool.kwargs
    if not isinstance(kwargs, dict):
        raise TypeError("the library's pool no longer keeps its connection keywords as a dict")
    kwargs["target_session_attrs"] = target_session_attrs
    kwargs["connect_timeout"] = max(1, round(connect_timeout))


# Following the application log, on either store.
#
# PostgreSQL wakes a subscription with LISTEN/NOTIFY (the library's `PostgresSubscription`).
# eventsourcing 9.5's SQLite recorder has no `subscribe()`, so `PollingSubscription` wakes the
# same machinery on a timer instead. Both read pages of up to 500 notifications with
# `select_notifications` into a bounded queue (the library's `ListenNotifySubscription`), and
# both hand out a whole page at a time (`next_page`), so one runner serves both stores and
# applies what has piled up in one transaction.


class Pages(ListenNotifySubscription[Any]):
    """Hands out what a subscription has read, a page at a time."""

    def next_page(self, timeout: float) -> list[Notification]:
        """The notifications read and not yet handed out; [] if none came within `timeout`.

        Raises StopIteration once stopped (or the error that stopped the subscription).
        """
        if self._notifications_index < len(self._notifications):
            page = list(self._notifications[self._notifications_index :])
            self._notifications_index = len(self._notifications)
            return page
        if not self._has_been_stopped:
            try:
                self._notifications = self._notifications_queue.get(timeout=timeout)
            except queue.Empty:
                return []
            except ShutDown:
                pass
            else:
                self._notifications_queue.task_done()
                self._notifications_index = len(self._notifications)
                return list(self._notifications)
        if self._thread_error is not None:
            raise self._thread_error
        raise StopIteration


class ListeningSubscription(Pages, PostgresSubscription):
    """PostgreSQL: woken by NOTIFY at each commit of new events.

    Woken, it lingers a moment before reading, so that the commits of a busy ledger arrive
    as one page (one view transaction) rather than a page each: a few hundredths of a second
    of lag for many fewer transactions.
    """

    def __init__(self, recorder: PostgresApplicationRecorder, gt: int | None = None, linger: float = 0.05):
        self._linger = linger
        self._pulled = False
        super().__init__(recorder=recorder, gt=gt)

    def _pull(self) -> None:
        if self._pulled:
            time.sleep(self._linger)
        self._pulled = True
        super()._pull()

    def _listen(self) -> None:
        # The library's, and one line more: it reads what is recorded, then starts listening,
        # so a commit in between would wait for the next commit's NOTIFY (on a quiet ledger,
        # indefinitely). Reading once more as soon as LISTEN is in place closes that gap.
        try:
            with self._recorder.datastore.get_connection() as conn:  # autocommit: LISTEN holds now
                conn.execute(SQL("LISTEN {0}").format(Identifier(self._recorder.channel_name)))
                self._has_been_notified.set()
                while not self._has_been_stopped and not self._thread_error:
                    for _ in conn.notifies(timeout=0.1, stop_after=1):
                        self._has_been_notified.set()
        except BaseException as e:  # noqa: BLE001 - handed to the subscriber, which raises it
            if self._thread_error is None:
                self._thread_error = e
            self.stop()


class PollingSubscription(Pages):
    """SQLite: woken every `interval` seconds to look for new events."""

    def __init__(self, recorder: ApplicationRecorder, gt: int | None = None, interval: float = 0.1):
        super().__init__(recorder=recorder, gt=gt)
        self._interval = interval
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        stopped = threading.Event()
        while not self._has_been_stopped:
            self._has_been_notified.set()
            stopped.wait(self._interval)

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._ticker.join()
