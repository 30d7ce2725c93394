"""What the read side remembers of one person: a fold of the person's stream, with no SQL.

Every view keeps its own copy of these records (a view is rebuilt alone, from zero), and
derives its rows from them. The fold follows the Person aggregate's own bookkeeping — a
sequence number per dose taken over, the dose dicts a merge carries — so that dose numbers
computed here are the ones the ledger computes (`ledger.series.evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson

from ledger.flags import flag_key
from ledger.person import PERSONAL_DETAILS, Person
from ledger.personal import is_erased
from ledger.series import Evaluation, evaluate
from ledger.site import Site

# The details the views show, search or count on (the address is nobody's business here; sex only
# the statistics count by).
DETAILS = ("full_name", "birth_date", "phone", "national_id", "province", "district", "sex")
# The fields of a dose the views need (the source stays in the ledger, but for "warnings": what
# a feed's sender was warned of when it booked the dose, kept only when there is any).
DOSE_FIELDS = (
    "dose_id",
    "vaccine",
    "lot",
    "administered_at",
    "site_id",
    "reported_dose_number",
    "seq",
    "voided",
)

PERSON_EVENTS: tuple[type, ...] = (
    Person.Registered,
    Person.DetailsCorrected,
    Person.DoseRecorded,
    Person.DoseAmended,
    Person.DoseVoided,
    Person.DuplicateAbsorbed,
    Person.MergedInto,
    Person.DuplicateReleased,
    Person.MergeUndone,
    Person.Erased,
)
# What only the review view follows (a resolved flag changes no certificate and no count).
FLAG_EVENTS: tuple[type, ...] = (Person.FlagResolved, Person.FlagResolutionsCarried)
SITE_EVENTS: tuple[type, ...] = (Site.Listed, Site.Reviewed)


@dataclass
class PersonRecord:
    person_id: str
    details: dict[str, Any]
    doses: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq: int = 0
    merged_into: str | None = None
    # The person's personal data is erased: the views mask it (the details here are None then).
    erased: bool = False
    # Flag key (ledger.flags) -> what an official's resolution holds for (the review view's).
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def registered(cls, event: Any) -> PersonRecord:
        # Read after the erasure (a rebuild), the registration already says so.
        return cls(
            str(event.originator_id), {k: getattr(event, k, None) for k in DETAILS}, erased=is_erased(event)
        )

    def apply(self, event: Any) -> None:
        _APPLY[type(event)](self, event)

    @property
    def merged(self) -> bool:
        return self.merged_into is not None

    def evaluation(self) -> Evaluation:
        """Numbers, status and flags, by the ledger's own series rules."""
        return evaluate(self.doses.values(), self.details["birth_date"])

    def dumps(self) -> str:
        return orjson.dumps(
            {
                "person_id": self.person_id,
                "details": self.details,
                "doses": self.doses,
                "seq": self.seq,
                "merged_into": self.merged_into,
                "erased": self.erased,
                "resolved": self.resolved,
            }
        ).decode()

    @classmethod
    def loads(cls, text: str | bytes) -> PersonRecord:
        return cls(**orjson.loads(text))


def _corrected(record: PersonRecord, event: Any) -> None:
    record.details.update({k: v for k, v in event.changes.items() if k in DETAILS})


def _dose_recorded(record: PersonRecord, event: Any) -> None:
    record.seq += 1
    record.doses[str(event.dose_id)] = {
        "dose_id": str(event.dose_id),
        "vaccine": event.vaccine,
        "lot": event.lot,
        "administered_at": event.administered_at,
        "site_id": event.site_id,
        "reported_dose_number": event.reported_dose_number,
        "seq": record.seq,
        "voided": False,
        **_warned(event.source),
    }


def _dose_amended(record: PersonRecord, event: Any) -> None:
    dose = record.doses[str(event.dose_id)]
    dose.update(event.changes)
    if event.source.get("kind") == "feed":  # a feed's amendment restates the record, warnings too
        dose.pop("warnings", None)
        dose.update(_warned(event.source))


def _dose_voided(record: PersonRecord, event: Any) -> None:
    record.doses[str(event.dose_id)]["voided"] = True


def _absorbed(record: PersonRecord, event: Any) -> None:
    for dose in event.doses:
        record.seq += 1
        record.doses[str(dose["dose_id"])] = {
            **{k: dose.get(k) for k in DOSE_FIELDS},
            "dose_id": str(dose["dose_id"]),
            "voided": bool(dose.get("voided")),
            "seq": record.seq,
            **_warned(dose.get("source") or {}),
        }


def _resolutions_carried(record: PersonRecord, event: Any) -> None:
    record.resolved.update(_resolutions(event))


def _resolutions(event: Any) -> dict[str, dict[str, Any]]:
    """The flag resolutions a merge or an unmerge moved with the doses (none in events stored
    before they moved), as the review view keeps them."""
    moved = getattr(event, "resolved_flags", None) or {}
    return {key: {"flag": held["flag"], "dose": held["dose"]} for key, held in moved.items()}


def _warned(source: dict[str, Any]) -> dict[str, Any]:
    """The warnings a dose's source kept ("RXA-11: reason", never a value), if it kept any."""
    warnings = source.get("warnings")
    return {"warnings": list(warnings)} if warnings else {}


def _merged(record: PersonRecord, event: Any) -> None:
    record.merged_into = str(event.survivor_person_id)


def _released(record: PersonRecord, event: Any) -> None:
    for dose in event.doses:
        record.doses.pop(str(dose["dose_id"]), None)
    for key in _resolutions(event):
        record.resolved.pop(key, None)


def _merge_undone(record: PersonRecord, event: Any) -> None:
    """The doses come back as the survivor held them, each in the place it had here."""
    record.merged_into = None
    for dose in event.doses:
        dose_id = str(dose["dose_id"])
        known = record.doses.get(dose_id)
        if known is None:
            record.seq += 1
        record.doses[dose_id] = {
            **{k: dose.get(k) for k in DOSE_FIELDS},
            "dose_id": dose_id,
            "voided": bool(dose.get("voided")),
            "seq": record.seq if known is None else known["seq"],
            **_warned(dose.get("source") or {}),
        }
    record.resolved.update(_resolutions(event))


def _flag_resolved(record: PersonRecord, event: Any) -> None:
    record.resolved[flag_key(str(event.dose_id), event.kind)] = {"flag": event.flag, "dose": event.dose}


def _erased(record: PersonRecord, event: Any) -> None:
    record.erased = True
    record.details.update({k: None for k in PERSONAL_DETAILS if k in record.details})


def _registered_again(record: PersonRecord, event: Any) -> None:
    raise ValueError(f"person {record.person_id} is registered twice in the ledger")


_APPLY: dict[type, Callable[[PersonRecord, Any], None]] = {
    Person.Registered: _registered_again,
    Person.DetailsCorrected: _corrected,
    Person.DoseRecorded: _dose_recorded,
    Person.DoseAmended: _dose_amended,
    Person.DoseVoided: _dose_voided,
    Person.DuplicateAbsorbed: _absorbed,
    Person.MergedInto: _merged,
    Person.DuplicateReleased: _released,
    Person.MergeUndone: _merge_undone,
    Person.FlagResolved: _flag_resolved,
    Person.FlagResolutionsCarried: _resolutions_carried,
    Person.Erased: _erased,
}


def fold_people(
    events: list[Any],
    records: dict[str, PersonRecord],
    after_each: Callable[[PersonRecord, Any], None] | None = None,
) -> set[str]:
    """Apply the person events of a page, in order, to the records loaded for it.

    Returns the ids of the people touched. `after_each` runs after every event (a certificate
    is reissued per event, so a page of 500 and 500 pages of one give the same versions).
    """
    touched: set[str] = set()
    for event in events:
        if type(event) not in _APPLY:
            continue
        pid = str(event.originator_id)
        if isinstance(event, Person.Registered):
            if pid in records:
                _registered_again(records[pid], event)
            records[pid] = PersonRecord.registered(event)
        elif pid not in records:
            raise LookupError(f"an event of person {pid} arrived before the person's registration")
        else:
            records[pid].apply(event)
        touched.add(pid)
        if after_each is not None:
            after_each(records[pid], event)
    return touched


def person_ids(events: list[Any]) -> list[str]:
    return sorted({str(e.originator_id) for e in events if type(e) in _APPLY})


def site_ids(events: list[Any]) -> list[str]:
    """The directory entries a page touches, by the Site aggregate's id."""
    return sorted({str(e.originator_id) for e in events if type(e) in SITE_EVENTS})


def fold_sites(events: list[Any], entries: dict[str, dict[str, Any]]) -> set[str]:
    """Apply the Site events of a page to the entries loaded for it (keyed by aggregate id).

    A review names no site id (the aggregate id is a one-way uuid5 of it), so an entry keeps
    the site id its listing gave it.
    """
    touched: set[str] = set()
    for event in events:
        if type(event) not in SITE_EVENTS:
            continue
        key = str(event.originator_id)
        if isinstance(event, Site.Listed):
            entries[key] = {
                "site_id": event.site_id,
                "review_status": "pending" if event.kind == "provisional" else "approved",
            }
        elif key not in entries:
            raise LookupError(f"site {key} was reviewed before it was listed")
        else:
            entries[key]["review_status"] = event.decision
        entries[key].update(
            name=event.name, kind=event.kind, province=event.province, district=event.district
        )
        touched.add(key)
    return touched


def as_uuid(value: UUID | str) -> str:
    """A person id as the views store it: the canonical UUID text."""
    return str(value if isinstance(value, UUID) else UUID(str(value)))
