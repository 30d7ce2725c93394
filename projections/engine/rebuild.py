"""Rebuilding views from the whole ledger, reporting progress to a callback (the CLI draws it).

A view that can be folded stream after stream (all but the correction requests) is folded
so, into tables that then take its tables' place, then follows page by page what was
recorded meanwhile; the views folded together read and decode the ledger once (PostgreSQL).
The others are dropped and replayed a page per transaction, reading and decoding the ledger
once for them all, and only the events of the topics they read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Any, Protocol

from eventsourcing.utils import get_topic

from projections.engine.paging import PagedProjection
from projections.engine.read_ahead import ReadAhead
from projections.engine.shared_fold import fold_together
from projections.engine.sqlite import SQLiteTables
from projections.engine.stores import construct_view
from store.sealing import keys_read_ahead
from usecases.application import DoseLedger

log = logging.getLogger("projections")

PAGE = 500  # notifications of the rebuilt views' topics per page (one transaction per view)
BEAT = 1000  # events folded person by person between two looks at a worker's stop and heartbeat


class Progress(Protocol):
    """Where a rebuild says how far it is (the CLI draws a bar; nothing by default)."""

    def began(self, what: str, total: int | None) -> int:
        """A step begins (`total`: positions to read, None if unknown); its id for `advanced`."""

    def advanced(self, step: int, done: int, total: int) -> None:
        """The step has read the ledger up to position `done` of `total`."""


def _recorder(ledger: DoseLedger) -> Any:
    """The ledger's recorder as the store made it (store/: scan_streams, count_notifications),
    which the application types as the library's."""
    return ledger.recorder


class Quiet:
    """No progress shown."""

    def began(self, what: str, total: int | None) -> int:
        return 0

    def advanced(self, step: int, done: int, total: int) -> None:
        pass


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
        super().__init__(
            f"a projector is running {name!r}; stop it (doseledger project, or the server "
            "that runs the projections) and rebuild again"
        )


def rebuild_views(
    ledger: DoseLedger,
    classes: list[type[PagedProjection[Any]]],
    progress: Progress,
    wait: float,
    by_person: bool,
) -> list[Rebuilt]:
    """Rebuild these views from the whole ledger (each view still commits each page with its
    own position). A view that fails stops alone: the others finish, then its error is raised.
    `by_person=False`: every view page by page, as a projector catching up (for comparison).

    A running projector holds the view: this waits up to `wait` seconds for it to stop, then
    raises ProjectorRunning.
    """
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
                    caught_up, failed_after = _replay(
                        ledger, [projection], progress, start=folded[projection.name]
                    )
                    positions[projection.name] = caught_up[projection.name]
                    failed += failed_after
            seconds = time.perf_counter() - started
            if failed:
                raise failed[0]
            reached = max((p or 0 for p in positions.values()), default=0)
            events = _recorder(ledger).count_notifications(reached) if reached else 0
            return [Rebuilt(p.name, positions[p.name] or 0, events, seconds) for p in projections]
    finally:
        timer.cancel()


def _replay_by_person(
    ledger: DoseLedger, projections: list[PagedProjection[Any]], progress: Progress
) -> tuple[dict[str, int | None], list[Exception]]:
    """Rebuild views that can be folded stream after stream: the position each reached, and
    the errors of those that failed (their views are as they were). On PostgreSQL they are
    folded together from one read of the ledger, each in a thread of its own (shared_fold);
    SQLite has one writer at a time: there each view reads and folds in turn."""
    reached: dict[str, int | None] = {}
    failed: list[Exception] = []
    steps: dict[str, tuple[int, int]] = {}  # view → its step, and the head it folds up to

    def starting(projection: PagedProjection[Any], head: int) -> None:
        steps[projection.name] = (
            progress.began(f"rebuilding {projection.name}, person by person, up to position {head}", None),
            head,
        )

    if projections and not _one_writer(projections):
        reached, failed = fold_together(ledger, projections, starting)
    else:
        for projection in projections:
            try:
                reached[projection.name] = fold_by_person(ledger, projection, partial(starting, projection))
            except Exception as e:  # noqa: BLE001 - this view stops; the others go on
                log.error("rebuilding %s failed: %s", projection.name, e)
                failed.append(e)
    for name in reached:
        step, head = steps[name]
        progress.advanced(step, head, head)
    return reached, failed


def _one_writer(projections: list[PagedProjection[Any]]) -> bool:
    """Whether the views' store writes one transaction at a time (SQLite): there a view
    waiting for the writer would hold the pool's turn for the others, so they take turns."""
    return any(isinstance(p.view, SQLiteTables) for p in projections)


def fold_by_person(
    ledger: DoseLedger,
    projection: PagedProjection[Any],
    starting: Callable[[int], Any] = lambda head: None,
    beat: Callable[[], None] = lambda: None,
) -> int | None:
    """Fold a view stream after stream (`replay_by_person`) up to the head read now, which
    `starting` is told: the position the view is then at. The streams of the projection's
    `folded_first` events come first. `beat` is called every BEAT events
    (a worker's heartbeat; raising stops the fold, which leaves the view as it was)."""
    head = ledger.head()
    starting(head)
    first = frozenset(get_topic(c) for c in projection.folded_first)
    scans = [
        _recorder(ledger).scan_streams(sorted(topics), head)
        for topics in (first, projection.topics_read - first)
        if topics
    ]

    def read() -> Iterator[Any]:
        for n, stored in enumerate(chain.from_iterable(scans), start=1):
            if n % BEAT == 0:
                beat()  # as the rows are read: the keys' read-ahead holds some back
            yield stored

    def events() -> Iterator[Any]:
        for stored in keys_read_ahead(ledger.mapper, read()):
            event = ledger.mapper.to_domain_event(stored)
            yield (stored.position, event) if projection.reads_positions else event

    try:
        projection.replay_by_person(events(), head or None)
    finally:
        for scanned in scans:
            scanned.close()
    return head or None


def _replay(
    ledger: DoseLedger, projections: list[PagedProjection[Any]], progress: Progress, start: int | None = None
) -> tuple[dict[str, int | None], list[Exception]]:
    """Replay the ledger into the views, which are all at position `start` (None: nothing
    applied): the last position each reached, and the errors.

    Pages are read and decoded ahead (ReadAhead), and on PostgreSQL the views fold and write
    each page in threads of their own: while one waits on its writes, another folds (SQLite:
    one thread, see _one_writer).
    """
    if not projections:
        return {}, []
    topics = sorted(set().union(*(p.topics_read for p in projections)))
    positions: dict[str, int | None] = {p.name: start for p in projections}
    failed: list[Exception] = []
    running = list(projections)

    def apply(projection: PagedProjection[Any], read: int, decoded: list[tuple[str, Any]]) -> int:
        events = [event for topic, event in decoded if topic in projection.topics_read]
        return projection.process_events(events, read, after=positions[projection.name])

    with (
        ReadAhead(ledger, topics, PAGE, start=start or 0) as pages,
        ThreadPoolExecutor(
            max_workers=1 if _one_writer(projections) else len(projections), thread_name_prefix="rebuild"
        ) as views,
    ):
        step = progress.began(f"rebuilding {', '.join(p.name for p in projections)}", pages.head)
        for read, decoded in pages:
            applying = {projection: views.submit(apply, projection, read, decoded) for projection in running}
            for projection, applied in applying.items():
                try:
                    positions[projection.name] = applied.result()
                except Exception as e:  # noqa: BLE001 - this view stops; the others go on
                    log.error(
                        "rebuilding %s failed at position %s: %s",
                        projection.name,
                        positions[projection.name],
                        e,
                    )
                    failed.append(e)
                    running.remove(projection)
            progress.advanced(step, read, max(pages.head, read))
            if not running:
                break
        else:  # read to the end (also when there was nothing left to read)
            progress.advanced(step, pages.head, pages.head)
    return positions, failed
