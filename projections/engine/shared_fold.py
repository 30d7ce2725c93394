"""Several views folded person by person from one read of the ledger (a rebuild, PostgreSQL).

Each view folded alone reads and decodes the streams of its topics itself: four views, four
reads of the person streams, a third of a rebuild's time. Here the ledger is read and decoded
once, in the calling thread, and each view's events are handed to its fold, in a thread of its
own, through a bounded queue (so no more than a few chunks are held in memory): one view folds
while another waits on its writes. The streams of every view's `folded_first` events come
first (the sites, which the statistics count doses in; the order is nothing to the others).

A view whose fold fails stops alone: its aside tables are emptied by its own fold, the reader
hands it nothing more, and the others go on. A read that fails stops them all, each leaving
its view as it was.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from typing import Any

from eventsourcing.utils import get_topic

from projections.engine.paging import PagedProjection
from projections.engine.read_ahead import hand_over
from store.sealing import keys_read_ahead
from usecases.application import DoseLedger

log = logging.getLogger("projections")

CHUNK = 500  # events per hand-over
AHEAD = 8  # chunks a fold may have waiting


class _Feed:
    """The events of one view's topics, on their way from the reader to the view's fold."""

    _END = object()

    def __init__(self, projection: PagedProjection[Any], reader_gone: threading.Event):
        self.projection = projection
        self.topics = projection.topics_read
        self.chunk: list[Any] = []
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)
        self.gone = threading.Event()  # the fold stopped: nothing more is handed to it
        self._reader_gone = reader_gone

    def add(self, event: Any) -> None:
        self.chunk.append(event)
        if len(self.chunk) >= CHUNK:
            self._put(self.chunk)
            self.chunk = []

    def end(self, error: Exception | None = None) -> None:
        if self.chunk:
            self._put(self.chunk)
            self.chunk = []
        self._put(self._END if error is None else error)

    def _put(self, item: Any) -> None:
        hand_over(self._queue, item, unless=self.gone)

    def events(self) -> Iterator[Any]:
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._reader_gone.is_set():  # it stopped without a word (interrupted)
                    raise RuntimeError("the ledger's reader stopped before the end") from None
                continue
            if item is self._END:
                return
            if isinstance(item, Exception):
                raise item
            yield from item


def fold_together(
    ledger: DoseLedger,
    projections: list[PagedProjection[Any]],
    starting: Callable[[PagedProjection[Any], int], Any] = lambda projection, head: None,
) -> tuple[dict[str, int | None], list[Exception]]:
    """Fold these views person by person up to the head read now (each view's `starting` is
    told it): the position each reached, and the errors of those that failed (their views are
    as they were)."""
    head = ledger.head()
    reader_gone = threading.Event()
    feeds = [_Feed(p, reader_gone) for p in projections]
    for feed in feeds:
        starting(feed.projection, head)
    first = frozenset(get_topic(c) for p in projections for c in p.folded_first)
    every = frozenset().union(*(p.topics_read for p in projections))
    reached: dict[str, int | None] = {}
    failed: list[Exception] = []

    def fold(feed: _Feed) -> None:
        try:
            feed.projection.replay_by_person(feed.events(), head or None)
            reached[feed.projection.name] = head or None
        except Exception as e:  # noqa: BLE001 - this view stops; the others go on
            log.error("rebuilding %s failed: %s", feed.projection.name, e)
            failed.append(e)
        finally:
            feed.gone.set()

    with ThreadPoolExecutor(max_workers=len(feeds), thread_name_prefix="fold") as folds:
        scans: list[Any] = []
        try:
            for feed in feeds:
                folds.submit(fold, feed)
            error: Exception | None = None
            try:
                recorder: Any = ledger.recorder  # the store's, with scan_streams (store/)
                scans.extend(
                    recorder.scan_streams(sorted(topics), head) for topics in (first, every - first) if topics
                )
                for stored in keys_read_ahead(ledger.mapper, chain.from_iterable(scans)):
                    wanted = [
                        feed for feed in feeds if stored.topic in feed.topics and not feed.gone.is_set()
                    ]
                    if wanted:
                        event = ledger.mapper.to_domain_event(stored)
                        for feed in wanted:
                            feed.add((stored.position, event) if feed.projection.reads_positions else event)
                    elif all(feed.gone.is_set() for feed in feeds):
                        break  # every fold failed: nothing left to read for
            except Exception as e:  # noqa: BLE001 - every fold stops with it, leaving its view as it was
                error = e
            for feed in feeds:
                feed.end(error)
        finally:
            reader_gone.set()  # a fold still waiting (the reader interrupted) stops, and empties its tables
            for scanned in scans:
                scanned.close()
    return reached, failed
