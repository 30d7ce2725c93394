"""Reads gathered on an event loop (projections/engine/gathered_reads.py), with a slow store of our own:
every reader is answered, however the reads arrive, fail or go away."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from projections.engine.gathered_reads import IN_FLIGHT, MOST, GatheredReads


class SlowStore:
    """A store that takes a while per query and remembers what it was asked."""

    def __init__(self, seconds: float = 0.02, failures: int = 0):
        self.seconds = seconds
        self.failures = failures
        self.queries: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def fetch(self, keys: list[int]) -> dict[int, str]:
        with self._lock:
            self.queries.append(keys)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            failing = self.failures > 0
            self.failures -= failing
        try:
            time.sleep(self.seconds)
            if failing:
                raise ConnectionError("the store went away")
            return {k: f"certificate {k}" for k in keys if k % 10 != 0}  # every tenth: none
        finally:
            with self._lock:
                self.running -= 1


def test_reads_arriving_in_waves_are_each_answered_in_few_queries_two_at_a_time_at_most():
    store = SlowStore()
    reads = GatheredReads(store.fetch)

    async def waves():
        tasks = []
        for wave in range(6):
            tasks += [asyncio.create_task(reads.get(k)) for k in range(wave * 50, wave * 50 + 50)]
            await asyncio.sleep(0.005)  # the next wave arrives while queries run
        return await asyncio.gather(*tasks)

    answers = asyncio.run(waves())
    assert answers == [None if k % 10 == 0 else f"certificate {k}" for k in range(300)]
    assert store.most_running <= IN_FLIGHT
    assert all(len(keys) <= MOST for keys in store.queries)
    assert sorted(k for keys in store.queries for k in keys) == list(range(300))  # each key read once
    assert len(store.queries) < 300 / 4


def test_a_key_asked_twice_at_once_is_read_once_and_both_readers_get_it():
    store = SlowStore()
    reads = GatheredReads(store.fetch)

    async def twice():
        return await asyncio.gather(reads.get(7), reads.get(7), reads.get(8))

    assert asyncio.run(twice()) == ["certificate 7", "certificate 7", "certificate 8"]
    assert store.queries == [[7, 8]]


def test_a_failed_query_fails_its_readers_and_the_next_reads_on_the_loop_are_answered():
    store = SlowStore(failures=1)
    reads = GatheredReads(store.fetch)

    async def fail_then_read():
        failed = await asyncio.gather(*(reads.get(k) for k in range(1, 6)), return_exceptions=True)
        return failed, await asyncio.gather(*(reads.get(k) for k in range(1, 6)))

    failed, answered = asyncio.run(fail_then_read())
    assert all(isinstance(e, ConnectionError) for e in failed)
    assert answered == [f"certificate {k}" for k in range(1, 6)]


def test_a_reader_that_went_away_is_not_read_for():
    store = SlowStore()
    reads = GatheredReads(store.fetch)

    async def one_gives_up():
        staying = asyncio.create_task(reads.get(1))
        leaving = asyncio.create_task(reads.get(2))
        await asyncio.sleep(0)  # both are waiting for the query
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    assert asyncio.run(one_gives_up()) == "certificate 1"
    assert store.queries == [[1]]


def test_a_loop_that_ends_with_reads_waiting_ends():
    """Reads still waiting when the server stops: they are cancelled, and nothing is left
    running (a query sent for them, a thread waiting on it) that would keep the process up."""
    store = SlowStore(seconds=0.05)
    reads = GatheredReads(store.fetch)

    async def stop_with_reads_waiting():
        for wave in range(3):
            for k in range(wave * 10, wave * 10 + 10):
                asyncio.create_task(reads.get(k))
            await asyncio.sleep(0.01)

    ended = threading.Event()
    threading.Thread(
        target=lambda: (asyncio.run(stop_with_reads_waiting()), ended.set()), daemon=True
    ).start()
    assert ended.wait(10), "the loop did not end"


def test_reads_go_on_after_every_task_on_the_loop_was_cancelled():
    """A query's task cancelled before its first step (everything cancelled at once, as a loop
    shutting down does) still gives its slot back: later reads on the loop are answered."""
    store = SlowStore(seconds=0.001)
    reads = GatheredReads(store.fetch)

    async def cancel_everything_twice_then_read():
        for _ in range(IN_FLIGHT):
            readers = [asyncio.create_task(reads.get(k)) for k in range(1, 4)]
            await asyncio.sleep(0)  # the readers wait; the query is scheduled
            await asyncio.sleep(0)  # the query's task is made, not yet started
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        return await asyncio.wait_for(reads.get(5), 5)

    assert asyncio.run(cancel_everything_twice_then_read()) == "certificate 5"
