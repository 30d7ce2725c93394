"""An orjson transcoder writing byte-for-byte what eventsourcing's JSONTranscoder writes.

Stored events stay readable by either, so the choice can change without a migration.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, SafeUUID

import orjson
from eventsourcing.persistence import Transcoder


def _uuid(hex_: str) -> UUID:
    """UUID(hex_) for the 32 hex digits this transcoder writes, without UUID's own parsing
    (a third of decoding a dose event): the same int(hex_, 16), and the same object."""
    if len(hex_) != 32 or not hex_.isalnum():
        return UUID(hex_)  # anything else is UUID's to accept or refuse
    value = object.__new__(UUID)
    object.__setattr__(value, "int", int(hex_, 16))
    object.__setattr__(value, "is_safe", SafeUUID.unknown)
    return value


_DECODE: dict[str, Callable[[str], Any]] = {
    "datetime_iso": datetime.fromisoformat,
    "date_iso": date.fromisoformat,
    "decimal_str": Decimal,
    "uuid_hex": _uuid,
}


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"_type_": "datetime_iso", "_data_": value.isoformat()}
    if isinstance(value, date):
        return {"_type_": "date_iso", "_data_": value.isoformat()}
    if isinstance(value, Decimal):
        return {"_type_": "decimal_str", "_data_": str(value)}
    raise TypeError(f"not transcodable: {type(value)!r}")


# Types orjson writes as JSONTranscoder does (dates and decimals through _default): left as they are.
_AS_IS = frozenset({str, int, float, bool, type(None), datetime, date, Decimal})


def _tag(value: Any) -> Any:
    # orjson writes UUIDs as bare strings: tag them as JSONTranscoder does. Containers are
    # copied (the event's own state must stay as it is); scalars are not even called on.
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _AS_IS else _tag(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _AS_IS else _tag(v) for v in value]
    if isinstance(value, UUID):
        return {"_type_": "uuid_hex", "_data_": value.hex}
    if isinstance(value, dict):
        return {k: _tag(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tag(v) for v in value]
    return value


_EVERY = sys.maxsize  # tags to look for when they cannot be counted


def _is_tag(value: dict[str, Any]) -> bool:
    return len(value) == 2 and "_type_" in value and "_data_" in value


def _untag(container: Any, tags: int) -> int:
    """Replace the tags in a dict or list, in place, until `tags` are found; how many were.

    orjson hands back fresh dicts and lists, so tags are replaced where they are, and the walk
    only descends into containers. `tags` counts the tag keys in the stored text (an upper
    bound: a plain key or string "_type_" counts too, and then the walk just goes to the end):
    an event's tags come first (its timestamp, then ids), so the walk usually stops before its
    actor and source, which hold none.
    """
    found = 0
    for key, item in container.items() if type(container) is dict else enumerate(container):
        kind = type(item)
        if kind is dict:
            if _is_tag(item):
                container[key] = _DECODE[item["_type_"]](item["_data_"])
                found += 1
            else:
                found += _untag(item, tags - found)
        elif kind is list:
            found += _untag(item, tags - found)
        else:
            continue
        if found >= tags:
            break
    return found


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_tag(obj), default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)

    def decode(self, data: bytes) -> Any:
        value = orjson.loads(data)
        raw = data if type(data) is bytes else data.encode() if isinstance(data, str) else bytes(data)
        # Counted in C over the bytes: a tag's key is written as this whatever the separators,
        # and a string holding it is escaped (\"_type_\"), so only over-counts (a full walk).
        # A key may also be written with \u escapes ("\u005ftype_"), which this transcoder never
        # writes but another writer might: text with any \u escape is walked to the end.
        tags = _EVERY if b"\\u" in raw else raw.count(b'"_type_"')
        if tags and type(value) is dict and _is_tag(value):
            return _DECODE[value["_type_"]](value["_data_"])
        if tags and (type(value) is dict or type(value) is list):
            _untag(value, tags)
        return value
