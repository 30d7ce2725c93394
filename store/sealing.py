"""The mapper that seals a person's personal fields on write and opens them on read.

For an event whose topic has personal fields (the domain names them; usecases.application
hands them over as `Sealable` per topic), the stored state holds, instead of those fields and
their salt, one `sealed` value: AES-GCM under the data key of the stream's person
(store.data_keys), a random 12-byte nonce, the fields and salt as plaintext, and the stream id,
version and topic as associated data (a sealed value copied to another event does not open).

On read, `sealed` is opened back into the fields: the domain only ever sees plaintext. If the
person was erased (the key destroyed), the fields read as None and the event carries
`personal_data = "erased"` (`Sealable.blank`). A key missing for a person not erased is
DataKeyMissing, never a silent None.

Events stored before sealing existed carry their fields in clear and read as they always did;
an erasure cannot shred them (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from store.data_keys import DataKeys

T = TypeVar("T")
SEALED = "sealed"
_NONCE = 12


@dataclass(frozen=True)
class Sealable:
    """How one event type's personal fields are taken out, put back and shown erased (the
    domain's functions: the store knows no field names)."""

    split: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
    join: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
    blank: Callable[[dict[str, Any]], dict[str, Any]]


class SealingMapper(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder, sealable: Mapping[str, Sealable]) -> None:
        super().__init__(transcoder=transcoder)
        self.sealable = dict(sealable)
        self.keys: DataKeys | None = None  # bound once the application has its recorder
        # Off only for the benchmark's baseline (bench/sealing.py): never in a deployment.
        self.sealing = os.environ.get("DOSELEDGER_BENCH_UNSEALED") != "1"

    def bind(self, keys: DataKeys) -> None:
        self.keys = keys

    def prepare_events(self, domain_events: Iterable[Any]) -> None:
        """The data keys a save will seal with: made for the people it registers (stored in
        its own transaction by the recorder), read for the others, all at once."""
        if not self.sealing or self.keys is None:
            return
        people = [e for e in domain_events if get_topic(type(e)) in self.sealable]
        new = dict.fromkeys(e.originator_id for e in people if e.originator_version == 1)
        self.keys.stage_new(new)
        known = [e.originator_id for e in people if e.originator_id not in new]
        if known:
            self.keys.prepare(known, create=True)

    def saved(self, *, failed: bool) -> None:
        """After the save `prepare_events` prepared (see DataKeys.unstage)."""
        if self.keys is not None:
            self.keys.unstage(failed=failed)

    def prepare_records(self, records: Iterable[StoredEvent]) -> None:
        """The data keys these stored events open with, read for all their people at once."""
        if self.keys is not None:
            self.keys.prepare(
                r.originator_id
                for r in records
                if r.topic in self.sealable and isinstance(r.originator_id, UUID)
            )

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        topic = get_topic(type(domain_event))
        sealable = self.sealable.get(topic) if self.sealing else None
        if sealable is None:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        clear, personal = sealable.split(state)
        salt = clear.pop("salt", None)
        key = self._keys().key(originator_id, create=True)
        if key is None:  # nobody could open it: the person's key is destroyed
            raise ValueError(f"person {originator_id} is erased: nothing of theirs is sealed again")
        stored = StoredEvent(originator_id=originator_id, originator_version=version, topic=topic, state=b"")
        nonce = os.urandom(_NONCE)
        plaintext = self.transcoder.encode({"salt": salt, "fields": personal})
        box = nonce + AESGCM(key).encrypt(nonce, plaintext, _context(stored))
        clear[SEALED] = base64.b64encode(box).decode("ascii")
        return StoredEvent(
            originator_id=originator_id,
            originator_version=version,
            topic=topic,
            state=self.transcoder.encode(clear),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        state: dict[str, Any] = vars(event)
        box = state.pop(SEALED, None)
        if box is None:
            return event  # no personal fields, or stored before sealing
        sealable = self.sealable[stored_event.topic]
        key = self._keys().key(state["originator_id"])
        if key is None:
            sealable.blank(state)
            return event
        raw = base64.b64decode(box)
        opened = self.transcoder.decode(
            AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], _context(stored_event))
        )
        sealable.join(state, opened["fields"])
        state["salt"] = opened["salt"]
        return event

    def _keys(self) -> DataKeys:
        if self.keys is None:
            raise RuntimeError("the sealing mapper has no data keys: bind() it to the store's")
        return self.keys


def keys_read_ahead(mapper: Any, records: Iterable[T], ahead: int = 500) -> Iterator[T]:
    """The records as they come, the data keys of each `ahead` of them read in one round trip
    before they are handed out (a scan of the whole store reads a key per person otherwise)."""
    prepare = getattr(mapper, "prepare_records", None)
    if prepare is None:
        yield from records
        return
    it = iter(records)
    while chunk := list(islice(it, ahead)):
        prepare(chunk)
        yield from chunk


def _context(stored: StoredEvent) -> bytes:
    originator = stored.originator_id
    ident = originator.hex if isinstance(originator, UUID) else str(originator)
    return f"{ident}:{stored.originator_version}:{stored.topic}".encode()
