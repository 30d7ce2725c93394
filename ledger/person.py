"""A person's stream: registration, details, every dose, its amendments and voids, merges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from ledger import chain
from ledger.chain import ChainedAggregate
from ledger.errors import (
    CorrectionClosed,
    CorrectionNotFound,
    DoseAlreadyVoided,
    DoseNotFound,
    FlagAlreadyResolved,
    InvalidValue,
    MergeNotUndoable,
    NotMerged,
    PersonAlreadyErased,
    PersonErased,
    PersonMerged,
)
from ledger.flags import FLAG_KINDS, dose_of_flag_key, flag_key, flags_of, resolution_of
from ledger.series import Evaluation, evaluate
from ledger.values import CorrectionKind, CorrectionStatus

MISSING_DOSE, WRONG_DOSE, WRONG_DETAILS = (
    CorrectionKind.MISSING_DOSE,
    CorrectionKind.WRONG_DOSE,
    CorrectionKind.WRONG_DETAILS,
)
CORRECTION_KINDS = tuple(CorrectionKind)
OPEN_STATES = (CorrectionStatus.OPEN, CorrectionStatus.ASSIGNED)
ACCEPTED, REJECTED = CorrectionStatus.ACCEPTED, CorrectionStatus.REJECTED

# Fields of a dose that an amendment may change.
AMENDABLE = ("vaccine", "lot", "administered_at", "site_id", "reported_dose_number")

# A person's details that are personal data: sealed with the person's own key in the store and
# destroyed by an erasure. Province, district and sex stay clear: the statistics count by them.
PERSONAL_DETAILS = ("full_name", "birth_date", "national_id", "phone", "address")
# Where each event of a person's stream carries personal data (paths: ledger.personal). A claim
# may quote any detail, so the whole claim is personal; a request's contact is a phone or e-mail.
PERSONAL: dict[str, tuple[str, ...]] = {
    "Registered": PERSONAL_DETAILS,
    "DetailsCorrected": tuple(f"changes.{k}" for k in PERSONAL_DETAILS),
    "CorrectionRequested": ("contact", "claim"),
    "CorrectionRepeated": ("contact",),
    "DuplicateAbsorbed": ("corrections.*.claim",),
    "DuplicateReleased": ("corrections.*.claim",),
    "MergeUndone": ("corrections.*.claim",),
}
ERASED_NAME = "[erased]"  # what a reader shows for an erased person's name


class Person(ChainedAggregate):
    """Identity never keys on a phone: a phone is a contact detail anyone may share."""

    if TYPE_CHECKING:  # made by @event at class creation; declared for the type checker only
        Registered: ClassVar[type[Any]]
        DetailsCorrected: ClassVar[type[Any]]
        DoseRecorded: ClassVar[type[Any]]
        DoseAmended: ClassVar[type[Any]]
        DoseVoided: ClassVar[type[Any]]
        DuplicateAbsorbed: ClassVar[type[Any]]
        MergedInto: ClassVar[type[Any]]
        DuplicateReleased: ClassVar[type[Any]]
        MergeUndone: ClassVar[type[Any]]
        FlagResolutionsCarried: ClassVar[type[Any]]
        FlagResolved: ClassVar[type[Any]]
        CorrectionRequested: ClassVar[type[Any]]
        CorrectionRepeated: ClassVar[type[Any]]
        CorrectionAssigned: ClassVar[type[Any]]
        CorrectionResolved: ClassVar[type[Any]]
        Erased: ClassVar[type[Any]]

    @event("Registered")
    def __init__(
        self,
        full_name: str,
        birth_date: str,
        sex: str | None,
        national_id: str | None,
        phone: str | None,
        province: str,
        district: str | None,
        address: str | None,
        channel: str,
        actor: dict[str, str],
        source: dict[str, Any],
        salt: str | None = None,  # the chain's (ledger.personal), given by ChainedAggregate
        personal_digest: str | None = None,
    ) -> None:
        self.details: dict[str, Any] = {
            "full_name": full_name,
            "birth_date": birth_date,
            "sex": sex,
            "national_id": national_id,
            "phone": phone,
            "province": province,
            "district": district,
            "address": address,
        }
        self.channel = channel
        self.doses: dict[str, dict[str, Any]] = {}
        self.merged_into: UUID | None = None
        self.absorbed: list[UUID] = []
        # Per duplicate absorbed (by id): the doses and requests the merge carried over, each
        # request with its status then; what an unmerge gives back.
        self.carried: dict[str, dict[str, Any]] = {}
        # Flag key (ledger.flags) -> what the official's resolution holds for, and why.
        self.resolved_flags: dict[str, dict[str, Any]] = {}
        self.corrections: dict[str, dict[str, Any]] = {}
        self.erased = False
        self._seq = 0

    @classmethod
    def register(
        cls,
        person_id: UUID,
        details: dict[str, Any],
        channel: str,
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> Person:
        return cls._create(
            cls.Registered, id=person_id, channel=channel, actor=actor, source=source, **details
        )

    # --- what the person's record says now -------------------------------------------------

    def dose(self, dose_id: UUID) -> dict[str, Any]:
        try:
            return self.doses[str(dose_id)]
        except KeyError:
            raise DoseNotFound(dose_id) from None

    def evaluation(self) -> Evaluation:
        return evaluate(self.doses.values(), self.details["birth_date"])

    def check_open(self) -> None:
        """Refuse a command on a person merged into another (PersonMerged names the survivor)
        or erased."""
        self.check_not_erased()
        if self.merged_into is not None:
            raise PersonMerged(self.id, self.merged_into)

    def check_not_erased(self) -> None:
        if self.erased:
            raise PersonErased(self.id)

    # --- commands: check, then trigger an event ---------------------------------------------

    def correct_details(
        self, changes: dict[str, Any], reason: str, actor: dict[str, str], source: dict[str, Any]
    ) -> None:
        self.check_open()
        if not changes:
            raise InvalidValue("changes", "changes nothing: every value equals the current one")
        self._details_corrected(changes=changes, reason=reason, actor=actor, source=source)

    def record_dose(
        self,
        dose_id: UUID,
        vaccine: str,
        lot: str | None,
        administered_at: str,
        site_id: str,
        reported_dose_number: int | None,
        actor: dict[str, str],
        source: dict[str, Any],
        named_person_id: UUID | None = None,
    ) -> None:
        """`named_person_id`: the person the site named, when a merge led the dose here from a
        duplicate (an unmerge gives it back to that person)."""
        self.check_open()
        if str(dose_id) in self.doses:
            raise InvalidValue("site_record_id", f"dose {dose_id} is already recorded")
        # Kept only when it says something (most doses are recorded on the person named), and
        # inside the source, so that every other dose's stored bytes stay as they always were.
        if named_person_id is not None and named_person_id != self.id:
            source = {**source, "named_person_id": str(named_person_id)}
        recorded: dict[str, Any] = dict(
            dose_id=dose_id,
            vaccine=vaccine,
            lot=lot,
            administered_at=administered_at,
            site_id=site_id,
            reported_dose_number=reported_dose_number,
            actor=actor,
            source=source,
        )
        # The hot path of batches and imports: made directly (ledger.chain), stored the same.
        if chain.LEAN:
            self._lean_event(self.DoseRecorded, **recorded)
        else:
            self._dose_recorded(**recorded)

    def amend_dose(
        self,
        dose_id: UUID,
        changes: dict[str, Any],
        reason: str,
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> None:
        self.check_open()
        current = self.dose(dose_id)
        if current["voided"]:
            raise DoseAlreadyVoided(dose_id)
        changes = {k: v for k, v in changes.items() if current.get(k) != v}
        if not changes:
            raise InvalidValue("changes", "changes nothing: every value equals the current one")
        self._dose_amended(dose_id=dose_id, changes=changes, reason=reason, actor=actor, source=source)

    def void_dose(self, dose_id: UUID, reason: str, actor: dict[str, str], source: dict[str, Any]) -> None:
        self.check_open()
        if self.dose(dose_id)["voided"]:
            raise DoseAlreadyVoided(dose_id)
        self._dose_voided(dose_id=dose_id, reason=reason, actor=actor, source=source)

    def absorb(self, duplicate: Person, reason: str, actor: dict[str, str], source: dict[str, Any]) -> None:
        """Take over a duplicate's doses. The duplicate is closed by merge_into, same transaction."""
        self.check_open()
        duplicate.check_open()
        if duplicate.id == self.id:
            raise InvalidValue("duplicate_person_id", "a person cannot be merged into itself")
        carried = [d for d in duplicate.doses.values() if d["dose_id"] not in self.doses]
        # The duplicate's correction requests stay answerable: they move with its doses.
        requests = [c for c in duplicate.corrections.values() if c["request_id"] not in self.corrections]
        # An official's resolution of a carried dose's flag goes with it, holding while the flag
        # and the dose say what they said when it was made (ledger.flags).
        resolutions = _resolutions_of(duplicate.resolved_flags, [d["dose_id"] for d in carried])
        self._duplicate_absorbed(
            duplicate_person_id=duplicate.id,
            doses=carried,
            reason=reason,
            actor=actor,
            source=source,
            corrections=requests,
        )
        if resolutions:  # an event of its own: a merge without any stores what it always did
            self._flag_resolutions_carried(
                duplicate_person_id=duplicate.id, resolved_flags=resolutions, actor=actor, source=source
            )

    def merge_into(
        self, survivor_id: UUID, reason: str, actor: dict[str, str], source: dict[str, Any]
    ) -> None:
        self.check_open()
        self._merged_into(survivor_person_id=survivor_id, reason=reason, actor=actor, source=source)

    def release(
        self, duplicate: Person, reason: str, actor: dict[str, str], source: dict[str, Any]
    ) -> Released:
        """Undo the merge of `duplicate` into this person: the doses and correction requests it
        carried go back, as they are now (amended, voided, answered since), and so do the doses
        a site recorded naming the duplicate while it was merged (the dose was given to the
        duplicate), the requests filed here since about any of those doses, and the officials'
        resolutions of their flags. Other doses recorded on this person after the merge stay.
        The duplicate is opened by undo_merge with what this returns, in the same transaction.

        Refused: a survivor merged on itself (undo that first) or erased, an erased duplicate, a
        duplicate not merged into this person, and a merge whose carried correction request was
        accepted since with a correction on this person's record (a dose recorded or details
        changed here), which an unmerge cannot take back."""
        self.check_open()
        if duplicate.id == self.id:
            raise InvalidValue("duplicate_person_id", "a person cannot be unmerged from itself")
        duplicate.check_not_erased_as("duplicate_person_id")
        carried = self.carried.get(str(duplicate.id))
        if carried is None or duplicate.merged_into != self.id:
            raise NotMerged(duplicate.id, self.id)
        named_here = [
            d
            for d, dose in self.doses.items()
            if dose.get("named_person_id") == str(duplicate.id) and d not in carried["doses"]
        ]
        released_ids = [d for d in [*carried["doses"], *named_here] if d in self.doses]
        for request_id, status_then in carried["corrections"].items():
            request = self.corrections.get(request_id)
            if (
                request is not None
                and status_then in OPEN_STATES
                and request["status"] == ACCEPTED
                and not _corrects_carried_dose(request, released_ids)
            ):
                raise MergeNotUndoable(
                    request_id,
                    "was carried by the merge and accepted since: its correction was made on "
                    "this person's record, which an unmerge cannot take back",
                )
        doses = [{k: v for k, v in self.doses[d].items() if k != "seq"} for d in released_ids]
        # A request filed here while merged about a dose going back is about the duplicate's
        # dose: it goes with the dose, to be answered there.
        filed_here = [
            r
            for r, request in self.corrections.items()
            if r not in carried["corrections"] and _corrects_carried_dose(request, released_ids)
        ]
        requests = [
            dict(self.corrections[r]) for r in [*carried["corrections"], *filed_here] if r in self.corrections
        ]
        resolutions = _resolutions_of(self.resolved_flags, released_ids)
        self._duplicate_released(
            duplicate_person_id=duplicate.id,
            doses=doses,
            corrections=requests,
            reason=reason,
            actor=actor,
            source=source,
            resolved_flags=resolutions or None,
        )
        return Released(doses, requests, resolutions)

    def undo_merge(
        self,
        survivor_id: UUID,
        doses: list[dict[str, Any]],
        corrections: list[dict[str, Any]],
        reason: str,
        actor: dict[str, str],
        source: dict[str, Any],
        resolved_flags: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Open again, with the doses, requests and flag resolutions the survivor released
        (release checks)."""
        self.check_not_erased_as("duplicate_person_id")
        if self.merged_into != survivor_id:
            raise NotMerged(self.id, survivor_id)
        self._merge_undone(
            survivor_person_id=survivor_id,
            doses=doses,
            corrections=corrections,
            reason=reason,
            actor=actor,
            source=source,
            resolved_flags=resolved_flags or None,
        )

    def check_not_erased_as(self, field: str) -> None:
        if self.erased:
            raise PersonErased(self.id, field)

    # --- data-quality flags (ledger.flags) --------------------------------------------------

    def flags(self) -> list[dict[str, Any]]:
        return flags_of(self.doses, self.details["birth_date"])

    def resolve_flag(
        self, dose_id: UUID, kind: str, reason: str, actor: dict[str, str], source: dict[str, Any]
    ) -> None:
        """An official looked at the flag: it is resolved for the dose as it is now."""
        self.check_open()
        if kind not in FLAG_KINDS:
            raise InvalidValue("kind", f"must be one of {', '.join(FLAG_KINDS)}")
        dose = self.dose(dose_id)
        flag = next((f for f in self.flags() if f["dose_id"] == str(dose_id) and f["kind"] == kind), None)
        if flag is None:
            raise InvalidValue("kind", f"dose {dose_id} has no {kind} flag")
        resolution = resolution_of(flag, dose)
        held = self.resolved_flags.get(flag_key(str(dose_id), kind))
        if held is not None and {"flag": held["flag"], "dose": held["dose"]} == resolution:
            raise FlagAlreadyResolved(dose_id, kind)
        self._flag_resolved(
            dose_id=dose_id, kind=kind, reason=reason, actor=actor, source=source, **resolution
        )

    def check_not_erased_again(self) -> None:
        if self.erased:
            raise PersonAlreadyErased(self.id)

    def erase(self, reason: str, actor: dict[str, str], source: dict[str, Any]) -> None:
        """The person's personal data is to be destroyed (the store destroys its key). A merged
        person may be erased too: its own stream still holds its details."""
        self.check_not_erased_again()
        # What the views route a request by outlives the claim it came from: the site a
        # missing dose was claimed at (no one's personal data without the claim).
        claim_sites = {
            rid: request["claim"].get("site_id")
            for rid, request in self.corrections.items()
            if request["kind"] == MISSING_DOSE and isinstance(request["claim"], dict)
        }
        self._erased(reason=reason, actor=actor, source=source, claim_sites=claim_sites)

    # --- correction requests: a citizen's claim is part of the record ----------------------

    def correction(self, request_id: UUID) -> dict[str, Any]:
        try:
            return self.corrections[str(request_id)]
        except KeyError:
            raise CorrectionNotFound(request_id) from None

    def open_correction_like(self, kind: str, claim: dict[str, Any]) -> dict[str, Any] | None:
        """An open request with the same kind and claimed values: a repeat joins it."""
        for request in self.corrections.values():
            if request["status"] in OPEN_STATES and request["kind"] == kind and request["claim"] == claim:
                return request
        return None

    def request_correction(
        self,
        request_id: UUID,
        kind: str,
        claim: dict[str, Any],
        evidence_ref: str | None,
        contact: str | None,
        channel: str,
        code_digest: str,
        filed_at: str,
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> None:
        self.check_open()
        if kind not in CORRECTION_KINDS:
            raise InvalidValue("kind", f"must be one of {', '.join(CORRECTION_KINDS)}")
        self._correction_requested(
            request_id=request_id,
            kind=str(kind),
            claim=claim,
            evidence_ref=evidence_ref,
            contact=contact,
            channel=channel,
            code_digest=code_digest,
            filed_at=filed_at,
            actor=actor,
            source=source,
        )

    def repeat_correction(
        self,
        request_id: UUID,
        channel: str,
        contact: str | None,
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> None:
        self.check_not_erased()
        self.correction(request_id)
        self._correction_repeated(
            request_id=request_id, channel=channel, contact=contact, actor=actor, source=source
        )

    def assign_correction(
        self, request_id: UUID, assignee: dict[str, str], actor: dict[str, str], source: dict[str, Any]
    ) -> None:
        self.check_not_erased()
        if self.correction(request_id)["status"] not in OPEN_STATES:
            raise CorrectionClosed(request_id)
        self._correction_assigned(request_id=request_id, assignee=assignee, actor=actor, source=source)

    def resolve_correction(
        self, request_id: UUID, outcome: str, reason: str, actor: dict[str, str], source: dict[str, Any]
    ) -> None:
        """Accepting is saved with the correction events it causes, in the same transaction."""
        self.check_not_erased()
        if self.correction(request_id)["status"] not in OPEN_STATES:
            raise CorrectionClosed(request_id)
        if outcome not in (ACCEPTED, REJECTED):
            raise InvalidValue("outcome", f"must be {ACCEPTED} or {REJECTED}")
        self._correction_resolved(
            request_id=request_id, outcome=str(outcome), reason=reason, actor=actor, source=source
        )

    # --- events: only assign (they re-run on every replay) ----------------------------------

    @event("CorrectionRequested")
    def _correction_requested(
        self,
        request_id: UUID,
        kind: str,
        claim: dict[str, Any],
        evidence_ref: str | None,
        contact: str | None,
        channel: str,
        code_digest: str,
        filed_at: str,
        actor: dict[str, str],
        source: dict[str, Any],
        salt: str | None = None,
        personal_digest: str | None = None,
    ) -> None:
        self.corrections[str(request_id)] = {
            "request_id": str(request_id),
            "kind": kind,
            "claim": claim,
            "status": str(CorrectionStatus.OPEN),
            "assignee": None,
            "filed_at": filed_at,
            "channel": channel,
            "repeats": 0,
            "outcome": None,
            "reason": None,
            "code_digest": code_digest,
        }

    @event("CorrectionRepeated")
    def _correction_repeated(
        self,
        request_id: UUID,
        channel: str,
        contact: str | None,
        actor: dict[str, str],
        source: dict[str, Any],
        salt: str | None = None,
        personal_digest: str | None = None,
    ) -> None:
        self.corrections[str(request_id)]["repeats"] += 1

    @event("CorrectionAssigned")
    def _correction_assigned(
        self, request_id: UUID, assignee: dict[str, str], actor: dict[str, str], source: dict[str, Any]
    ) -> None:
        self.corrections[str(request_id)].update(assignee=assignee, status=str(CorrectionStatus.ASSIGNED))

    @event("CorrectionResolved")
    def _correction_resolved(
        self, request_id: UUID, outcome: str, reason: str, actor: dict[str, str], source: dict[str, Any]
    ) -> None:
        self.corrections[str(request_id)].update(status=outcome, outcome=outcome, reason=reason)

    @event("DetailsCorrected")
    def _details_corrected(
        self,
        changes: dict[str, Any],
        reason: str,
        actor: dict[str, str],
        source: dict[str, Any],
        salt: str | None = None,
        personal_digest: str | None = None,
    ) -> None:
        self.details.update(changes)

    @event("DoseRecorded")
    def _dose_recorded(
        self,
        dose_id: UUID,
        vaccine: str,
        lot: str | None,
        administered_at: str,
        site_id: str,
        reported_dose_number: int | None,
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> None:
        self._seq += 1
        self.doses[str(dose_id)] = {
            "dose_id": str(dose_id),
            "vaccine": vaccine,
            "lot": lot,
            "administered_at": administered_at,
            "site_id": site_id,
            "reported_dose_number": reported_dose_number,
            "source": source,
            "seq": self._seq,
            "voided": False,
            # whom the site named, when a merge led the dose here (an unmerge gives it back)
            **({"named_person_id": source["named_person_id"]} if "named_person_id" in source else {}),
        }

    @event("DoseAmended")
    def _dose_amended(
        self,
        dose_id: UUID,
        changes: dict[str, Any],
        reason: str,
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> None:
        dose = self.doses[str(dose_id)]
        dose.update(changes)
        if source.get("kind") == "feed":
            # A feed's amendment restates the whole record: what its sender was warned of now
            # is what the dose carries (a merge takes it over with the dose).
            kept = {k: v for k, v in (dose.get("source") or {}).items() if k != "warnings"}
            dose["source"] = {**kept, **({"warnings": source["warnings"]} if source.get("warnings") else {})}

    @event("DoseVoided")
    def _dose_voided(self, dose_id: UUID, reason: str, actor: dict[str, str], source: dict[str, Any]) -> None:
        self.doses[str(dose_id)]["voided"] = True

    @event("DuplicateAbsorbed")
    def _duplicate_absorbed(
        self,
        duplicate_person_id: UUID,
        doses: list[dict[str, Any]],
        reason: str,
        actor: dict[str, str],
        source: dict[str, Any],
        corrections: list[dict[str, Any]] | None = None,
        salt: str | None = None,
        personal_digest: str | None = None,
    ) -> None:
        for dose in doses:
            self._seq += 1
            self.doses[dose["dose_id"]] = {**dose, "seq": self._seq}
        for request in corrections or ():  # absent from events stored before requests moved
            self.corrections[request["request_id"]] = dict(request)
        self.absorbed.append(duplicate_person_id)
        self.carried[str(duplicate_person_id)] = {
            "doses": [dose["dose_id"] for dose in doses],
            "corrections": {r["request_id"]: r["status"] for r in corrections or ()},
        }

    @event("MergedInto")
    def _merged_into(
        self, survivor_person_id: UUID, reason: str, actor: dict[str, str], source: dict[str, Any]
    ) -> None:
        self.merged_into = survivor_person_id

    @event("FlagResolutionsCarried")
    def _flag_resolutions_carried(
        self,
        duplicate_person_id: UUID,
        resolved_flags: dict[str, dict[str, Any]],
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> None:
        self.resolved_flags.update(resolved_flags)

    @event("DuplicateReleased")
    def _duplicate_released(
        self,
        duplicate_person_id: UUID,
        doses: list[dict[str, Any]],
        corrections: list[dict[str, Any]],
        reason: str,
        actor: dict[str, str],
        source: dict[str, Any],
        salt: str | None = None,
        personal_digest: str | None = None,
        resolved_flags: dict[str, dict[str, Any]] | None = None,  # absent before they moved
    ) -> None:
        for dose in doses:
            self.doses.pop(dose["dose_id"], None)
        for request in corrections:
            self.corrections.pop(request["request_id"], None)
        for key in resolved_flags or ():
            self.resolved_flags.pop(key, None)
        self.absorbed = [a for a in self.absorbed if a != duplicate_person_id]
        self.carried.pop(str(duplicate_person_id), None)

    @event("MergeUndone")
    def _merge_undone(
        self,
        survivor_person_id: UUID,
        doses: list[dict[str, Any]],
        corrections: list[dict[str, Any]],
        reason: str,
        actor: dict[str, str],
        source: dict[str, Any],
        salt: str | None = None,
        personal_digest: str | None = None,
        resolved_flags: dict[str, dict[str, Any]] | None = None,  # absent before they moved
    ) -> None:
        self.merged_into = None
        for dose in doses:
            known = self.doses.get(dose["dose_id"])
            if known is None:
                self._seq += 1
            # Its place among this person's doses is the one it had before the merge.
            self.doses[dose["dose_id"]] = {**dose, "seq": self._seq if known is None else known["seq"]}
        for request in corrections:
            self.corrections[request["request_id"]] = dict(request)
        self.resolved_flags.update(resolved_flags or {})

    @event("FlagResolved")
    def _flag_resolved(
        self,
        dose_id: UUID,
        kind: str,
        reason: str,
        flag: dict[str, Any],
        dose: dict[str, Any],
        actor: dict[str, str],
        source: dict[str, Any],
    ) -> None:
        self.resolved_flags[flag_key(str(dose_id), kind)] = {"flag": flag, "dose": dose, "reason": reason}

    @event("Erased")
    def _erased(
        self, reason: str, actor: dict[str, str], source: dict[str, Any], claim_sites: dict[str, Any]
    ) -> None:
        self.erased = True
        self.details = {k: (None if k in PERSONAL_DETAILS else v) for k, v in self.details.items()}
        self.corrections = {rid: {**request, "claim": None} for rid, request in self.corrections.items()}


@dataclass(frozen=True)
class Released:
    """What an unmerge gives back to the duplicate (Person.release → Person.undo_merge)."""

    doses: list[dict[str, Any]]
    corrections: list[dict[str, Any]]
    resolved_flags: dict[str, dict[str, Any]]


def _resolutions_of(resolved: dict[str, dict[str, Any]], dose_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The flag resolutions held for these doses (flag keys start with the dose id)."""
    doses = set(dose_ids)
    return {key: dict(held) for key, held in resolved.items() if dose_of_flag_key(key) in doses}


def _corrects_carried_dose(request: dict[str, Any], carried_doses: list[str]) -> bool:
    """Whether a request is (or, accepted, was) an amendment or void of a carried dose
    (which goes back with the dose, as it is)."""
    claim = request.get("claim")
    return request["kind"] == WRONG_DOSE and isinstance(claim, dict) and claim.get("dose_id") in carried_doses


# Each event class names its personal fields (ledger.personal, ledger.chain, the store's sealing).
for _name, _paths in PERSONAL.items():
    getattr(Person, _name).personal_paths = _paths
