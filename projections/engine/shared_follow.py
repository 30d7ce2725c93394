"""One subscription to the ledger for all the views a projector follows it with.

Each worker had a subscription of its own: its own LISTEN connection and puller thread, and its
own read of every page. A projector of seven views read each notification seven times; the
subscriptions took about a quarter of its CPU while it followed single doses. `LedgerFeed`
reads each page once, through one subscription of the event store (`follow`), and hands it to
every follower beyond the position it asked from.

The feed starts at the head. A follower that starts behind what the feed has handed out (a view
folded person by person, one that failed and follows again, one catching up) first reads the
notifications in between itself, page by page, then takes the feed's pages. One that falls more than `BACKLOG_MOST`
notifications behind (a view much slower than the ledger) is handed nothing more until it has
read what it missed itself in the same way: a slow view holds no memory and never holds the
others back.
"""

from __future__ import annotations

import threading
from typing import Any, Self

from eventsourcing.persistence import Notification

PAGE = 500  # notifications per read of a follower that catches up
BACKLOG_MOST = 20_000  # notifications a follower may have waiting before it reads them itself


class _Stopped(Exception):
    pass


class LedgerFeed:
    """The ledger's notifications, read once and handed to every follower."""

    def __init__(self, recorder: Any):
        self._recorder = recorder
        self._lock = threading.Lock()
        self._followers: list[FeedFollower] = []
        self._upstream: Any = None  # the event store's subscription, while anyone follows
        self._handed: int | None = None  # the last notification the feed handed out
        self._thread: threading.Thread | None = None

    def follow(self, gt: int | None) -> FeedFollower:
        """The notifications after `gt`, as the event store's `follow` gives them."""
        return FeedFollower(self, gt)

    def _join(self, follower: FeedFollower) -> None:
        with self._lock:
            if self._upstream is None:
                # From the head: a follower behind it reads what it missed itself, so one
                # catching up from far behind never holds back those at the head.
                self._handed = self._recorder.max_notification_id()
                self._upstream = self._recorder.follow(self._handed)
                self._upstream.__enter__()
                self._thread = threading.Thread(
                    target=self._hand_out, args=(self._upstream,), name="ledger-feed", daemon=True
                )
                self._thread.start()
            if (follower.returned or 0) < (self._handed or 0):
                follower.reading_to = self._handed  # what it missed, read by itself
            self._followers.append(follower)

    def _leave(self, follower: FeedFollower) -> None:
        with self._lock:
            if follower in self._followers:
                self._followers.remove(follower)
            if self._followers or self._upstream is None:
                return
            upstream, self._upstream, thread, self._thread = self._upstream, None, self._thread, None
        upstream.stop()  # nobody follows: the subscription and its connection go
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)
        upstream.__exit__(None, None, None)

    def _hand_out(self, upstream: Any) -> None:
        try:
            while True:
                page = upstream.next_page(timeout=1.0)
                if not page:
                    continue
                with self._lock:
                    if self._upstream is not upstream:
                        return
                    self._handed = page[-1].id
                    for follower in self._followers:
                        follower.take(page, self._handed)
        except StopIteration:
            return
        except BaseException as error:  # noqa: BLE001 - every follower raises it; they follow again
            with self._lock:
                if self._upstream is not upstream:
                    # Let go already (`_leave` stops it): its error is no one's, and the views
                    # following now follow a subscription of their own.
                    return
                self._upstream = None
                for follower in self._followers:
                    follower.fail(error)
            upstream.stop()
            upstream.__exit__(None, None, None)


class FeedFollower:
    """One view's place in the feed: the event store's `Following`, a page at a time."""

    def __init__(self, feed: LedgerFeed, gt: int | None):
        self._feed = feed
        self.returned = gt  # the last notification handed to the view
        self.reading_to: int | None = None  # read by itself up to here before taking the feed's
        self._waiting: list[Notification] = []
        self._ready = threading.Condition(feed._lock)
        self._error: BaseException | None = None
        self._stopped = False

    def __enter__(self) -> Self:
        self._feed._join(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._feed._leave(self)

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify_all()

    # The feed's side, under its lock.

    def take(self, page: list[Notification], handed: int) -> None:
        if self.reading_to is not None:
            self.reading_to = handed  # still reading by itself: now up to here
            return
        after = self.returned or 0
        self._waiting.extend(n for n in page if n.id > after)
        if len(self._waiting) > BACKLOG_MOST:
            self._waiting.clear()
            self.reading_to = handed  # too far behind: it reads what it missed itself
        self._ready.notify_all()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._ready.notify_all()

    # The view's side.

    def next_page(self, timeout: float) -> list[Notification]:
        """The notifications not yet handed to the view; [] if none came within `timeout`.
        Raises StopIteration once stopped, or the error that stopped the feed."""
        with self._ready:
            self._raise_if_ended()
            reading_to = self.reading_to
        if reading_to is not None:
            return self._read_missed(reading_to)
        with self._ready:
            if not self._waiting:
                self._ready.wait(timeout)
                self._raise_if_ended()
            page, self._waiting = self._waiting, []
            if page:
                self.returned = page[-1].id
            return page

    def _read_missed(self, reading_to: int) -> list[Notification]:
        page = [
            n
            for n in self._feed._recorder.select_notifications(
                start=self.returned or 0, limit=PAGE, stop=reading_to, inclusive_of_start=False
            )
            if n.id <= reading_to
        ]
        with self._ready:
            # Nothing left up to `reading_to`: it is there (positions may skip numbers).
            self.returned = page[-1].id if page else max(self.returned or 0, reading_to)
            if self.reading_to is not None and self.returned >= self.reading_to:
                self.reading_to = None  # caught up with what the feed handed out: its pages now
            return page

    def _raise_if_ended(self) -> None:
        if self._error is not None:
            raise self._error
        if self._stopped:
            raise StopIteration
