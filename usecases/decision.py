"""One way to decide: read into a working set, decide, save in one transaction; when another
writer got there first, read again and decide again, within a time budget.

Every use case that writes goes through `Decisions.decide`, so the retry and the save are
written once. The decision itself is a function of a fresh working set: it may be called
several times and must change nothing outside the working set.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from ledger.errors import Contention
from store import library
from store.site_records import SiteRecordKey
from usecases.keyed_ids import Adoption
from usecases.working_set import WorkingSet

T = TypeVar("T")

# Seconds a decision may keep retrying: today's worst case of the former 16 attempts with
# backoff. A caller whose client gives up sooner (or later) sets its own.
BUDGET = 1.0
_LONGEST_PAUSE = 0.1


@dataclass(frozen=True)
class Decided(Generic[T]):
    """What a decision returned, and the position of its save (the head if it wrote nothing)."""

    value: T
    position: int | None


class Decisions:
    def __init__(self, app: Application[UUID], ids: Adoption, budget: float = BUDGET) -> None:
        self.app = app
        self.ids = ids
        self.budget = budget

    def working_set(self) -> WorkingSet:
        return WorkingSet(self.app.repository, self.app.recorder, self.app.mapper, self.ids.key)

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def save(self, *aggregates: Any, claims: Sequence[SiteRecordKey] = ()) -> int | None:
        """Save in one transaction; the position of the last event written.

        `claims`: site records inserted into the store's key table in the same transaction
        (store.site_records); one already stored fails the save with IntegrityError. So do the
        people's key rows staged around the save (`rows_of`, store.person_keys).
        The store's first key is saved with the fingerprint of the ids secret (usecases.keyed_ids).
        """
        recorder: Any = self.app.recorder  # store.event_store.EventStore: the ledger's own
        with recorder.site_records.staged(claims):
            if self.ids.recorded:
                return library.save(self.app, aggregates)
            # A site-record row counts: its content digest is keyed under the ids secret, so a
            # dose for a known person is the first write that depends on it as much as a key is.
            keyed_rows = (
                bool(claims) or recorder.national_ids.has_staged() or recorder.identities.has_staged()
            )
            with_record = self.ids.records_with(aggregates, keyed_rows=keyed_rows)
            try:
                position = library.save(self.app, with_record)
            except IntegrityError:
                self.ids.after_conflict()  # another process's secret recorded first: refused here
                raise
            self.ids.saved(with_record)
            return position

    @contextmanager
    def rows_of(self, ws: WorkingSet) -> Iterator[None]:
        """The people's key rows `ws` appended (national ids, identity keys), inserted by every
        save inside the block in its transaction (store.person_keys); a row another writer
        appended first fails the save."""
        recorder: Any = self.app.recorder
        with (
            recorder.national_ids.staged(ws.national_ids_held()),
            recorder.identities.staged(ws.identities_changed()),
        ):
            yield

    def decide(self, choose: Callable[[WorkingSet], T], *, budget: float | None = None) -> Decided[T]:
        """Run `choose` on a fresh working set and save what it changed, in one transaction.

        A LedgerError from `choose` refuses the decision: nothing is saved. An IntegrityError
        (another writer saved one of the same streams first, or `choose` found that it did)
        runs `choose` again on fresh reads, after a short random pause, until `budget`
        seconds have passed; then Contention.
        """
        deadline = time.monotonic() + (self.budget if budget is None else budget)
        attempt = 0
        while True:
            try:
                ws = self.working_set()
                value = choose(ws)
                pending = ws.pending()
                if not pending:
                    # Key rows are inserted only by a save of events: a decision that staged some
                    # and changed nothing would lose them without a word.
                    if ws.claimed() or ws.national_ids_held() or ws.identities_changed():
                        raise RuntimeError("a decision staged key rows but changed nothing to save them with")
                    return Decided(value, self.head())
                with self.rows_of(ws):
                    return Decided(value, self.save(*pending, claims=ws.claimed()))
            except IntegrityError:
                attempt += 1
                pause = random.uniform(0, min(_LONGEST_PAUSE, 0.001 * 2**attempt))
                if time.monotonic() + pause > deadline:
                    raise Contention(
                        "too many concurrent writers on the same records; retry the request"
                    ) from None
                time.sleep(pause)
