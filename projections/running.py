"""Running the projections: supervised workers, embedded or as `doseledger project`, and rebuilds.

The library's `ProjectionRunner` stops for good at the first exception. A `ProjectionWorker`
runs one projection in a thread instead and never dies quietly: an error is logged, shown in
the projection's status with the event it stopped at, and the worker starts again after a
pause that doubles up to half a minute. It catches up and follows the ledger the same way on
both stores (the event store's `follow`), a page per transaction; a view that has applied nothing yet
and can be folded stream after stream (all but the correction requests: its rows are folds of
one stream, or sums of them) is folded so first, as a rebuild does it.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import chain
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, Notification, OperationalError
from eventsourcing.utils import get_topic

from usecases.application import DoseLedger
from projections.paging import PagedProjection
from projections.read_ahead import ReadAhead
from projections.shared_fold import fold_together
from projections.storage import SQLiteTables, TrackingConflict
from projections.views import PROJECTIONS, construct_view, open_ledger, projection_names

log = logging.getLogger("projections")

PAGE = 500  # notifications of the rebuilt views' topics per page (one transaction per view)
BEAT = 1000  # events folded person by person between two looks at a worker's stop and heartbeat


class StuckAt(Exception):
    """A projection cannot apply this notification (the worker retries it after a pause)."""

    def __init__(self, notification: Notification, error: BaseException):
        super().__init__(
            f"stopped at notification {notification.id} ({notification.topic} of "
            f"{notification.originator_id} v{notification.originator_version}): "
            f"{type(error).__name__}: {error}")
        self.notification_id = notification.id


# Errors of a database gone away (a restart, the network): a fold meeting one is tried again.
_DATABASE_AWAY = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError,
                  sqlite3.OperationalError)


class _Stopping(Exception):
    """The worker was asked to stop in the middle of a fold."""


class ProjectionWorker:
    """One projection, run in a thread until stopped."""

    def __init__(self, projection: type[PagedProjection[Any]], ledger: DoseLedger, *,
                 first_pause: float = 0.5, longest_pause: float = 30.0, heartbeat: float = 2.0):
        self.name = projection.name
        self.ledger = ledger
        self.view = construct_view(ledger, projection)
        self.projection = projection(view=self.view)
        self.first_pause, self.longest_pause, self.heartbeat = first_pause, longest_pause, heartbeat
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
            except Exception as e:  # noqa: BLE001 - whatever it is, report it and start again
                self.error = str(e) if isinstance(e, StuckAt) else f"{type(e).__name__}: {e}"
                log.error("projection %s failed (again in %.1fs): %s", self.name, pause, self.error,
                          exc_info=not isinstance(e, StuckAt))
                self._report("failed")
                if self._stopping.wait(pause):
                    break
                pause = min(pause * 2, self.longest_pause)
        self._report("stopped")

    def _forget_stopped_rebuild(self) -> None:
        try:
            self.projection.forget_stopped_rebuild()
        except Exception:  # noqa: BLE001 - following the ledger matters more than this clean-up
            log.warning("projection %s: what a stopped rebuild left could not be emptied", self.name,
                        exc_info=True)

    def _follow(self) -> None:
        position = self.view.position()
        # An empty ledger has nothing to fold (and a new store's views are being created).
        if (position is None and self.projection.rebuilds_by_person and not self._fold_failed
                and self.ledger.head()):
            try:
                position = self._fold_empty_view()
            except _Stopping:
                return
            except _DATABASE_AWAY:
                raise  # reported, and the fold tried again after the pause
            except Exception:  # noqa: BLE001 - page by page instead, which names the event it stops at
                log.error("projection %s: folding it person by person failed; going page by page",
                          self.name, exc_info=True)
                self._fold_failed = True
                position = self.view.position()
        with self.ledger.recorder.follow(position) as subscription:
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

        position = fold_by_person(self.ledger, self.projection, lambda head: log.info(
            "projection %s is empty: folding it person by person up to position %s", self.name, head),
            heartbeat)
        self._report("running")  # the swap forgot the runner row, as a rebuild does
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
        except Exception:  # noqa: BLE001 - the status row is best effort; the work goes on
            log.warning("projection %s: could not record its state %s", self.name, state, exc_info=True)


class EmbeddedProjector:
    """Every projection (or some), each in a worker thread of this process."""

    def __init__(self, url: str | None = None, names: list[str] | None = None, **options: Any):
        self.ledger = open_ledger(url)
        wanted = names or list(PROJECTIONS)
        self.workers = [ProjectionWorker(PROJECTIONS[n], self.ledger, **options) for n in wanted]

    def start(self) -> EmbeddedProjector:
        for worker in self.workers:
            worker.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.join(timeout)
        self.ledger.close()

    def __enter__(self) -> EmbeddedProjector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(url: str | None = None, names: list[str] | None = None, **options: Any) -> EmbeddedProjector:
    """Run the projections in background threads of this (the serving) process."""
    return EmbeddedProjector(url, names, **options).start()


def run_worker(url: str | None = None, names: list[str] | None = None) -> int:
    """`doseledger project`: run the projections until SIGTERM or SIGINT."""
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        log.info("signal %s: stopping the projections", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    projector = start_embedded(url, names)
    log.info("running projections: %s", ", ".join(w.name for w in projector.workers))
    while not stopping.wait(1.0):
        pass
    projector.stop()
    return 0


@dataclass(frozen=True)
class Rebuilt:
    name: str
    position: int  # the ledger position the rebuilt view reached
    events: int  # events stored up to that position (positions may skip numbers on PostgreSQL)
    seconds: float  # views rebuilt together share one read of the ledger: the time of them all

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class ProjectorRunning(RuntimeError):
    def __init__(self, name: str):
        super().__init__(f"a projector is running {name!r}; stop it (doseledger project, or the server "
                         "that runs the projections) and rebuild again")


def rebuild(url: str | None = None, name: str = "all", progress: bool = True,
            wait: float = 10.0, by_person: bool = True) -> list[Rebuilt]:
    """Rebuild a view (or all) from the whole ledger.

    A view that can be folded stream after stream (all but the correction requests) is folded
    so, into tables that then take its tables' place, then follows page by page what was
    recorded meanwhile; the views folded together read and decode the ledger once (PostgreSQL).
    The others are dropped and replayed a page per transaction, reading and decoding the
    ledger once for them all, and only the events of the topics they read; each view still
    commits each page with its own position.
    A view that fails stops alone: the others finish, then its error is raised.
    `by_person=False`: every view page by page, as a projector catching up (for comparison).

    A running projector holds the view: rebuild waits up to `wait` seconds for it to stop,
    then raises ProjectorRunning.
    """
    names = projection_names(name)
    ledger = open_ledger(url)
    try:
        return _rebuild(ledger, [PROJECTIONS[n] for n in names], progress, wait, by_person)
    finally:
        ledger.close()


def _rebuild(ledger: DoseLedger, classes: list[type[PagedProjection[Any]]], progress: bool,
             wait: float, by_person: bool) -> list[Rebuilt]:
    projections = [c(view=construct_view(ledger, c)) for c in classes]
    gave_up = threading.Event()
    timer = threading.Timer(wait, gave_up.set)
    timer.start()
    try:
        with ExitStack() as held:
            for projection in projections:
                if not held.enter_context(projection.view.exclusive(gave_up)):
                    raise ProjectorRunning(projection.name)
            timer.cancel()
            started = time.perf_counter()
            folding = [p for p in projections if by_person and p.rebuilds_by_person]
            paged = [p for p in projections if p not in folding]
            folded, failed = _replay_by_person(ledger, folding, progress)
            for projection in paged:  # only now: the API reads them empty until they are replayed
                projection.view.drop()
            positions, failed_paged = _replay(ledger, paged, progress)
            failed += failed_paged
            for projection in folding:  # then, page by page, what was recorded as they were folded
                if projection.name in folded:
                    caught_up, failed_after = _replay(ledger, [projection], progress, start=folded[projection.name])
                    positions[projection.name] = caught_up[projection.name]
                    failed += failed_after
            seconds = time.perf_counter() - started
            if failed:
                raise failed[0]
            reached = max((p or 0 for p in positions.values()), default=0)
            events = ledger.recorder.count_notifications(reached) if reached else 0
            return [Rebuilt(p.name, positions[p.name] or 0, events, seconds) for p in projections]
    finally:
        timer.cancel()


def _replay_by_person(ledger: DoseLedger, projections: list[PagedProjection[Any]],
                      progress: bool) -> tuple[dict[str, int | None], list[Exception]]:
    """Rebuild views that can be folded stream after stream: the position each reached, and
    the errors of those that failed (their views are as they were). On PostgreSQL they are
    folded together from one read of the ledger, each in a thread of its own (shared_fold);
    SQLite has one writer at a time: there each view reads and folds in turn."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    reached: dict[str, int | None] = {}
    failed: list[Exception] = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  disable=not progress) as bar:

        def starting(projection: PagedProjection[Any], head: int) -> None:
            bar.add_task(f"rebuilding {projection.name}, person by person, up to position {head}")

        if projections and not _one_writer(projections):
            reached, failed = fold_together(ledger, projections, starting)
        else:
            for projection in projections:
                try:
                    reached[projection.name] = fold_by_person(
                        ledger, projection, lambda head, projection=projection: starting(projection, head))
                except Exception as e:  # noqa: BLE001 - this view stops; the others go on
                    log.error("rebuilding %s failed: %s", projection.name, e)
                    failed.append(e)
    return reached, failed


def _one_writer(projections: list[PagedProjection[Any]]) -> bool:
    """Whether the views' store writes one transaction at a time (SQLite): there a view
    waiting for the writer would hold the pool's turn for the others, so they take turns."""
    return any(isinstance(p.view, SQLiteTables) for p in projections)


def fold_by_person(ledger: DoseLedger, projection: PagedProjection[Any],
                   starting: Callable[[int], Any] = lambda head: None,
                   beat: Callable[[], None] = lambda: None) -> int | None:
    """Fold a view stream after stream (`replay_by_person`) up to the head read now, which
    `starting` is told: the position the view is then at. The streams of the projection's
    `folded_first` events come first. `beat` is called every BEAT events
    (a worker's heartbeat; raising stops the fold, which leaves the view as it was)."""
    head = ledger.head()
    starting(head)
    first = frozenset(get_topic(c) for c in projection.folded_first)
    scans = [ledger.recorder.scan_streams(sorted(topics), head)
             for topics in (first, projection.topics_read - first) if topics]

    def events() -> Iterator[Any]:
        for n, stored in enumerate(chain.from_iterable(scans), start=1):
            if n % BEAT == 0:
                beat()
            yield ledger.mapper.to_domain_event(stored)

    try:
        projection.replay_by_person(events(), head or None)
    finally:
        for scanned in scans:
            scanned.close()
    return head or None


def _replay(ledger: DoseLedger, projections: list[PagedProjection[Any]], progress: bool,
            start: int | None = None) -> tuple[dict[str, int | None], list[Exception]]:
    """Replay the ledger into the views, which are all at position `start` (None: nothing
    applied): the last position each reached, and the errors.

    Pages are read and decoded ahead (ReadAhead), and on PostgreSQL the views fold and write
    each page in threads of their own: while one waits on its writes, another folds (SQLite:
    one thread, see _one_writer).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not projections:
        return {}, []
    topics = sorted(set().union(*(p.topics_read for p in projections)))
    positions: dict[str, int | None] = {p.name: start for p in projections}
    failed: list[Exception] = []
    running = list(projections)

    def apply(projection: PagedProjection[Any], read: int, decoded: list[tuple[str, Any]]) -> int:
        events = [event for topic, event in decoded if topic in projection.topics_read]
        return projection.process_events(events, read, after=positions[projection.name])

    with (Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("events"), TimeRemainingColumn(), disable=not progress) as bar,
          ReadAhead(ledger, topics, PAGE, start=start or 0) as pages,
          ThreadPoolExecutor(max_workers=1 if _one_writer(projections) else len(projections),
                             thread_name_prefix="rebuild") as views):
        task = bar.add_task(f"rebuilding {', '.join(p.name for p in projections)}", total=pages.head)
        for read, decoded in pages:
            applying = {projection: views.submit(apply, projection, read, decoded) for projection in running}
            for projection, applied in applying.items():
                try:
                    positions[projection.name] = applied.result()
                except Exception as e:  # noqa: BLE001 - this view stops; the others go on
                    log.error("rebuilding %s failed at position %s: %s", projection.name,
                              positions[projection.name], e)
                    failed.append(e)
                    running.remove(projection)
            bar.update(task, completed=read, total=max(pages.head, read))
            if not running:
                break
    return positions, failed
