"""The aggregates one decision reads and writes, saved together in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

from ledger.keys import IdKey

T = TypeVar("T")


class WorkingSet:
    """Loads each aggregate at most once; remembers which ones changed.

    A batch of doses for one person lands on one aggregate, and the whole batch is one
    `save`: all or nothing, one transaction, the store's version check guarding each stream.
    `ids` names the keys made from personal data (a national id's claim, an identity key).
    """

    def __init__(self, repository: Repository[UUID], recorder: Any, mapper: Any, ids: IdKey):
        self.repository = repository
        self.ids = ids
        self._recorder = recorder
        self._mapper = mapper
        self._loaded: dict[UUID, Any] = {}
        self._missing: set[UUID] = set()
        self._changed: dict[UUID, Any] = {}

    def get(self, cls: type[T], aggregate_id: UUID) -> T | None:
        if aggregate_id in self._loaded:
            found = self._loaded[aggregate_id]
        elif aggregate_id in self._missing:
            return None
        else:
            try:
                found = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                self._missing.add(aggregate_id)
                return None
            self._loaded[aggregate_id] = found
        return found if isinstance(found, cls) else None

    def prefetch(self, aggregate_ids: Iterable[UUID]) -> None:
        """Load many aggregates in one query (those not loaded yet); the rest are known absent."""
        wanted = list({i for i in aggregate_ids if i not in self._loaded and i not in self._missing})
        if not wanted or not hasattr(self._recorder, "select_streams"):
            return
        folded: dict[UUID, Any] = {}
        records = self._recorder.select_streams(wanted)
        prepare = getattr(self._mapper, "prepare_records", None)
        if prepare is not None:  # store.sealing: the people's data keys in one round trip
            prepare(records)
        for stored in records:
            domain_event = self._mapper.to_domain_event(stored)
            folded[stored.originator_id] = domain_event.mutate(folded.get(stored.originator_id))
        self._loaded.update(folded)
        self._missing.update(i for i in wanted if i not in folded)

    def changed(self, *aggregates: Any) -> None:
        for aggregate in aggregates:
            self._loaded[aggregate.id] = aggregate
            self._missing.discard(aggregate.id)
            self._changed[aggregate.id] = aggregate

    def pending(self) -> list[Any]:
        return list(self._changed.values())
