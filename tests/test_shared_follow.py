"""One read of the ledger for every view of a projector (projections/engine/shared_follow.py):
each follower gets every notification after its position once and in order, whether it starts
behind the feed, at it, or falls too far behind; on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time

from projections.engine import shared_follow
from projections.engine.shared_follow import LedgerFeed
from tests.test_ledger import dose, lan
from usecases.application import DoseLedger


def record(ledger: DoseLedger, people: int) -> list[int]:
    """`people` registered with a dose each; the ids of every notification in the store."""
    for k in range(people):
        dose(ledger, ledger.register_person(lan()).person_id, f"R{time.monotonic_ns()}-{k}")
    return [n.id for n in ledger.recorder.select_notifications(start=1, limit=100_000)]


def collect(follower: shared_follow.FeedFollower, last: int, timeout: float = 30) -> list[int]:
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while (not got or got[-1] < last) and time.monotonic() < deadline:
        got += [n.id for n in follower.next_page(0.1)]
    return got


def test_each_follower_gets_every_notification_after_its_position_once(store_url):
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    feed = LedgerFeed(ledger.recorder)
    try:
        ids = record(ledger, 3)
        with feed.follow(None) as first:
            assert collect(first, ids[-1]) == ids
            more = record(ledger, 2)[len(ids) :]
            assert collect(first, more[-1]) == more
            # One that starts behind what the feed handed out reads what it missed, then the feed's.
            with feed.follow(ids[2]) as behind, feed.follow(more[-1]) as level:
                later = record(ledger, 2)[len(ids) + len(more) :]
                assert collect(behind, later[-1]) == [*ids[3:], *more, *later]
                assert collect(level, later[-1]) == later
                assert collect(first, later[-1]) == later
            # The others gone, the first still follows.
            last = record(ledger, 1)[-1]
            assert collect(first, last)[-1] == last
    finally:
        ledger.close()


def test_a_follower_too_far_behind_reads_what_it_missed_itself(store_url, monkeypatch):
    monkeypatch.setattr(shared_follow, "BACKLOG_MOST", 2)
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    feed = LedgerFeed(ledger.recorder)
    try:
        start = record(ledger, 1)
        with feed.follow(start[-1]) as slow, feed.follow(start[-1]) as quick:
            recorded = []
            for _ in range(4):  # several pages of the feed while `slow` takes nothing
                recorded = record(ledger, 2)[len(start) :]
                assert collect(quick, recorded[-1])[-1] == recorded[-1]
            assert collect(slow, recorded[-1]) == recorded
            later = record(ledger, 1)[len(start) + len(recorded) :]
            assert collect(slow, later[-1]) == later
    finally:
        ledger.close()


def test_a_stopped_follower_ends_and_the_feed_lets_its_subscription_go(store_url):
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    feed = LedgerFeed(ledger.recorder)
    try:
        with feed.follow(None) as follower:
            follower.stop()
            try:
                follower.next_page(0.1)
                raise AssertionError("a stopped follower handed out a page")
            except StopIteration:
                pass
        assert feed._upstream is None and feed._followers == []
    finally:
        ledger.close()


class BreakingSubscription:
    def __init__(self, gate: threading.Event | None):
        self.gate, self.stopped = gate, False

    def __enter__(self) -> BreakingSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped = True

    def stop(self) -> None:
        self.stopped = True

    def next_page(self, timeout: float) -> list:
        if self.gate is not None:  # the old one: its connection breaks as it is let go
            self.gate.wait()
            raise OSError("server closed the connection unexpectedly")
        time.sleep(0.01)
        if self.stopped:
            raise StopIteration
        return []


class RecorderWhoseFirstSubscriptionBreaks:
    def __init__(self) -> None:
        self.gate = threading.Event()
        self.made = 0

    def max_notification_id(self) -> int:
        return 0

    def follow(self, gt: int | None) -> BreakingSubscription:
        self.made += 1
        return BreakingSubscription(self.gate if self.made == 1 else None)


def test_an_old_subscriptions_error_does_not_fail_the_new_ones_followers():
    """The last follower left (the subscription let go, its connection breaking as it goes) and
    another view followed again meanwhile: the old subscription's error is no one's."""
    recorder = RecorderWhoseFirstSubscriptionBreaks()
    feed = LedgerFeed(recorder)
    first = feed.follow(0).__enter__()
    leaving = threading.Thread(target=first.__exit__, args=(None, None, None))
    leaving.start()
    while feed._upstream is not None:
        time.sleep(0.001)
    second = feed.follow(0).__enter__()  # a view following again: a new subscription
    assert recorder.made == 2
    recorder.gate.set()
    leaving.join()
    try:
        assert second.next_page(0.1) == []  # the new subscription is healthy
    finally:
        second.__exit__(None, None, None)
