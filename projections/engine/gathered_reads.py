"""Point reads that arrive together on an event loop, answered by one query off the loop.

The certificate read is one primary-key lookup. On PostgreSQL each one cost a hop to the
threadpool and back, a pooled connection and a round trip: on two cores, as much CPU as the
rest of the request. Under load, reads arrive many per turn of the event loop; here the ones
waiting when the loop comes round are sent as one `IN (...)` query in one hop (the DataLoader
pattern; group commit's counterpart for reads). At most `IN_FLIGHT` queries run at once;
reads arriving meanwhile wait for the next. A read alone goes at once, as before.

(Tried first and measured slower: psycopg's async connections on the loop, no hop at all:
1,561 against 1,764 reads/s with the hop, psycopg's async waiting costing more than the hop.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import anyio.to_thread

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
IN_FLIGHT = 2  # queries at once per loop: one answering while the next is sent
MOST = 64  # keys per query: a bounded wait for the first reader, few statement shapes to prepare


class _Turn(Generic[K, V]):
    """One event loop's reads: those waiting for a query, and the queries running."""

    def __init__(self) -> None:
        self.waiting: list[tuple[K, asyncio.Future[V | None]]] = []
        self.scheduled = False
        self.running: set[asyncio.Task[None]] = set()


class GatheredReads(Generic[K, V]):
    """`get(key)` for many callers; `fetch(keys)` answers a batch ({key: value}, absent: None).

    Readers of the same key in one batch share the value fetched: they must not change it."""

    def __init__(self, fetch: Callable[[list[K]], dict[K, V]]) -> None:
        self.fetch = fetch
        self._turns: dict[asyncio.AbstractEventLoop, _Turn[K, V]] = {}
        self._lock = threading.Lock()  # loops run on different threads (servers, test clients)

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop) or self._turn_of(loop)
        answer: asyncio.Future[V | None] = loop.create_future()
        turn.waiting.append((key, answer))
        self._schedule(loop, turn)
        return await answer

    def _turn_of(self, loop: asyncio.AbstractEventLoop) -> _Turn[K, V]:
        with self._lock:
            for gone in [other for other in self._turns if other.is_closed()]:
                del self._turns[gone]  # a loop that ended (a test's) keeps nothing here
            return self._turns.setdefault(loop, _Turn())

    def _schedule(self, loop: asyncio.AbstractEventLoop, turn: _Turn[K, V]) -> None:
        # call_soon: the query goes after the callbacks already due, which are the other
        # requests read off the sockets in this same turn of the loop.
        if turn.waiting and not turn.scheduled and len(turn.running) < IN_FLIGHT:
            turn.scheduled = True
            loop.call_soon(self._send, loop, turn)

    def _send(self, loop: asyncio.AbstractEventLoop, turn: _Turn[K, V]) -> None:
        turn.scheduled = False
        wanted = [(key, answer) for key, answer in turn.waiting if not answer.done()]  # gone: not read
        batch, turn.waiting = wanted[:MOST], wanted[MOST:]
        if batch:
            task = loop.create_task(self._answer(batch))
            turn.running.add(task)
            task.add_done_callback(lambda done: self._finished(loop, turn, done, batch))
        self._schedule(loop, turn)  # more than MOST were waiting: the rest, if a query may go

    async def _answer(self, batch: list[tuple[K, asyncio.Future[V | None]]]) -> None:
        try:
            found = await anyio.to_thread.run_sync(self.fetch, list(dict.fromkeys(k for k, _ in batch)))
        except Exception as e:  # noqa: BLE001 - each reader gets the store's error (OperationalError: 503)
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(e)
        else:
            for key, answer in batch:
                if not answer.done():  # a reader that went away meanwhile
                    answer.set_result(found.get(key))

    def _finished(
        self,
        loop: asyncio.AbstractEventLoop,
        turn: _Turn[K, V],
        task: asyncio.Task[None],
        batch: list[tuple[K, asyncio.Future[V | None]]],
    ) -> None:
        # A done callback, not a `finally`: it runs however the query's task ended, even
        # cancelled before its first step (the loop shutting down), so no reader is left
        # waiting and the slot is given back for the next batch.
        turn.running.discard(task)
        for _, answer in batch:
            if not answer.done():
                answer.cancel()
        self._schedule(loop, turn)
