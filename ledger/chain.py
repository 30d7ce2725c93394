"""Every event carries a digest chained to the previous event of its stream.

digest(n) = "h1:" + HMAC-SHA256(chain secret, digest(n-1) || canonical content of event n),
where the content is the stream id, version, event type, recorded time and the event's own
data (`covered`). An auditor holding the chain secret recomputes the chain from the stored records alone
(see replay.integrity): an edited, removed, inserted or reordered row breaks it at that
version, and without the secret nobody can write a chain that verifies.

Events stored before the chain had a secret carry plain hex, sha256(digest(n-1) || content):
the prefix tells the verifier which rule each event was written with. New events are always
keyed; a stream whose chain goes from keyed back to plain was rewritten (replay.integrity).

The secret is the process's: the application hands it in at start (`use_chain_key`), since
the domain reads no files. Every ledger of a process shares the one secrets folder, so one key
(a process opening ledgers on several folders chains with the latest; the application warns).

A person's personal fields are covered by their `personal_digest` only (ledger.personal): the
chain still verifies once they are erased.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from typing import Any, ClassVar, Self
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from ledger.personal import MARKER, new_salt, paths_of, personal_digest, split

GENESIS = "0" * 64
KEYED = "h1:"  # the prefix of a digest made with the chain secret


class ChainKeyMissing(RuntimeError):
    """A keyed digest was to be made or checked before the application handed in the secret."""

    def __init__(self) -> None:
        super().__init__(
            "the chain secret was not handed to the ledger (use_chain_key): keyed digests "
            "can be neither written nor checked"
        )


_chain_key: bytes | None = None


def use_chain_key(key: bytes) -> bool:
    """The secret every new digest of this process is keyed with, from now on. Handing in the
    same key again (a second ledger) changes nothing. Returns whether another key was in use:
    a process is meant to run with one secrets folder, and ledgers on several folders at once
    (tools, tests) chain with the latest key handed in."""
    global _chain_key  # the process's one secret, set at start
    replaced = _chain_key is not None and not hmac.compare_digest(_chain_key, key)
    _chain_key = bytes(key)
    return replaced


def is_keyed(digest: str) -> bool:
    return digest.startswith(KEYED)


def link(previous: str, content: bytes, keyed: bool = True, key: bytes | None = None) -> str:
    """The one rule of a link: keyed (HMAC, marked) or, for events stored before, plain sha256.
    Keyed with the process's secret, or with `key` (a candidate secret checked at start)."""
    if not keyed:
        return hashlib.sha256(previous.encode() + content).hexdigest()
    key = key or _chain_key
    if key is None:
        raise ChainKeyMissing()
    # hmac.digest: the one-shot C path, a third of the cost of an hmac.new object per event.
    return KEYED + hmac.digest(key, previous.encode() + content, "sha256").hex()


# Attributes every event has, which the chain covers separately or not at all.
_ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "digest", "originator_topic", MARKER}
)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(type(value))


def canonical(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, UUIDs as hex, dates in ISO form."""
    return orjson.dumps(
        value,
        default=_default,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS,
    )


def event_data(event: Any) -> dict[str, Any]:
    """The domain data of an event: everything but the envelope."""
    return {k: v for k, v in event.__dict__.items() if k not in _ENVELOPE}


def covered(event_class: type, data: dict[str, Any]) -> dict[str, Any]:
    """What of an event's data the chain covers: all of it, less the envelope and, where the
    event carries a `personal_digest`, less its personal fields and their salt (the digest
    covers them). Events stored before personal fields were sealed are covered whole."""
    data = {k: v for k, v in data.items() if k not in _ENVELOPE}
    paths = paths_of(event_class)
    if paths and data.get("personal_digest"):
        data, _ = split(data, paths)
        data.pop("salt", None)
    return data


def personal_part(event_class: type, data: dict[str, Any]) -> dict[str, str]:
    """{salt, personal_digest} for a new event with personal fields ({} for any other)."""
    paths = paths_of(event_class)
    if not paths:
        return {}
    salt = new_salt()
    return {"salt": salt, "personal_digest": personal_digest(salt, split(data, paths)[1], canonical)}


def personal_digest_holds(event: Any) -> bool | None:
    """Whether an event's opened personal fields still give its personal_digest; None when
    there is nothing to check (no digest, or the fields are erased)."""
    expected, salt = getattr(event, "personal_digest", None), getattr(event, "salt", None)
    if not expected or not salt or getattr(event, MARKER, None) is not None:
        return None
    personal = split(event_data(event), paths_of(type(event)))[1]
    return bool(personal_digest(salt, personal, canonical) == expected)


def chain_digest(
    previous: str,
    originator_id: UUID,
    version: int,
    topic: str,
    timestamp: datetime,
    data: dict[str, Any],
    event_class: type | None = None,
    *,
    keyed: bool = True,
    key: bytes | None = None,
) -> str:
    content = canonical(
        {
            "id": originator_id,
            "version": version,
            "type": topic,
            "recorded_at": timestamp,
            "data": covered(event_class or object, data),
        }
    )
    return link(previous, content, keyed, key)


def expected_digest(previous: str, event: Any, version: int | None = None, key: bytes | None = None) -> str:
    """The digest a stored event should carry after `previous` (at `version`, by default its own:
    an auditor tries others to tell a reordered row from an altered one), by the rule its own
    digest says it was written with."""
    return chain_digest(
        previous,
        event.originator_id,
        event.originator_version if version is None else version,
        get_topic(type(event)),
        event.timestamp,
        event_data(event),
        type(event),
        keyed=is_keyed(getattr(event, "digest", "") or ""),
        key=key,
    )


class ChainedAggregate(Aggregate):
    """An aggregate whose events are hash-chained (the integrity check of audits)."""

    class Event(Aggregate.Event):
        digest: str
        # The paths of the personal fields it carries (ledger.personal); none for most events.
        personal_paths: ClassVar[tuple[str, ...]] = ()

        def apply(self, aggregate: Any) -> None:
            aggregate.digest = self.digest

    class Created(Event, Aggregate.Created):
        pass

    digest: str = GENESIS

    @classmethod
    def _create(cls, event_class: Any, *, id: UUID | None = None, **kwargs: Any) -> Self:
        if id is None:
            raise TypeError(f"{cls.__name__} needs an explicit id")
        timestamp = kwargs.pop("timestamp", None) or event_class.create_timestamp()
        kwargs.update(personal_part(event_class, kwargs))
        kwargs["digest"] = chain_digest(
            GENESIS, id, cls.INITIAL_VERSION, get_topic(event_class), timestamp, kwargs, event_class
        )
        aggregate = super()._create(event_class, id=id, timestamp=timestamp, **kwargs)
        aggregate.digest = kwargs["digest"]
        return aggregate

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        timestamp = kwargs.pop("timestamp", None) or event_class.create_timestamp()
        kwargs.update(personal_part(event_class, kwargs))
        kwargs["digest"] = chain_digest(
            self.digest, self.id, self.version + 1, get_topic(event_class), timestamp, kwargs, event_class
        )
        super().trigger_event(event_class, timestamp=timestamp, **kwargs)
