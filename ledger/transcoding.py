"""An orjson transcoder writing byte-for-byte what eventsourcing's JSONTranscoder writes.

Stored events stay readable by either, so the choice can change without a migration.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Transcoder

_DECODE = {"datetime_iso": datetime.fromisoformat, "date_iso": date.fromisoformat,
           "decimal_str": Decimal, "uuid_hex": UUID}


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


def _untag(value: Any) -> Any:
    # orjson hands back fresh dicts and lists, so tags are replaced in place, and the walk only
    # descends into containers: most values are strings, looked at once by the loop, not called.
    if type(value) is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return _DECODE[value["_type_"]](value["_data_"])
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                value[key] = _untag(item)
    elif type(value) is list:
        for i, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                value[i] = _untag(item)
    return value


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(_tag(obj), default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)

    def decode(self, data: bytes) -> Any:
        return _untag(orjson.loads(data))
