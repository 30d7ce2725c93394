"""A person's stored events folded one by one, exactly as stored.

The fold starts from the stored rows (replay.records), never from the application's cache or
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
from ledger.series import evaluate
from replay.plain import plain
from replay.records import StoredRecord, read_stream

PERSON_TOPIC = get_topic(Person) + "."
# Credentials' hashes, kept out of audit answers (the integrity check still reads them raw).
REDACTED = frozenset({"code_digest"})


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
    records = read_stream(ledger.recorder, pid)
    if not is_person_stream(records):
        raise PersonNotFound(pid)
    return pid, records


def decode(mapper: Any, records: Iterable[StoredRecord]) -> list[Decoded]:
    decoded = []
    for record in records:
        try:
            decoded.append(Decoded(record, mapper.to_domain_event(record.stored_event())))
        except Exception as e:  # any failure to read a stored row is the audit's finding
            decoded.append(Decoded(record, None, f"cannot be read: {type(e).__name__}: {e}"))
    return decoded


def fold(decoded: Iterable[Decoded]) -> Iterator[Step]:
    person: Person | None = None
    for item in decoded:
        event, problem = item.event, item.error
        if event is not None:
            try:
                person = event.mutate(person)
            except Exception as e:
                # Out of sequence (a version gap, a reordered row): apply it anyway, so what
                # follows is still shown; the problem is named on this step.
                try:
                    event.apply(person)
                    person.version = event.originator_version  # type: ignore[union-attr]
                    problem = f"applied out of sequence: {type(e).__name__}: {e}"
                except Exception as e2:
                    problem = f"cannot be applied: {type(e2).__name__}: {e2}"
                    if person is not None:  # skipped, not pending: what follows is in sequence
                        person.version = event.originator_version
        yield Step(item.record, event, problem, person)


def person_state(person: Person | None) -> dict[str, Any] | None:
    """The person as the record says at this point: details, doses numbered, status, flags."""
    if person is None:
        return None
    evaluation = evaluate(person.doses.values(), person.details.get("birth_date"))
    valid = [_dose(n.dose, n.number, n.booster) for n in evaluation.doses]
    voided = [_dose(d, None, False) for d in sorted(person.doses.values(), key=lambda d: d["seq"])
              if d["voided"]]
    return {
        "version": person.version,
        "details": plain(person.details),
        "status": evaluation.status,
        "doses": valid + voided,
        "flags": plain(evaluation.flags),
        "merged_into": plain(person.merged_into),
        "absorbed": plain(person.absorbed),
        "corrections": [_correction(c) for c in getattr(person, "corrections", {}).values()],
    }


def _correction(request: dict[str, Any]) -> dict[str, Any]:
    # The digest of the citizen's follow-up code stays out: 8 characters are brute-forced offline.
    return plain({k: v for k, v in request.items() if k not in REDACTED})


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
