"""Values as JSON has them: what every audit answer is made of, so an endpoint returns it as is."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

# What JSON holds as it is: checked first, by exact type, since most values are these.
_AS_IS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
