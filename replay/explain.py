"""Why the certificate says what it says: each line traced to the events that made it.

The certificate here is a fresh fold of the stored events, never the projection. A dose that
came with a merge is traced into the duplicate's own stream: who recorded it there, who amended
it, and the merge that carried it over. A dose given back by an unmerge is traced into the
survivor's stream for the while it was there: the merge, what was done to it there, the unmerge.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.person import Person
from replay.fold import Decoded, decode, fold, person_state, read_person
from replay.history import event_ref
from replay.plain import plain

DoseRecorded, DoseAmended, DoseVoided = Person.DoseRecorded, Person.DoseAmended, Person.DoseVoided
DuplicateAbsorbed, MergeUndone = Person.DuplicateAbsorbed, Person.MergeUndone

MAX_MERGE_DEPTH = 16  # merges chain (A absorbed B, which had absorbed C); a cycle cannot


def explain_certificate(ledger: Any, person_id: UUID | str) -> dict[str, Any]:
    pid, records = read_person(ledger, person_id)
    decoded = decode(ledger.mapper, records)
    person = None
    for step in fold(decoded):
        person = step.person
    state = person_state(person)
    assert state is not None  # a person stream has at least its registration
    trails = _trails(ledger, decoded, 0)
    explained = {
        "person_id": str(pid),
        "version": state["version"],
        "status": state["status"],
        "merged_into": state["merged_into"],
        "lines": [],
        "removed": [],
    }
    if state["merged_into"] is not None:
        # A merged duplicate has no certificate of its own: its doses are on the survivor's.
        explained["status"] = None
        return explained
    for dose in state["doses"]:
        entry = {
            **dose,
            "flags": [f for f in state["flags"] if f.get("dose_id") == dose["dose_id"]],
            "events": trails.get(dose["dose_id"], []),
        }
        explained["removed" if dose["voided"] else "lines"].append(entry)
    return explained


def _trails(ledger: Any, decoded: list[Decoded], depth: int) -> dict[str, list[dict[str, Any]]]:
    """dose id → the events, in order, that recorded, amended, carried over or voided it."""
    trails: dict[str, list[dict[str, Any]]] = {}
    for item in decoded:
        event = item.event
        if isinstance(event, DoseRecorded):
            trails[str(event.dose_id)] = [_ref(item, "recorded")]
        elif isinstance(event, DoseAmended):
            trails.setdefault(str(event.dose_id), []).append(
                _ref(item, "amended", changes=plain(event.changes), reason=event.reason)
            )
        elif isinstance(event, DoseVoided):
            trails.setdefault(str(event.dose_id), []).append(_ref(item, "voided", reason=event.reason))
        elif isinstance(event, DuplicateAbsorbed):
            earlier: dict[str, list[dict[str, Any]]] = {}
            if depth < MAX_MERGE_DEPTH:
                dup_records = ledger.recorder.select_streams([event.duplicate_person_id])
                earlier = _trails(ledger, decode(ledger.mapper, dup_records), depth + 1)
            merged = _ref(item, "merged", from_person_id=str(event.duplicate_person_id), reason=event.reason)
            for dose in event.doses:
                trails[dose["dose_id"]] = [*earlier.get(dose["dose_id"], []), merged]
        elif isinstance(event, MergeUndone):
            returned = {d["dose_id"] for d in event.doses}
            there = _while_merged(ledger, event.survivor_person_id, event.originator_id, item.record.position)
            undone = _ref(item, "unmerged", from_person_id=str(event.survivor_person_id), reason=event.reason)
            for dose_id in returned:
                done_there = [ref for ref_dose, ref in there if ref_dose in (dose_id, None)]
                trails[dose_id] = [*trails.get(dose_id, []), *done_there, undone]
    return trails


def _while_merged(
    ledger: Any, survivor_id: UUID, duplicate_id: UUID, undone_at: int
) -> list[tuple[str | None, dict[str, Any]]]:
    """(dose id, or None for every dose; the event) of the survivor's stream from its last
    absorption of the duplicate before `undone_at` up to then: the merge, the amendments and
    voids of doses there (one stream read, no further: what came before is this stream's)."""
    decoded = decode(ledger.mapper, ledger.recorder.select_streams([survivor_id]))
    before = [d for d in decoded if d.record.position < undone_at and d.event is not None]
    start = max(
        (
            n
            for n, d in enumerate(before)
            if isinstance(d.event, DuplicateAbsorbed) and d.event.duplicate_person_id == duplicate_id
        ),
        default=None,
    )
    if start is None:
        return []
    absorbed = before[start]
    reason = getattr(absorbed.event, "reason", None)
    found: list[tuple[str | None, dict[str, Any]]] = [
        (None, _ref(absorbed, "merged", into_person_id=str(survivor_id), reason=reason))
    ]
    for item in before[start + 1 :]:
        event = item.event
        if isinstance(event, DoseAmended):
            found.append(
                (str(event.dose_id), _ref(item, "amended", changes=plain(event.changes), reason=event.reason))
            )
        elif isinstance(event, DoseVoided):
            found.append((str(event.dose_id), _ref(item, "voided", reason=event.reason)))
    return found


def _ref(item: Decoded, role: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, **event_ref(item), **extra}
