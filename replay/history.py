"""How a person's record reached its state: every event, what it changed, what was known when.

Two clocks, never mixed: `recorded_at` is when the ledger stored an event (what was *known*);
a dose's `administered_at` is data (what was *given*). "As of" here is always the recorded one.
A time without a zone is Vietnam time, as everywhere in the ledger; a bare date means the end
of that day ("what did we know on 1 September").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from ledger.chain import event_data
from ledger.errors import InvalidValue
from ledger.personal import ERASED, MARKER, is_erased
from ledger.rules import ICT
from replay.fold import REDACTED, Decoded, StateMemo, decode, fold, person_state, read_person
from replay.plain import plain
from store.event_store import StoredRecord

# What an event says beside its data: shown as their own columns.
_ASIDE = ("actor", "source")


@dataclass(frozen=True)
class AsOf:
    """A point in a person's record: after a version, or as recorded by a time (inclusive)."""

    version: int | None = None
    recorded_at: datetime | None = None


def parse_as_of(value: Any, field: str = "as_of") -> AsOf:
    """`3` or "3" is a version; an ISO date-time or date (or a datetime/date) is a recorded time."""
    if isinstance(value, AsOf):
        return value
    if isinstance(value, bool):
        raise InvalidValue(field, f"must be a version or an ISO time, got {value!r}")
    if isinstance(value, int):
        return AsOf(version=value)
    if isinstance(value, datetime):
        return AsOf(recorded_at=value if value.tzinfo else value.replace(tzinfo=ICT))
    if isinstance(value, date):
        # The end of that day in Vietnam: everything recorded on it counts.
        end = datetime.combine(value + timedelta(days=1), time(0), ICT) - timedelta(microseconds=1)
        return AsOf(recorded_at=end)
    text = str(value).strip()
    if text.isdigit():
        return AsOf(version=int(text))
    try:
        return parse_as_of(date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text))
    except ValueError:
        raise InvalidValue(
            field,
            "must be a version number or an ISO date or date-time, "
            f"e.g. 2021-09-01T17:00:00+07:00; got {value!r}",
        ) from None


def history(ledger: Any, person_id: UUID | str) -> dict[str, Any]:
    """Every stored event of the person, in order, each with the person's state after it."""
    pid, records = read_person(ledger, person_id)
    events = []
    before: dict[str, Any] | None = None
    memo = StateMemo()  # each state re-renders only what its event changed
    for step in fold(decode(ledger.mapper, records)):
        after = person_state(step.person, memo)
        events.append(
            {
                **_describe(Decoded(step.record, step.event, step.problem)),
                "changes": compare_states(before, after),
                "state": after,
            }
        )
        before = after
    return {"person_id": str(pid), "events": events}


def state_as_of(
    ledger: Any,
    person_id: UUID | str,
    *,
    version: int | None = None,
    recorded_at: datetime | date | str | None = None,
) -> dict[str, Any]:
    """The person as known after `version`, or as recorded by `recorded_at`; now if neither."""
    if version is not None and recorded_at is not None:
        raise InvalidValue("as_of", "give a version or a recorded time, not both")
    point = (
        parse_as_of(version, "version")
        if version is not None
        else parse_as_of(recorded_at, "recorded_at")
        if recorded_at is not None
        else AsOf()
    )
    pid, records = read_person(ledger, person_id)
    decoded = decode(ledger.mapper, records)
    cut = _cut(decoded, point, "version" if version is not None else "recorded_at")
    person = None
    for step in fold(decoded[:cut]):
        person = step.person
    return {"person_id": str(pid), "as_of": _point(decoded[:cut]), "state": person_state(person)}


def diff(ledger: Any, person_id: UUID | str, from_: Any, to: Any) -> dict[str, Any]:
    """What changed between two points (versions or recorded times), and the events that did it."""
    start, end = parse_as_of(from_, "from"), parse_as_of(to, "to")
    pid, records = read_person(ledger, person_id)
    decoded = decode(ledger.mapper, records)
    lo, hi = _cut(decoded, start, "from"), _cut(decoded, end, "to")
    if lo > hi:
        raise InvalidValue("from", "is later than to")
    states: dict[int, dict[str, Any] | None] = {0: None}
    for n, step in enumerate(fold(decoded[:hi]), start=1):
        if n in (lo, hi):
            states[n] = person_state(step.person)
    return {
        "person_id": str(pid),
        "from": _point(decoded[:lo]),
        "to": _point(decoded[:hi]),
        "changes": compare_states(states[lo], states[hi]),
        "events": [_describe(item) for item in decoded[lo:hi]],
    }


def compare_states(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Field by field: details, doses added, removed or changed (numbers included), status,
    correction requests filed or moved on."""
    before, after = before or {}, after or {}
    old_list, new_list = before.get("doses", []), after.get("doses", [])
    # A rendering in both states (history's memo shares what an event left alone) is a dose
    # in both, unchanged: only the others are compared.
    kept = {id(d) for d in old_list}.intersection([id(d) for d in new_list])
    old_doses = {d["dose_id"]: d for d in old_list if id(d) not in kept}
    new_doses = {d["dose_id"]: d for d in new_list if id(d) not in kept}
    changed = []
    for dose_id in old_doses.keys() & new_doses.keys():
        fields = _changed(old_doses[dose_id], new_doses[dose_id])
        if fields:
            changed.append({"dose_id": dose_id, "fields": fields})
    old_requests = {c["request_id"]: c for c in before.get("corrections", [])}
    requests = []
    for request_id, request in ((c["request_id"], c) for c in after.get("corrections", [])):
        fields = _changed(old_requests.get(request_id, {}), request)
        if fields:
            requests.append({"request_id": request_id, "fields": fields})
    return {
        "details": _changed(before.get("details") or {}, after.get("details") or {}),
        "doses": {
            "added": [d for i, d in new_doses.items() if i not in old_doses],
            "removed": [d for i, d in old_doses.items() if i not in new_doses],
            "changed": sorted(changed, key=lambda c: c["dose_id"]),
        },
        "status": _changed({"status": before.get("status")}, {"status": after.get("status")}).get("status"),
        "merged_into": _changed({"m": before.get("merged_into")}, {"m": after.get("merged_into")}).get("m"),
        "corrections": requests,
    }


def event_ref(item: Decoded) -> dict[str, Any]:
    """Where an event sits and who caused it through what: enough to find and cite it."""
    event, record = item.event, item.record
    return {
        "person_id": str(record.originator_id),
        "position": record.position,
        "version": record.originator_version,
        "type": event_type(record),
        "recorded_at": plain(event.timestamp) if event is not None else None,
        "actor": plain(getattr(event, "actor", None)),
        "source": plain(getattr(event, "source", None)),
    }


def event_type(record: StoredRecord) -> str:
    return record.topic.rsplit(".", 1)[-1].rsplit(":", 1)[-1]


def _describe(item: Decoded) -> dict[str, Any]:
    event = item.event
    data = None
    if event is not None:
        data = plain(
            {
                k: ("(redacted)" if k in REDACTED else v)
                for k, v in event_data(event).items()
                if k not in _ASIDE
            }
        )
    described = {**event_ref(item), "data": data, "digest": getattr(event, "digest", None)}
    if is_erased(event):
        described[MARKER] = ERASED  # its personal fields read as None: they were erased
    if item.error:
        described["problem"] = item.error
    return described


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if old == new:  # the usual case, compared in C
        return {}
    return {
        k: {"from": old.get(k), "to": new.get(k)}
        for k in sorted(old.keys() | new.keys())
        if old.get(k) != new.get(k)
    }


def _cut(decoded: list[Decoded], point: AsOf, field: str) -> int:
    """How many of the stored events the point includes."""
    if point.version is not None:
        head = decoded[-1].record.originator_version if decoded else 0
        if point.version < 0 or point.version > head:
            raise InvalidValue(field, f"the person's record has versions 0 to {head}, not {point.version}")
        return sum(1 for item in decoded if item.record.originator_version <= point.version)
    if point.recorded_at is not None:
        # Up to the last readable event recorded by then (an unreadable row has no time of its own).
        cut = 0
        for n, item in enumerate(decoded, start=1):
            if item.event is not None:
                if item.event.timestamp > point.recorded_at:
                    break
                cut = n
        return cut
    return len(decoded)


def _point(prefix: list[Decoded]) -> dict[str, Any]:
    if not prefix:
        return {"version": 0, "position": None, "recorded_at": None}
    last = prefix[-1]
    return {
        "version": last.record.originator_version,
        "position": last.record.position,
        "recorded_at": plain(last.event.timestamp) if last.event is not None else None,
    }
