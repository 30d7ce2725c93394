"""Following the ledger: pages of notifications as they are recorded, on either store.

PostgreSQL wakes a subscription with LISTEN/NOTIFY (the library's `PostgresSubscription`).
eventsourcing 9.5's SQLite recorder has no `subscribe()`, so `PollingSubscription` wakes the
same machinery on a timer instead. Both read pages of up to 500 notifications with
`select_notifications` into a bounded queue (the library's `ListenNotifySubscription`), and
both hand out a whole page at a time (`next_page`), so one runner serves both stores and
applies what has piled up in one transaction.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    Notification,
    ShutDown,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresSubscription
from psycopg.sql import SQL, Identifier


class Pages:
    """Hands out what a subscription has read, a page at a time (mixed into a subscription)."""

    _notifications: Any
    _notifications_index: int
    _notifications_queue: Any
    _has_been_stopped: bool
    _thread_error: BaseException | None

    def next_page(self, timeout: float) -> list[Notification]:
        """The notifications read and not yet handed out; [] if none came within `timeout`.

        Raises StopIteration once stopped (or the error that stopped the subscription).
        """
        if self._notifications_index < len(self._notifications):
            page = list(self._notifications[self._notifications_index:])
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
        except BaseException as e:
            if self._thread_error is None:
                self._thread_error = e
            self.stop()


class PollingSubscription(Pages, ListenNotifySubscription[ApplicationRecorder]):
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


def follow(recorder: ApplicationRecorder, gt: int | None) -> ListeningSubscription | PollingSubscription:
    """A subscription to every notification after `gt` (no topic filter: see paging)."""
    if isinstance(recorder, PostgresApplicationRecorder):
        return ListeningSubscription(recorder=recorder, gt=gt)
    return PollingSubscription(recorder, gt=gt)
