"""A person's personal data inside an event: where it sits, how it is taken out and put back,
and the digest the hash chain covers it by.

An event class names its personal fields in `personal_paths` (ledger.person declares them):
"full_name" is a field of the event; "changes.phone" a key of a dict field; "corrections.*.claim"
a key of each item of a list field. The store seals what these paths name with a key of the
person's own (crypto-shredding): once the key is destroyed, the fields read as None and the
event carries `personal_data = ERASED`.

The chain cannot cover the personal fields themselves (after an erasure nobody can recompute
them). It covers the clear fields and `personal_digest` = sha256(salt || canonical(personal)),
with a 16-byte random salt carried on the event and sealed with the fields: without the key,
the digest of a name and birth date cannot be brute-forced.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any

SALT_BYTES = 16
ERASED = "erased"  # the value of `personal_data` on an event whose personal fields are destroyed
MARKER = "personal_data"  # what readers look at; never part of the chain

Paths = Sequence[str]


def new_salt() -> str:
    return os.urandom(SALT_BYTES).hex()


def split(data: dict[str, Any], paths: Paths) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the data without its personal fields, the personal fields by path); `data` is left as it
    was (containers on a path are copied). A path whose field is absent is left out of both."""
    clear = dict(data)
    personal: dict[str, Any] = {}
    for path in paths:
        head, *rest = path.split(".")
        if head not in clear:
            continue
        if not rest:
            personal[path] = clear.pop(head)
        elif rest[0] == "*":
            items = clear[head]
            if not isinstance(items, (list, tuple)):
                continue  # None: a field absent from events stored before it existed
            copies = [dict(item) for item in items]
            personal[path] = [item.pop(rest[1], None) for item in copies]
            clear[head] = copies
        else:
            inner = clear[head]
            if not isinstance(inner, dict) or rest[0] not in inner:
                continue
            inner = dict(inner)
            personal[path] = inner.pop(rest[0])
            clear[head] = inner
    return clear, personal


def join(clear: dict[str, Any], personal: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `split`: the personal fields put back where they were (in place)."""
    for path, value in personal.items():
        head, *rest = path.split(".")
        if not rest:
            clear[head] = value
        elif rest[0] == "*":
            for item, one in zip(clear[head], value, strict=True):
                item[rest[1]] = one
        else:
            clear[head][rest[0]] = value
    return clear


def blank(clear: dict[str, Any], paths: Paths) -> dict[str, Any]:
    """The clear data of an erased event, as readers get it (in place): each personal field None,
    each list item's personal key None; a dict's personal keys stay out (which ones were there is
    not known without the key)."""
    for path in paths:
        head, *rest = path.split(".")
        if not rest:
            clear[head] = None
        elif rest[0] == "*" and isinstance(clear.get(head), list):
            for item in clear[head]:
                item[rest[1]] = None
    clear[MARKER] = ERASED
    return clear


def personal_digest(salt: str, personal: dict[str, Any], canonical: Callable[[Any], bytes]) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + canonical(personal)).hexdigest()


def paths_of(event_class: type) -> Paths:
    paths: Paths = getattr(event_class, "personal_paths", ())
    return paths


def is_erased(event: Any) -> bool:
    return getattr(event, MARKER, None) == ERASED
