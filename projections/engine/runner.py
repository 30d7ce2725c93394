"""A supervised worker per projection, embedded in a process or run as `doseledger project`.

The library's `ProjectionRunner` stops for good at the first exception. A `ProjectionWorker`
runs one projection in a thread instead and never dies quietly: an error is logged, shown in
the projection's status with the event it stopped at, and the worker starts again after a
pause that doubles up to half a minute. It catches up and follows the ledger the same way on
both stores (the event store's `follow`, or one feed of it for all the process's views:
`shared_follow`), a page per transaction; a view that has applied nothing yet
and can be folded stream after stream (all but the correction requests: its rows are folds of
one stream, or sums of them) is folded so first, as a rebuild does it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, Notification, OperationalError

from projections.engine.paging import PagedProjection
from projections.engine.rebuild import fold_by_person
from projections.engine.shared_follow import LedgerFeed
from projections.engine.stores import construct_view
from projections.engine.tables import LostTheLock, TrackingConflict
from usecases.application import DoseLedger

log = logging.getLogger("projections")


class StuckAt(Exception):
    """A projection cannot apply this notification (the worker retries it after a pause)."""

    def __init__(self, notification: Notification, error: BaseException):
        super().__init__(
            f"stopped at notification {notification.id} ({notification.topic} of "
            f"{notification.originator_id} v{notification.originator_version}): "
            f"{type(error).__name__}: {error}"
        )
        self.notification_id = notification.id


# Errors of a database gone away (a restart, the network): a fold meeting one is tried again.
_DATABASE_AWAY = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
)


class _Stopping(Exception):
    """The worker was asked to stop in the middle of a fold."""


class ProjectionWorker:
    """One projection, run in a thread until stopped."""

    def __init__(
        self,
        projection: type[PagedProjection[Any]],
        ledger: DoseLedger,
        *,
        first_pause: float = 0.5,
        longest_pause: float = 30.0,
        heartbeat: float = 2.0,
        feed: LedgerFeed | None = None,
    ):
        self.name = projection.name
        self.ledger = ledger
        self.view = construct_view(ledger, projection)
        self.projection = projection(view=self.view)
        self.first_pause, self.longest_pause, self.heartbeat = first_pause, longest_pause, heartbeat
        # Where it follows the ledger from: a feed shared with the process's other views, or a
        # subscription of its own.
        self.source = feed if feed is not None else ledger.recorder
        self.state = "stopped"
        self.error: str | None = None
        self._stopping = threading.Event()
        self._fold_failed = False
        self._subscription: Any = None
        self._thread = threading.Thread(target=self._run, name=f"projection-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        subscription = self._subscription
        if subscription is not None:
            subscription.stop()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        pause = self.first_pause
        while not self._stopping.is_set():
            try:
                # A second worker of this projection (another process, a rolling deploy) waits here.
                with self.view.exclusive(self._stopping) as alone:
                    if alone:
                        self._supervise()
            except Exception as e:  # noqa: BLE001 - the lock's own connection: the database is away
                self.state, self.error = "failed", f"{type(e).__name__}: {e}"
                log.error("projection %s cannot take its lock (again in %.1fs): %s", self.name, pause, e)
                if self._stopping.wait(pause):
                    break
                pause = min(pause * 2, self.longest_pause)

    def _supervise(self) -> None:
        """Follow the ledger until stopped; after any error, report it, pause, and follow again."""
        pause = self.first_pause
        self._forget_stopped_rebuild()
        while not self._stopping.is_set():
            try:
                self._follow()
                pause = self.first_pause
            except LostTheLock:
                raise  # out of `exclusive`, to wait for the lock again
            except Exception as e:
                self.error = str(e) if isinstance(e, StuckAt) else f"{type(e).__name__}: {e}"
                log.error(
                    "projection %s failed (again in %.1fs): %s",
                    self.name,
                    pause,
                    self.error,
                    exc_info=not isinstance(e, StuckAt),
                )
                self._report("failed")
                if self._stopping.wait(pause):
                    break
                pause = min(pause * 2, self.longest_pause)
        self._report("stopped")

    def _forget_stopped_rebuild(self) -> None:
        try:
            self.projection.forget_stopped_rebuild()
        except Exception:
            log.warning(
                "projection %s: what a stopped rebuild left could not be emptied", self.name, exc_info=True
            )

    def _follow(self) -> None:
        position = self.view.position()
        # An empty ledger has nothing to fold (and a new store's views are being created).
        if (
            position is None
            and self.projection.rebuilds_by_person
            and not self._fold_failed
            and self.ledger.head()
        ):
            try:
                position = self._fold_empty_view()
            except _Stopping:
                return
            except (*_DATABASE_AWAY, LostTheLock):
                raise  # reported, and the fold tried again after the pause (and the lock taken)
            except Exception:
                log.error(
                    "projection %s: folding it person by person failed; going page by page",
                    self.name,
                    exc_info=True,
                )
                self._fold_failed = True
                position = self.view.position()
        self.projection.following()
        with self.source.follow(position) as subscription:
            self._subscription = subscription
            if self._stopping.is_set():
                return
            beat = 0.0
            while True:
                try:
                    page = subscription.next_page(timeout=self.heartbeat)
                except StopIteration:
                    if self._stopping.is_set():
                        return
                    raise RuntimeError("the subscription to the ledger ended") from None
                if page:
                    position = self._apply(page, position)
                if self.state != "running" or time.monotonic() - beat >= self.heartbeat:
                    self.error = None
                    self._report("running")
                    beat = time.monotonic()

    def _fold_empty_view(self) -> int | None:
        """A view that has applied nothing (a first start, a view dropped) is folded person by
        person, as a rebuild does it (about twice the pages' rate), then followed from there."""
        beat = time.monotonic()
        self._report("running")

        def heartbeat() -> None:
            nonlocal beat
            if self._stopping.is_set():
                raise _Stopping
            if time.monotonic() - beat >= self.heartbeat:
                self._report("running")
                beat = time.monotonic()

        position = fold_by_person(
            self.ledger,
            self.projection,
            lambda head: log.info(
                "projection %s is empty: folding it person by person up to position %s", self.name, head
            ),
            heartbeat,
        )
        return position

    def _apply(self, page: list[Notification], position: int | None) -> int | None:
        mapper = self.ledger.mapper
        try:
            return self.projection.process_notifications(page, mapper, after=position)
        except TrackingConflict:
            raise  # another writer moved the view: start again from where it is
        except Exception:  # noqa: BLE001 - find the event it stops at, applying those before it
            for notification in page:
                try:
                    position = self.projection.process_notifications([notification], mapper, after=position)
                except TrackingConflict:
                    raise
                except Exception as e:
                    raise StuckAt(notification, e) from e
            return position

    def _report(self, state: str) -> None:
        self.state = state
        try:
            self.view.report(state, self.error if state == "failed" else None)
        except Exception:
            log.warning("projection %s: could not record its state %s", self.name, state, exc_info=True)
