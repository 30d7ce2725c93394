"""What the ledger refuses, each naming the field the sender can fix."""

from __future__ import annotations

from uuid import UUID


class LedgerError(Exception):
    """A command the ledger refuses. `field` names the input at fault (dotted path)."""

    kind = "invalid"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidValue(LedgerError):
    kind = "invalid"


class UnknownVaccine(LedgerError):
    kind = "unknown-vaccine"

    def __init__(self, value: str, field: str = "vaccine"):
        super().__init__(field, f"unknown vaccine code or name: {value!r}")


class NotFound(LedgerError):
    kind = "not-found"


class PersonNotFound(NotFound):
    def __init__(self, person_id: UUID | str, field: str = "person_id"):
        super().__init__(field, f"no person with id {person_id}")


class DoseNotFound(NotFound):
    def __init__(self, dose_id: UUID | str, field: str = "dose_id"):
        super().__init__(field, f"no dose with id {dose_id}")


class SiteNotFound(NotFound):
    def __init__(self, site_id: str, field: str = "site_id"):
        super().__init__(field, f"no site {site_id!r}")


class CorrectionNotFound(NotFound):
    def __init__(self, request_id: UUID | str, field: str = "request_id"):
        super().__init__(field, f"no correction request {request_id}")


class Conflict(LedgerError):
    kind = "conflict"


class OutOfScope(LedgerError):
    """The person is in a province outside the caller's scope, as the decision read it (a merge
    may have moved a dose to another province's person since the caller last looked)."""

    kind = "forbidden"

    def __init__(self, province: str | None, field: str):
        super().__init__(field, f"this token may not act on province {province!r}")


class SiteRecordConflict(Conflict):
    """The same (site_id, site_record_id) was recorded before with other content."""

    def __init__(self, site_id: str, site_record_id: str, dose_id: UUID, person_id: UUID):
        super().__init__(
            "site_record_id",
            f"site record {site_id}/{site_record_id} is already dose {dose_id} of person "
            f"{person_id} with different content; amend that dose to change it",
        )
        self.dose_id = dose_id
        self.person_id = person_id


class DoseAlreadyVoided(Conflict):
    def __init__(self, dose_id: UUID):
        super().__init__("dose_id", f"dose {dose_id} is voided")


class NationalIdTaken(Conflict):
    def __init__(self, national_id_holder: UUID, field: str = "national_id"):
        super().__init__(field, f"this national id belongs to person {national_id_holder}")
        self.person_id = national_id_holder


class PersonMerged(Conflict):
    def __init__(self, person_id: UUID, survivor_id: UUID, field: str = "person_id"):
        super().__init__(field, f"person {person_id} was merged into {survivor_id}")
        self.survivor_id = survivor_id


class PersonErased(Conflict):
    """The person's personal data was erased: the record takes no further commands."""

    def __init__(self, person_id: UUID, field: str = "person_id"):
        super().__init__(field, f"person {person_id} was erased")


class PersonAlreadyErased(PersonErased):
    def __init__(self, person_id: UUID, field: str = "person_id"):
        Conflict.__init__(self, field, f"person {person_id} is already erased")


class AmbiguousPerson(Conflict):
    """Several people share the name, birth date and phone a record gives, and nothing else tells."""

    kind = "ambiguous-person"

    def __init__(self, candidates: list[UUID], field: str = "person"):
        super().__init__(
            field,
            f"matches {len(candidates)} people by name, birth date and phone "
            f"({', '.join(str(c) for c in candidates)}); give the national id to choose",
        )
        self.candidates = candidates


class CorrectionClosed(Conflict):
    def __init__(self, request_id: UUID):
        super().__init__("request_id", f"correction request {request_id} is already resolved")


class Contention(Exception):
    """Writers kept colliding on the same records beyond the retry budget (try again)."""


class NotMerged(LedgerError):
    """An unmerge names a person not merged into the survivor (never, or undone already)."""

    def __init__(self, duplicate_id: UUID, survivor_id: UUID, field: str = "duplicate_person_id"):
        super().__init__(field, f"person {duplicate_id} is not merged into person {survivor_id}")


class MergeNotUndoable(Conflict):
    """What the merge carried was acted on since in a way an unmerge cannot take back."""

    def __init__(self, request_id: str, why: str, field: str = "duplicate_person_id"):
        super().__init__(field, f"correction request {request_id} {why}")


class FlagAlreadyResolved(Conflict):
    def __init__(self, dose_id: UUID, kind: str, field: str = "kind"):
        super().__init__(field, f"the {kind} flag of dose {dose_id} is already resolved as it stands")
