"""Why the certificate says what it says: each line traced to the events that made it.

The certificate here is a fresh fold of the stored events, never the projection. A dose that
came with a merge is traced into the duplicate's own stream: who recorded it there, who amended
it, and the merge that carried it over.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.person import Person
from replay.fold import Decoded, decode, fold, person_state, read_person
from replay.history import event_ref
from replay.plain import plain

DoseRecorded, DoseAmended, DoseVoided = Person.DoseRecorded, Person.DoseAmended, Person.DoseVoided
DuplicateAbsorbed = Person.DuplicateAbsorbed

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
    return trails


def _ref(item: Decoded, role: str, **extra: Any) -> dict[str, Any]:
    return {"role": role, **event_ref(item), **extra}
