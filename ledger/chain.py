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
import inspect
from collections.abc import Callable
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any, ClassVar, Self
from uuid import UUID

import orjson
from eventsourcing.domain import (
    Aggregate,
    DecoratedFuncCaller,
    OriginatorIDError,
    OriginatorVersionError,
    decorated_funcs,
)
from eventsourcing.utils import get_topic, resolve_topic

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
    # A copy of the HMAC already keyed: half the cost of the one-shot hmac.digest, which
    # hashes the key's two padded blocks again for every event.
    mac = _keyed_mac(key).copy()
    mac.update(previous.encode())
    mac.update(content)
    return KEYED + mac.hexdigest()


@lru_cache(maxsize=4)  # the process's one secret (a candidate or two at start, in tests)
def _keyed_mac(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


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


# Whether events are made by the lean path below (ChainedAggregate._created_lean, _lean_event)
# or by the library's generic one, which stores the same: off only where a test or the
# benchmark compares the two.
LEAN = True


@cache
def _parameters(method: Callable[..., Any]) -> frozenset[str]:
    """The keyword parameters of an @event method or an __init__ (what the library filters by)."""
    return frozenset(n for n in inspect.signature(method).parameters if n != "self")


@cache
def _topic(cls: type) -> str:
    return get_topic(cls)


class ChainedAggregate(Aggregate):
    """An aggregate whose events are hash-chained (the integrity check of audits)."""

    class Event(Aggregate.Event):
        digest: str
        # The paths of the personal fields it carries (ledger.personal); none for most events.
        personal_paths: ClassVar[tuple[str, ...]] = ()

        def apply(self, aggregate: Any) -> None:
            aggregate.digest = self.digest

        def mutate(self, aggregate: Any) -> Any:
            """The library's `mutate` of an @event method's event (checks, the method called on
            the event's values, the bases' `apply`, version and time) without its generic
            steps: every fold of every stream (a batch's prefetch reads its people whole) runs
            it once per event. Folds the same (tests/test_lean_events.py)."""
            func = decorated_funcs.get(type(self)) if LEAN else None
            # An event class with an apply of its own (none has one today) is the library's.
            if func is None or vars(DecoratedFuncCaller)["apply"] is not type(self).apply:
                return super().mutate(aggregate)
            if self.originator_id != aggregate.id:
                raise OriginatorIDError(self.originator_id, aggregate.id)
            if self.originator_version != aggregate.version + 1:
                raise OriginatorVersionError(self.originator_version, aggregate.version + 1)
            state = self.__dict__
            func(aggregate, **{k: state[k] for k in _parameters(func) if k in state})
            super(DecoratedFuncCaller, self).apply(aggregate)  # type: ignore[misc]  # what the library's apply calls next
            aggregate.version = self.originator_version
            aggregate.modified_on = self.timestamp
            return aggregate

    class Created(Event, Aggregate.Created):
        def mutate(self, aggregate: Any) -> Any:
            """The library's `mutate` of a created event (the aggregate made, its base and own
            __init__ called on the event's values, `apply`) without its generic steps: the
            keyword filtering by signature (names found once per class here)."""
            if not LEAN:
                return super().mutate(aggregate)
            assert aggregate is None
            cls = resolve_topic(self.originator_topic)
            made = cls.__new__(cls)
            made.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            names = _parameters(cls.__init__)
            given = {k: v for k, v in self.__dict__.items() if k in names}
            if "id" in names:  # as the library hands it to an __init__ that names it
                given["id"] = self.originator_id
            made.__init__(**given)
            self.apply(made)
            return made

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
        if not LEAN or getattr(cls, "TOPIC", None):  # the library checks an explicit topic's events
            aggregate = super()._create(event_class, id=id, timestamp=timestamp, **kwargs)
            aggregate.digest = kwargs["digest"]
            return aggregate
        return cls._created_lean(event_class, id, timestamp, kwargs)

    @classmethod
    def _created_lean(cls, event_class: Any, id: UUID, timestamp: datetime, kwargs: dict[str, Any]) -> Self:
        """What the library's `_create` makes (the created event, and the aggregate its `mutate`
        folds from it), without its generic steps: the keyword filtering for the base and the
        aggregate's __init__ (by names found once per class here), resolving the aggregate's topic, the event's
        `mutate`. The aggregate's own __init__ assigns, as on every replay; the stored form is
        the same (tests/test_lean_events.py)."""
        created = event_class(
            originator_topic=_topic(cls),
            originator_id=id,
            originator_version=cls.INITIAL_VERSION,
            timestamp=timestamp,
            **kwargs,
        )
        aggregate: Self = created.mutate(None)
        aggregate._pending_events.append(created)
        return aggregate

    def _lean_event(self, event_class: Any, **kwargs: Any) -> None:
        """What calling an @event method does (the library's command-method call, its
        `trigger_event`, the event's `mutate`), for an event whose command names every one of
        its fields and which carries no personal fields: the chain digest, the event object,
        folded in by the lean `mutate` below, pending. Skipped: coercing and filtering the
        keywords (to the event's fields) and the library's `trigger_event`. The stored form is the same (tests/test_lean_events.py)."""
        func = decorated_funcs[event_class]
        if kwargs.keys() != _parameters(func) or paths_of(event_class):
            raise TypeError(f"{event_class.__qualname__} is not made by the lean path: use its @event method")
        timestamp = event_class.create_timestamp()
        version = self.version + 1
        digest = chain_digest(
            self.digest, self.id, version, _topic(event_class), timestamp, kwargs, event_class
        )
        new_event = event_class(
            originator_id=self.id, originator_version=version, timestamp=timestamp, digest=digest, **kwargs
        )
        new_event.mutate(self)
        self._pending_events.append(new_event)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        timestamp = kwargs.pop("timestamp", None) or event_class.create_timestamp()
        kwargs.update(personal_part(event_class, kwargs))
        kwargs["digest"] = chain_digest(
            self.digest, self.id, self.version + 1, get_topic(event_class), timestamp, kwargs, event_class
        )
        super().trigger_event(event_class, timestamp=timestamp, **kwargs)
