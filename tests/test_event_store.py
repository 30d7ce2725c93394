"""What the ledger, its views and its audit read from the event store, on each store alike
(store.event_store: one adapter per backend)."""

from __future__ import annotations

import threading
import time
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from store.event_store import by_stream

ALPHA, BETA = "tests.stories:Alpha.Happened", "tests.stories:Beta.Happened"
# Named so that the streams' order (by id) is neither the order they were recorded in nor
# the order of their first positions.
A, B, C, D = (UUID(int=(n << 64) | 0x1234) for n in (0x10, 0x20, 0x30, 0xFF))
RECORDED = (  # one insert per line, so positions interleave the streams
    ((A, 1, ALPHA, b"a1"), (C, 1, BETA, b"c1")),
    ((B, 1, ALPHA, b"b1"), (A, 2, BETA, b"\x00\\'\"a2")),
    ((C, 2, ALPHA, b"c2"), (A, 3, ALPHA, b""), (B, 2, BETA, "bé".encode())),
)


def _insert(store, *rows):
    return store.insert_events([StoredEvent(*row) for row in rows])


def _keys(records):
    return [(r.originator_id, r.originator_version) for r in records]


@pytest.fixture
def store(ledger):
    for rows in RECORDED:
        _insert(ledger.recorder, *rows)
    return ledger.recorder


@pytest.fixture
def positions(store):
    """Each recorded event's position, as the application log numbers it."""
    return {(n.originator_id, n.originator_version): n.id for n in store.select_notifications(None, 100)}


class TestEventStore:
    def test_many_streams_read_at_once_each_in_version_order_with_their_positions(self, store, positions):
        records = store.select_streams([C, A])
        assert _keys(records) == [(A, 1), (A, 2), (A, 3), (C, 1), (C, 2)]
        assert [r.position for r in records] == [positions[k] for k in _keys(records)]
        assert [(r.topic, r.state) for r in records[:3]] == [
            (ALPHA, b"a1"),
            (BETA, b"\x00\\'\"a2"),
            (ALPHA, b""),
        ]

    def test_one_streams_records_are_those_the_library_reads(self, store):
        assert [(r.originator_version, r.topic, r.state) for r in store.select_streams([B])] == [
            (e.originator_version, e.topic, e.state) for e in store.select_events(B)
        ]

    def test_no_ids_or_unknown_ids_read_nothing(self, store):
        assert store.select_streams([]) == []
        assert store.select_streams([D]) == []

    @pytest.mark.parametrize("chunk", [1, 2, 2000])
    def test_a_scan_reads_stream_after_stream_each_in_version_order(self, store, positions, chunk):
        scanned = list(store.scan_streams(chunk=chunk))
        assert _keys(scanned) == sorted(positions)
        assert [r.position for r in scanned] == [positions[k] for k in _keys(scanned)]
        assert [[r.originator_version for r in stream] for stream in by_stream(scanned)] == [
            [1, 2, 3],
            [1, 2],
            [1, 2],
        ]

    def test_a_scan_reads_only_the_topics_asked_for(self, store):
        assert _keys(store.scan_streams([ALPHA], chunk=1)) == [(A, 1), (A, 3), (B, 1), (C, 2)]
        assert _keys(store.scan_streams([BETA])) == [(A, 2), (B, 2), (C, 1)]
        assert _keys(store.scan_streams([ALPHA, BETA])) == _keys(store.scan_streams())
        assert list(store.scan_streams([])) == []

    def test_a_scan_stops_at_its_bound(self, store, positions):
        bound = positions[(A, 2)]
        assert _keys(store.scan_streams(up_to=bound, chunk=1)) == sorted(
            k for k, p in positions.items() if p <= bound
        )
        assert _keys(store.scan_streams([ALPHA], bound)) == [(A, 1), (B, 1)]

    def test_a_scan_leaves_out_what_is_recorded_behind_it(self, store, positions):
        scan = store.scan_streams(chunk=1)
        first = next(scan)
        _insert(store, (D, 1, ALPHA, b"d1"), (A, 4, ALPHA, b"a4"))
        assert _keys([first, *scan]) == sorted(positions)
        assert _keys(store.scan_streams()) == sorted([*positions, (A, 4), (D, 1)])

    def test_the_count_is_of_events_stored_up_to_a_position_whatever_numbers_it_skips(self, store, positions):
        with pytest.raises(IntegrityError):  # on PostgreSQL the failed insert leaves a gap in the positions
            _insert(store, (D, 1, ALPHA, b"d1"), (A, 1, ALPHA, b"again"))
        _insert(store, (D, 1, ALPHA, b"d1"))
        ids = [n.id for n in store.select_notifications(None, 100)]
        assert store.count_notifications() == len(ids) == 8
        for stop in (ids[0], positions[(A, 2)], ids[-1]):
            assert store.count_notifications(stop) == sum(1 for i in ids if i <= stop)

    def test_pages_of_notifications_follow_the_positions(self, store, positions):
        pages, start = [], None
        while page := store.select_notifications(start, 3, inclusive_of_start=False):
            pages.append(page)
            start = page[-1].id
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [(n.originator_id, n.originator_version) for p in pages for n in p] == sorted(
            positions, key=positions.get
        )
        alpha = store.select_notifications(None, 100, topics=[ALPHA])
        assert [n.id for n in alpha] == sorted(
            p for (s, v), p in positions.items() if (s, v) in {(A, 1), (A, 3), (B, 1), (C, 2)}
        )

    def test_a_subscription_hands_out_what_follows_its_start_then_what_is_recorded_next(
        self, store, positions
    ):
        start = positions[(B, 1)]
        with store.follow(start) as following:
            assert _notified(following, 4) == sorted(
                (k for k, p in positions.items() if p > start), key=positions.get
            )
            assert following.next_page(timeout=0.3) == []
            _insert(store, (D, 1, ALPHA, b"d1"), (A, 4, ALPHA, b"a4"))
            assert _notified(following, 2) == [(D, 1), (A, 4)]
            following.stop()
            with pytest.raises(StopIteration):
                following.next_page(timeout=0.3)

    def test_a_subscription_from_the_start_hands_out_everything(self, store, positions):
        with store.follow(None) as following:
            assert _notified(following, 7) == sorted(positions, key=positions.get)

    def test_the_heads_are_each_streams_last_record_with_the_position_they_were_read_at(
        self, store, positions
    ):
        position, heads = store.stream_heads()
        assert position == max(positions.values())
        assert _keys(heads) == [(A, 3), (B, 2), (C, 2)]
        assert [(r.topic, r.state, r.position) for r in heads] == [
            (ALPHA, b"", positions[A, 3]),
            (BETA, "bé".encode(), positions[B, 2]),
            (ALPHA, b"c2", positions[C, 2]),
        ]
        _insert(store, (D, 1, ALPHA, b"d1"), (A, 4, BETA, b"a4"))
        position, heads = store.stream_heads()
        assert position == store.max_notification_id()
        assert _keys(heads) == [(A, 4), (B, 2), (C, 2), (D, 1)]

    def test_the_heads_are_one_consistent_read_while_events_are_recorded(self, ledger):
        """Each read's heads are exactly the last records at or below its position, as the
        whole log (read afterwards) has them: no head from past the position, none missed."""
        store, streams = ledger.recorder, [UUID(int=n) for n in range(1, 9)]
        done = threading.Event()

        def write() -> None:
            version = 0
            while not done.is_set() and version < 400:
                version += 1
                _insert(store, *((s, version, ALPHA, b"x") for s in streams[version % 3 :: 3]))

        writer = threading.Thread(target=write)
        writer.start()
        reads = []
        try:
            while writer.is_alive() and len(reads) < 200:
                reads.append(store.stream_heads())
        finally:
            done.set()
            writer.join()
        log = list(store.scan_streams())
        for position, heads in reads:
            versions: dict[UUID, int] = {}
            for record in log:
                if record.position <= position:
                    versions[record.originator_id] = record.originator_version
            assert {r.originator_id: r.originator_version for r in heads} == versions
            assert all(r.position <= position for r in heads)
        assert len({position for position, _ in reads}) > 1  # the reads did overlap the writes

    def test_an_empty_store_has_no_heads(self, ledger):
        assert ledger.recorder.stream_heads() == (0, [])


def _notified(following, expected: int, wait: float = 10.0) -> list[tuple[UUID, int]]:
    """What a subscription hands out until `expected` notifications came (or `wait` passed)."""
    got: list[tuple[UUID, int]] = []
    deadline = time.monotonic() + wait
    while len(got) < expected and time.monotonic() < deadline:
        got += [(n.originator_id, n.originator_version) for n in following.next_page(timeout=0.2)]
    return got
