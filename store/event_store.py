"""What the ledger, its read side and its audit ask of the event store, on either backend.

The store is eventsourcing's application recorder (recording, `select_notifications` pages,
`max_notification_id`), plus the reads the library has no query for. store/sqlite.py and
store/postgres.py each implement all of it for their backend; nothing else in the project
writes SQL against the events table.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification, StoredEvent


@dataclass(frozen=True)
class StoredRecord(StoredEvent):
    """A stored event with its place in the application log (its notification id).

    The library's `select_events` leaves the position out, and its `select_notifications`
    cannot filter by stream; an audit of one person needs both.
    """

    originator_id: UUID  # the ledger's streams are all named by UUIDs
    position: int


class Following(Protocol):
    """A subscription to the application log that hands out what has piled up a page at a time."""

    def next_page(self, timeout: float) -> list[Notification]:
        """The notifications read and not yet handed out; [] if none came within `timeout`.

        Raises StopIteration once stopped (or the error that stopped the subscription)."""

    def stop(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None: ...


class EventStore(ApplicationRecorder):
    """The library's application recorder, plus the reads and the subscription the ledger needs."""

    datastore: Any  # the backend's connections, shared with the people's data keys (store.data_keys)
    data_keys: Any  # store.data_keys.DataKeys: new people's keys are inserted with their events
    site_records: Any  # store.site_records.SiteRecordKeys: a dose's key is inserted with its events
    national_ids: Any  # store.person_keys.PersonKeys: a national id's holder, with the person's events
    identities: Any  # store.person_keys.PersonKeys: the people an identity key lists, likewise

    @abstractmethod
    def select_streams(self, ids: Sequence[UUID]) -> list[StoredRecord]:
        """Every stored record of these streams, stream after stream, each in version order.

        One query for many streams (a batch of doses loads its people at once); as stored,
        gaps included, which is what an audit of one stream needs too."""

    @abstractmethod
    def scan_streams(
        self, topics: Sequence[str] | None = None, up_to: int | None = None, chunk: int = 2000
    ) -> Iterator[StoredRecord]:
        """Every record of these topics (None: of every topic) at positions up to `up_to`
        (None: the head when the scan starts), stream after stream, each in version order,
        read `chunk` rows at a time. Events recorded behind the scan are not part of it.

        For a read side whose every row is a fold of one stream (a rebuild), and for an audit
        of the whole store."""

    @abstractmethod
    def count_notifications(self, stop: int | None = None) -> int:
        """How many events are stored at positions up to `stop` (None: all of them); positions
        may skip numbers, so this is not `stop` itself."""

    @abstractmethod
    def stream_heads(self) -> tuple[int, list[StoredRecord]]:
        """(position, the last record of every stream at that position) from one read: the
        store as it stood at one moment, for an anchor of it. (0, []) for an empty store."""

    @abstractmethod
    def copy_old_keys(self, copy: Callable[[], int]) -> int:
        """Run the start's copy of an older store's keys (usecases.site_record_keys), one
        process at a time: several processes starting at once must neither fail nor each read
        the whole store. What `copy` returns."""

    @abstractmethod
    def follow(self, gt: int | None) -> Following:
        """A subscription to every notification after position `gt` (None: from the start)."""


def by_stream(records: Iterable[StoredRecord]) -> Iterator[list[StoredRecord]]:
    """The records of a scan, one list per stream."""
    for _, stream in groupby(records, key=attrgetter("originator_id")):
        yield list(stream)


def stored_digest(mapper: Any, state: bytes) -> str | None:
    """The chain digest a stored state carries, read without building its event (which may no
    longer decode): through the mapper's cipher and compressor, then its transcoder."""
    try:
        if mapper.cipher:
            state = mapper.cipher.decrypt(state)
        if mapper.compressor:
            state = mapper.compressor.decompress(state)
        digest = mapper.transcoder.decode(state).get("digest")
    except Exception:  # noqa: BLE001 - unreadable bytes carry no digest anyone can trust
        return None
    return digest if isinstance(digest, str) else None
