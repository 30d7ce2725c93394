"""Group commit: single-dose requests arriving together are decided and saved together.

Every insert takes the event store's table lock (so that notification order equals commit
order), which caps one-save-per-request at a few hundred saves a second. One writer thread
gathers what arrives within a couple of milliseconds into one working set and one `save`,
so 32 concurrent sites cost one transaction, not 32. Each caller still gets its own answer.

A caller on an event loop (the API) awaits an asyncio future; the answers of one group reach
each loop in one hand-over, so a group of 30 wakes the loop once, not 30 times. The other way
likewise: the doses a loop's callbacks submit in one turn go to the writer in one hand-over at
the end of that turn, so the writer thread is woken (and takes the GIL from the loop) once per
turn, not once per dose.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from typing import Any, Union

from ledger.recording import DoseReport, dose_report
from ledger.values import Actor
from usecases.application import DoseLedger
from usecases.receipts import DoseOutcome, DoseReceipt

Answer = Union["Future[DoseOutcome]", "asyncio.Future[DoseOutcome]"]
Item = tuple[DoseReport, Actor, Answer]


class _Turn:
    """One event loop's doses submitted in its current turn, handed over at its end."""

    def __init__(self) -> None:
        self.items: list[Item] = []


class DoseWriter:
    def __init__(self, ledger: DoseLedger, *, linger: float = 0.002, max_batch: int = 500):
        self.ledger = ledger
        self.linger = linger
        self.max_batch = max_batch
        self._queue: queue.Queue[list[Item] | None] = queue.Queue()
        self._turns: dict[asyncio.AbstractEventLoop, _Turn] = {}
        self._turns_lock = threading.Lock()  # loops run on different threads (servers, tests)
        self._thread = threading.Thread(target=self._run, name="dose-writer", daemon=True)
        self._thread.start()

    def submit(
        self, *, actor: Actor, source: dict[str, Any] | None = None, **fields: Any
    ) -> Future[DoseOutcome]:
        """Queue one dose for the next group; its outcome arrives in the future. Checks the
        fields first (in the caller's thread), raising the same LedgerErrors as record_dose."""
        report = dose_report(fields, source)
        future: Future[DoseOutcome] = Future()
        self._queue.put([(report, actor, future)])
        return future

    async def decide(
        self, *, actor: Actor, source: dict[str, Any] | None = None, **fields: Any
    ) -> DoseOutcome:
        """submit, for a caller on an event loop: no thread is parked on the answer. Cancelled
        (a timeout) before the writer takes it, the dose is not written."""
        report = dose_report(fields, source)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[DoseOutcome] = loop.create_future()
        turn = self._turns.get(loop) or self._turn_of(loop)
        if not turn.items:
            # call_soon: after the callbacks already due, which are the other requests read
            # off the sockets in this same turn of the loop.
            loop.call_soon(self._hand_over, turn)
        turn.items.append((report, actor, answer))
        return await answer

    def _turn_of(self, loop: asyncio.AbstractEventLoop) -> _Turn:
        with self._turns_lock:
            for gone in [other for other in self._turns if other.is_closed()]:
                del self._turns[gone]  # a loop that ended (a test's) keeps nothing here
            return self._turns.setdefault(loop, _Turn())

    def _hand_over(self, turn: _Turn) -> None:
        items, turn.items = turn.items, []
        self._queue.put(items)

    def record(
        self, *, actor: Actor, source: dict[str, Any] | None = None, timeout: float = 30.0, **fields: Any
    ) -> DoseReceipt:
        """Like DoseLedger.record_dose, from any thread; raises the same LedgerErrors."""
        return receipt_of(self.submit(actor=actor, source=source, **fields).result(timeout))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = first
            stop = False
            # A group is max_batch doses or a little more: a loop's turn is not split.
            try:
                while len(batch) < self.max_batch:
                    items = self._queue.get(timeout=self.linger)
                    if items is None:
                        stop = True
                        break
                    batch.extend(items)
            except queue.Empty:
                pass
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[Item]) -> None:
        # A caller that gave up before its dose was taken (a timed-out request) is not written:
        # its client heard "retry", and a retry is answered as a duplicate or stored then.
        batch = [item for item in batch if _still_wanted(item[2])]
        if not batch:
            return
        try:
            outcomes: list[Any] = self.ledger.record_reports(
                [r for r, _, _ in batch], [a for _, a, _ in batch]
            )
        except BaseException as error:  # noqa: BLE001 - the store is down, say: every waiting caller hears it
            outcomes = [error] * len(batch)
        on_loops: defaultdict[asyncio.AbstractEventLoop, list[tuple[Any, Any]]] = defaultdict(list)
        for (_, _, answer), outcome in zip(batch, outcomes, strict=True):
            if isinstance(answer, asyncio.Future):
                on_loops[answer.get_loop()].append((answer, outcome))
            else:
                _settle([(answer, outcome)])
        for loop, answers in on_loops.items():
            try:
                loop.call_soon_threadsafe(_settle, answers)
            except RuntimeError:  # that loop has closed: nobody is waiting there any more
                pass


def _still_wanted(answer: Answer) -> bool:
    if isinstance(answer, asyncio.Future):
        return not answer.cancelled()  # read from this thread: at worst a late cancel is written
    return answer.set_running_or_notify_cancel()


def _settle(answers: list[tuple[Any, Any]]) -> None:
    for answer, outcome in answers:
        if answer.done():  # an asyncio caller cancelled after the dose was taken
            continue
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)


def receipt_of(outcome: DoseOutcome) -> DoseReceipt:
    """The receipt of a decided dose, or the LedgerError that refused it."""
    if outcome.error is not None:
        raise outcome.error
    assert outcome.receipt is not None
    return outcome.receipt
