"""A person's stored events folded one by one, exactly as stored.

The fold starts from the stored rows (the event store's `select_streams`), never from the application's cache or
the projections. It keeps going past an event it cannot read or apply in sequence, noting the
problem on that step: an auditor looking at a damaged record still sees everything around the
damage, and the integrity check (replay.integrity) says what the damage is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.errors import PersonNotFound
from ledger.person import Person
from ledger.recording import as_uuid
from ledger.series import Evaluator
from replay.plain import plain
from store.event_store import StoredRecord

PERSON_TOPIC = get_topic(Person) + "."
# Credentials' hashes, kept out of audit answers (the integrity check still reads them raw); and
# the salt of a person's personal digest, which keeps that digest from being brute-forced.
REDACTED = frozenset({"code_digest", "salt"})


@dataclass(frozen=True)
class Decoded:
    record: StoredRecord
    event: Any | None  # the domain event; None when the stored row cannot be read
    error: str | None = None


@dataclass(frozen=True)
class Step:
    """One stored event applied: the live aggregate after it (snapshot it before the next step)."""

    record: StoredRecord
    event: Any | None
    problem: str | None
    person: Person | None


def is_person_stream(records: list[StoredRecord]) -> bool:
    return bool(records) and records[0].topic.startswith(PERSON_TOPIC)


def read_person(ledger: Any, person_id: UUID | str) -> tuple[UUID, list[StoredRecord]]:
    """The person's stored records; PersonNotFound when the id names no person's stream."""
    pid = as_uuid(person_id, "person_id")
    records = ledger.recorder.select_streams([pid])
    if not is_person_stream(records):
        raise PersonNotFound(pid)
    return pid, records


def decode(mapper: Any, records: Iterable[StoredRecord]) -> list[Decoded]:
    decoded = []
    for record in records:
        try:
            decoded.append(Decoded(record, mapper.to_domain_event(record)))
        except Exception as e:  # noqa: BLE001 - any failure to read a stored row is the audit's finding
            decoded.append(Decoded(record, None, f"cannot be read: {type(e).__name__}: {e}"))
    return decoded


def fold(decoded: Iterable[Decoded]) -> Iterator[Step]:
    person: Person | None = None
    for item in decoded:
        event, problem = item.event, item.error
        if event is not None:
            try:
                person = event.mutate(person)
            except Exception as e:  # noqa: BLE001 - an out-of-sequence row is shown, named on its step
                # Out of sequence (a version gap, a reordered row): apply it anyway, so what
                # follows is still shown; the problem is named on this step.
                try:
                    event.apply(person)
                    assert person is not None  # there was none to apply it to: apply() raised
                    person.version = event.originator_version
                    problem = f"applied out of sequence: {type(e).__name__}: {e}"
                except Exception as e2:  # noqa: BLE001 - a row that cannot be applied is the audit's finding
                    problem = f"cannot be applied: {type(e2).__name__}: {e2}"
                    if person is not None:  # skipped, not pending: what follows is in sequence
                        person.version = event.originator_version
        yield Step(item.record, event, problem, person)


class StateMemo:
    """What one walk through a stream has rendered so far, so the state after each step reuses
    the renderings of what that step left alone (history: 50 events, 50 states).

    A rendering is reused only when its source still *equals* the copy taken when it was made:
    correct whatever the event did, without knowing which event changes what. The copies are
    shallow: Person's events replace a dose's or request's nested values (its source, a claim)
    and never change them in place. Renderings are shared between the states of one answer,
    as JSON has them; nothing mutates an answer.
    """

    def __init__(self) -> None:
        self.doses: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.corrections: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.details: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.flags: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.evaluate = Evaluator()  # numbering resumes after the doses the step left alone

    def dose(self, dose: dict[str, Any], number: int | None, booster: bool) -> dict[str, Any]:
        kept = self.doses.get(dose["dose_id"])
        if kept is None or kept[0] != dose:
            rendered = _dose(dose, number, booster)
            self.doses[dose["dose_id"]] = (dict(dose), rendered)
            return rendered
        rendered = kept[1]
        if rendered["dose_number"] != number or rendered["booster"] is not booster:
            # Renumbered (a void or an earlier dose before it), itself unchanged: same keys, in order.
            rendered = {**rendered, "dose_number": number, "booster": booster}
            self.doses[dose["dose_id"]] = (kept[0], rendered)
        return rendered

    def correction(self, request: dict[str, Any]) -> dict[str, Any]:
        kept = self.corrections.get(request["request_id"])
        if kept is not None and kept[0] == request:
            return kept[1]
        rendered = _correction(request)
        self.corrections[request["request_id"]] = (dict(request), rendered)
        return rendered

    def flag(self, flag: dict[str, Any]) -> dict[str, Any]:
        try:  # a flag is a few scalars: its items are its key
            key = tuple(flag.items())
            kept = self.flags.get(key)
        except TypeError:  # a value that cannot be a key: rendered each time
            rendered: dict[str, Any] = plain(flag)
            return rendered
        if kept is None:
            kept = self.flags[key] = plain(flag)
        return kept

    def plain_details(self, details: dict[str, Any]) -> dict[str, Any]:
        if self.details is not None and self.details[0] == details:
            return self.details[1]
        rendered: dict[str, Any] = plain(details)
        self.details = (dict(details), rendered)
        return rendered


def person_state(person: Person | None, memo: StateMemo | None = None) -> dict[str, Any] | None:
    """The person as the record says at this point: details, doses numbered, status, flags.

    `memo`, kept across the steps of one fold, makes each state cost what its event changed
    (the answer is the same with or without it)."""
    if person is None:
        return None
    memo = memo or StateMemo()
    evaluation = memo.evaluate(person.doses.values(), person.details.get("birth_date"))
    valid = [memo.dose(n.dose, n.number, n.booster) for n in evaluation.doses]
    voided = [
        memo.dose(d, None, False)
        for d in sorted((d for d in person.doses.values() if d["voided"]), key=lambda d: d["seq"])
    ]
    state = {
        "version": person.version,
        "details": memo.plain_details(person.details),
        "status": evaluation.status,
        "doses": valid + voided,
        "flags": [memo.flag(f) for f in evaluation.flags],
        "merged_into": plain(person.merged_into),
        "absorbed": plain(person.absorbed),
        "corrections": [memo.correction(c) for c in getattr(person, "corrections", {}).values()],
    }
    if getattr(person, "erased", False):
        state["erased"] = True  # the details and claims read as None: destroyed, not unknown
    return state


def _correction(request: dict[str, Any]) -> dict[str, Any]:
    # The digest of the citizen's follow-up code stays out: 8 characters are brute-forced offline.
    rendered: dict[str, Any] = plain({k: v for k, v in request.items() if k not in REDACTED})
    return rendered


def _dose(dose: dict[str, Any], number: int | None, booster: bool) -> dict[str, Any]:
    return {
        "dose_id": dose["dose_id"],
        "dose_number": number,
        "booster": booster,
        "vaccine": dose["vaccine"],
        "lot": dose["lot"],
        "administered_at": dose["administered_at"],
        "site_id": dose["site_id"],
        "reported_dose_number": dose.get("reported_dose_number"),
        "voided": dose["voided"],
        "source": plain(dose.get("source")),
    }
