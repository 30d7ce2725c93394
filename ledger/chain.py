"""Every event carries a digest chained to the previous event of its stream.

digest(n) = sha256(digest(n-1) || canonical content of event n), where the content is the
stream id, version, event type, recorded time and the event's own data (`covered`). An auditor
can recompute the chain from the stored records alone (see replay.integrity): an edited,
removed, inserted or reordered row breaks it at that version.

A person's personal fields are covered by their `personal_digest` only (ledger.personal): the
chain still verifies once they are erased.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any, ClassVar, Self
from uuid import UUID

import orjson
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from ledger.personal import MARKER, new_salt, paths_of, personal_digest, split

GENESIS = "0" * 64

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
    return hashlib.sha256(previous.encode() + content).hexdigest()


def expected_digest(previous: str, event: Any, version: int | None = None) -> str:
    """The digest a stored event should carry after `previous` (at `version`, by default its own:
    an auditor tries others to tell a reordered row from an altered one)."""
    return chain_digest(
        previous,
        event.originator_id,
        event.originator_version if version is None else version,
        get_topic(type(event)),
        event.timestamp,
        event_data(event),
        type(event),
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
