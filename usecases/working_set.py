"""The aggregates one decision reads and writes, saved together in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository

from ledger.keys import IdKey
from store.person_keys import JOINED, LEFT, KeyRow, listed_after
from store.sealing import keys_read_ahead
from store.site_records import SiteRecordKey

__all__ = ["SiteRecordKey", "WorkingSet"]  # a site's record, as the decisions and their readers see it

T = TypeVar("T")
_UNLOADED = object()


class WorkingSet:
    """Loads each aggregate at most once; remembers which ones changed.

    A batch of doses for one person lands on one aggregate, and the whole batch is one
    `save`: all or nothing, one transaction, the store's version check guarding each stream.
    `ids` names the keys made from personal data (a national id's claim, an identity key).
    A site's record is a row of the store's key table (store.site_records), read through
    `site_record` and claimed with `claim`: the new rows are saved with the aggregates.
    So are a national id's holder and the people an identity key lists (store.person_keys):
    read through `national_id_holder` and `identity_members`, changed with `hold_national_id`,
    `join_identity` and `leave_identity`.
    """

    def __init__(self, repository: Repository[UUID], recorder: Any, mapper: Any, ids: IdKey):
        self.repository = repository
        self.ids = ids
        self._recorder = recorder
        self._mapper = mapper
        self._loaded: dict[UUID, Any] = {}
        self._missing: set[UUID] = set()
        self._changed: dict[UUID, Any] = {}
        self._records: dict[UUID, SiteRecordKey | None] = {}  # by dose id; None: none stored
        self._claimed: dict[UUID, SiteRecordKey] = {}
        self._national_ids: dict[UUID, KeyRow | None] = {}  # by key: the last row; None: none
        self._national_ids_held: list[KeyRow] = []
        self._identities: dict[UUID, tuple[int, list[UUID]]] = {}  # by key: (last seq, listed)
        self._identities_changed: list[KeyRow] = []

    def get(self, cls: type[T], aggregate_id: UUID) -> T | None:
        # One lookup where a loaded one is found: a UUID's hash is a Python call, and a single
        # dose asks the working set ~10 times.
        found = self._loaded.get(aggregate_id, _UNLOADED)
        if found is _UNLOADED:
            if aggregate_id in self._missing:
                return None
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
        # The people's data keys (store.sealing) read a few hundred records ahead of their
        # decoding, not all at first: a batch's thousands of events can take longer to decode
        # than a key stays cached, and every person left then had a round trip of their own.
        for stored in keys_read_ahead(self._mapper, records):
            domain_event = self._mapper.to_domain_event(stored)
            folded[stored.originator_id] = domain_event.mutate(folded.get(stored.originator_id))
        self._loaded.update(folded)
        self._missing.update(i for i in wanted if i not in folded)

    def site_record(self, dose_id: UUID) -> SiteRecordKey | None:
        """The dose's site record (this working set's own claim, or the stored row), or None."""
        if dose_id not in self._records:
            self.prefetch_site_records([dose_id])
        return self._records[dose_id]

    def prefetch_site_records(self, dose_ids: Iterable[UUID]) -> None:
        """Read the site records of many doses in one query (those not read yet)."""
        wanted = [i for i in dict.fromkeys(dose_ids) if i not in self._records]
        if not wanted:
            return
        found = self._recorder.site_records.find(wanted)
        for i in wanted:
            self._records[i] = found.get(i)

    def claim(self, key: SiteRecordKey) -> None:
        """A new site record, saved with this working set's aggregates (the table's unique
        index refuses it, and the whole save, if another writer stored the same key first)."""
        self._records[key.dose_id] = key
        self._claimed[key.dose_id] = key

    def claimed(self) -> list[SiteRecordKey]:
        return list(self._claimed.values())

    def national_id_holder(self, key: UUID) -> KeyRow | None:
        """The national id's last row (this working set's own, or the stored one), or None."""
        if key not in self._national_ids:
            self.prefetch_national_ids([key])
        return self._national_ids[key]

    def prefetch_national_ids(self, keys: Iterable[UUID]) -> None:
        """Read the last rows of many national ids in one query (those not read yet)."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._national_ids]
        if not wanted:
            return
        found = self._recorder.national_ids.latest(wanted)
        for k in wanted:
            self._national_ids[k] = found.get(k)

    def hold_national_id(self, key: UUID, person_id: UUID | None, reason: str) -> None:
        """The national id's next row, saved with this working set's aggregates: its seq follows
        the last one read, so that another writer's row appended since fails the whole save."""
        last = self.national_id_holder(key)
        row = KeyRow(key, 1 if last is None else last.seq + 1, person_id, reason)
        self._national_ids[key] = row
        self._national_ids_held.append(row)

    def national_ids_held(self) -> list[KeyRow]:
        return list(self._national_ids_held)

    def identity_members(self, key: UUID) -> list[UUID]:
        """The people the identity key lists, in the order they joined (this working set's rows
        included); [] for a key no one was registered under."""
        if key not in self._identities:
            self.prefetch_identities([key])
        return list(self._identities[key][1])

    def prefetch_identities(self, keys: Iterable[UUID]) -> None:
        """Read the rows of many identity keys in one query (those not read yet)."""
        wanted = [k for k in dict.fromkeys(keys) if k not in self._identities]
        if not wanted:
            return
        for k in wanted:
            self._identities[k] = (0, [])
        for row in self._recorder.identities.history(wanted):
            _, listed = self._identities[row.key]
            self._identities[row.key] = (row.seq, listed_after(listed, row))

    def join_identity(self, key: UUID, person_id: UUID) -> None:
        """The identity key lists the person (nothing if it does), with this working set's save."""
        if person_id not in self.identity_members(key):
            self._change_identity(key, person_id, JOINED)

    def leave_identity(self, key: UUID, person_id: UUID) -> None:
        """The identity key no longer lists the person (nothing if it does not)."""
        if person_id in self.identity_members(key):
            self._change_identity(key, person_id, LEFT)

    def _change_identity(self, key: UUID, person_id: UUID, reason: str) -> None:
        seq, listed = self._identities[key]
        row = KeyRow(key, seq + 1, person_id, reason)
        self._identities[key] = (row.seq, listed_after(listed, row))
        self._identities_changed.append(row)

    def identities_changed(self) -> list[KeyRow]:
        return list(self._identities_changed)

    def changed(self, *aggregates: Any) -> None:
        for aggregate in aggregates:
            self._loaded[aggregate.id] = aggregate
            self._missing.discard(aggregate.id)
            self._changed[aggregate.id] = aggregate

    def pending(self) -> list[Any]:
        return list(self._changed.values())
