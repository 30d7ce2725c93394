"""The ledger's pages for a rebuild, read and decoded a few pages ahead of the views.

The reader's waits on the database overlap the views' folding and writing. A view rebuilt
alone gains little from it (it is busy in Python most of the time, and the interpreter's lock
serialises the two threads); what it enables is the views of `rebuild --all` working a page
each in threads of their own (engine/rebuild.py), where one view's writes overlap
another's fold (docs/PERFORMANCE.md, Projections)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from store.sealing import keys_read_ahead

_END = object()


class ReadAhead:
    """Iterates (position read, [(topic, event)]) for the notifications of `topics` after
    position `start`, in order.

    `position read` is how far the ledger is read: the page's last notification, or the head
    read before a short page (every notification up to there is of a topic not asked for).
    Events recorded while it reads are read too, until a page finds nothing after the head.
    """

    def __init__(self, ledger: Any, topics: list[str], page_size: int, depth: int = 2, start: int = 0):
        self.ledger, self.topics, self.page_size, self.start = ledger, topics, page_size, start
        self.head: int = ledger.head()
        self._pages: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, name="rebuild-read-ahead", daemon=True)

    def __enter__(self) -> ReadAhead:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # the views stopped early (all failed): the reader stops too
        self._thread.join()

    def __iter__(self) -> Iterator[tuple[int, list[tuple[str, Any]]]]:
        while True:
            item = self._pages.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _read(self) -> None:
        recorder, mapper = self.ledger.recorder, self.ledger.mapper
        try:
            read, head = self.start, self.head
            while not self._stopping.is_set():
                if read >= head:
                    head = self.head = self.ledger.head()  # events recorded during the rebuild
                    if read >= head:
                        break
                # No upper bound: PostgreSQL then plans a bitmap scan of the whole range and a
                # sort (70 ms a page) instead of walking the position index (1 ms).
                page = recorder.select_notifications(
                    start=read, limit=self.page_size, topics=self.topics, inclusive_of_start=False
                )
                # A short page holds every notification of these topics recorded so far, so the
                # views move at least to the head read before it (a writer waiting for a
                # position there then stops waiting). Positions commit in order (the table lock).
                read = page[-1].id if len(page) == self.page_size else max(page[-1].id if page else 0, head)
                self._put(
                    (read, [(n.topic, mapper.to_domain_event(n)) for n in keys_read_ahead(mapper, page)])
                )
            self._put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the views' side, which raises it
            self._put(e)

    def _put(self, item: Any) -> None:
        hand_over(self._pages, item, unless=self._stopping)


def hand_over(to: queue.Queue[Any], item: Any, unless: threading.Event) -> None:
    """Put `item` on a bounded queue, waiting for room, unless (or until) the side that takes
    from it has stopped."""
    while not unless.is_set():
        try:
            to.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
