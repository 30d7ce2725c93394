"""The DoseLedger application: one method per use case. It knows nothing of HTTP or SQL."""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from ledger import rules
from ledger.chain import canonical
from ledger.errors import (
    Conflict,
    Contention,
    DoseNotFound,
    InvalidValue,
    NationalIdTaken,
    PersonNotFound,
    SiteNotFound,
    SiteRecordConflict,
)
from ledger.keys import (
    NationalIdClaim,
    SiteRecord,
    dose_id_for,
    national_id_key,
    person_id_for_record,
    site_key,
)
from ledger.person import AMENDABLE, Person
from ledger.site import KINDS, PROVISIONAL, Site
from ledger.store import database_url, persistence_env

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """Who causes an event: a principal and the role it acted in."""

    principal_id: str
    role: str

    def as_data(self) -> dict[str, str]:
        return {"principal_id": self.principal_id, "role": self.role}


SYSTEM = Actor("system", "system")


@dataclass(frozen=True)
class Registration:
    person_id: UUID
    created: bool
    position: int | None


@dataclass(frozen=True)
class DoseReceipt:
    dose_id: UUID
    person_id: UUID
    position: int | None
    duplicate: bool


@dataclass(frozen=True)
class Written:
    """What a correction (amend, void, merge, details, site) wrote: where, and at what position."""

    aggregate_id: UUID
    position: int | None


class DoseLedger(Application[UUID]):
    name = "DoseLedger"
    max_attempts = 8  # bounded retry on optimistic-concurrency conflicts
    # Recently used people stay in memory; a cached one is fast-forwarded with the events
    # stored since (one query), so several processes can share a store safely.
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000"}

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._listed_sites: set[str] = set()  # sites never leave the directory: safe to remember

    def construct_env(self, name: str, env: Any = None) -> Any:
        env = dict(env or {})
        return super().construct_env(name, {**persistence_env(database_url(env)), **env})

    # --- people ---------------------------------------------------------------------------

    def register_person(self, details: dict[str, Any], *, actor: Actor = SYSTEM,
                        channel: str = "api", source: dict[str, Any] | None = None,
                        person_id: UUID | None = None) -> Registration:
        """An existing national id returns its person instead of making a second one.

        A caller that retries may give its own person_id: the retry then finds the same person.
        """
        details = rules.person_details(details)

        def attempt() -> Registration:
            if details["national_id"]:
                holder = self._national_id_holder(details["national_id"])
                if holder is not None:
                    return Registration(holder, False, self.head())
            if person_id is not None and self._get(Person, person_id) is not None:
                return Registration(person_id, False, self.head())
            person, claims = self._new_person(person_id or uuid4(), details, actor, channel, source)
            return Registration(person.id, True, self._save(person, *claims))

        return self._with_retries(attempt)

    def correct_details(self, person_id: UUID, changes: dict[str, Any], reason: str, *,
                        actor: Actor = SYSTEM, source: dict[str, Any] | None = None) -> Written:
        reason = rules.reason(reason)

        def attempt() -> Written:
            person = self._person(person_id)
            checked = rules.detail_changes(changes, person.details)
            extra: list[Any] = []
            if checked.get("national_id"):
                extra.append(self._claim_national_id(checked["national_id"], person.id))
            old_nid = person.details["national_id"]
            if "national_id" in checked and old_nid:
                old_claim = self.repository.get(national_id_key(old_nid))
                old_claim.reassign(None, reason)
                extra.append(old_claim)
            person.correct_details(checked, reason, actor.as_data(), source or {"kind": "api"})
            return Written(person.id, self._save(person, *extra))

        return self._with_retries(attempt)

    def merge_persons(self, survivor_id: UUID, duplicate_id: UUID, reason: str, *,
                      actor: Actor = SYSTEM, source: dict[str, Any] | None = None) -> Written:
        """The duplicate's doses move to the survivor; both streams say so, in one transaction."""
        reason = rules.reason(reason)

        def attempt() -> Written:
            survivor = self._person(survivor_id, field="person_id")
            duplicate = self._person(duplicate_id, field="duplicate_person_id")
            src = source or {"kind": "merge"}
            survivor.absorb(duplicate, reason, actor.as_data(), src)
            duplicate.merge_into(survivor.id, reason, actor.as_data(), src)
            return Written(survivor.id, self._save(survivor, duplicate))

        return self._with_retries(attempt)

    # --- doses ----------------------------------------------------------------------------

    def record_dose(
        self,
        *,
        site_id: str,
        site_record_id: str,
        vaccine: str,
        administered_at: Any,
        lot: str | None = None,
        dose_number: int | None = None,
        person_id: UUID | str | None = None,
        person: dict[str, Any] | None = None,
        actor: Actor = SYSTEM,
        source: dict[str, Any] | None = None,
    ) -> DoseReceipt:
        """Record one dose, by person id or with an inline registration.

        The same site record again returns the first result and writes nothing; the same
        record with other content is a conflict naming the stored dose. An unknown site is
        accepted and listed provisional in the same transaction.
        """
        site_id = rules.text(site_id, "site_id", max_len=64)  # type: ignore[assignment]
        site_record_id = rules.text(site_record_id, "site_record_id", max_len=128)  # type: ignore[assignment]
        product = rules.vaccine(vaccine)
        lot = rules.text(lot, "lot", max_len=64, required=False)
        reported = rules.dose_number(dose_number)
        administered = rules.administered_at(administered_at)
        if (person_id is None) == (person is None):
            raise InvalidValue("person_id", "give either person_id or a person to register")
        details = rules.person_details(person, "person.") if person is not None else None
        pid = _uuid(person_id, "person_id") if person_id is not None else None
        digest = hashlib.sha256(canonical({
            "person_id": pid, "person": details, "vaccine": product.code, "lot": lot,
            "administered_at": administered, "dose_number": reported,
        })).hexdigest()
        source = source or {"kind": "site", "site_id": site_id, "site_record_id": site_record_id}

        def attempt() -> DoseReceipt:
            record = self._site_record(site_id, site_record_id)
            if record is not None:
                if record.content_digest != digest:
                    raise SiteRecordConflict(site_id, site_record_id, record.id, record.person_id)
                return DoseReceipt(record.id, self._survivor_of(record.person_id), self.head(), True)
            extra: list[Any] = []
            if pid is not None:
                subject = self._person(pid, follow_merges=True)
            else:
                assert details is not None
                subject, extra = self._person_for(details, person_id_for_record(site_id, site_record_id),
                                                  actor, source)
            rules.administered_at(administered, born=subject.details["birth_date"])
            extra += self._provisional_site(site_id, subject.details["province"], actor, source)
            claim = SiteRecord.claim(subject.id, site_id, site_record_id, digest)
            subject.record_dose(claim.id, product.code, lot, administered, site_id, reported,
                                actor.as_data(), source)
            return DoseReceipt(claim.id, subject.id, self._save(subject, claim, *extra), False)

        return self._with_retries(attempt)

    def amend_dose(self, dose_id: UUID | str, changes: dict[str, Any], reason: str, *,
                   actor: Actor = SYSTEM, source: dict[str, Any] | None = None) -> Written:
        reason = rules.reason(reason)
        dose_id = _uuid(dose_id, "dose_id")
        if not isinstance(changes, dict) or not changes:
            raise InvalidValue("changes", "must name at least one field to change")
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "dose_number":
                name = "reported_dose_number"
            if name not in AMENDABLE:
                raise InvalidValue(name, "is not a field that an amendment can change")
            if name == "vaccine":
                value = rules.vaccine(value).code
            elif name == "administered_at":
                value = rules.administered_at(value)
            elif name == "lot":
                value = rules.text(value, "lot", max_len=64, required=False)
            elif name == "site_id":
                value = rules.text(value, "site_id", max_len=64)
            else:
                value = rules.dose_number(value, "dose_number")
            checked[name] = value

        def attempt() -> Written:
            person = self._holder_of(dose_id)
            if "administered_at" in checked:
                rules.administered_at(checked["administered_at"], born=person.details["birth_date"])
            extra = []
            if "site_id" in checked:
                extra = self._provisional_site(checked["site_id"], person.details["province"],
                                               actor, source or {"kind": "amendment"})
            person.amend_dose(dose_id, checked, reason, actor.as_data(), source or {"kind": "api"})
            return Written(person.id, self._save(person, *extra))

        return self._with_retries(attempt)

    def void_dose(self, dose_id: UUID | str, reason: str, *, actor: Actor = SYSTEM,
                  source: dict[str, Any] | None = None) -> Written:
        """A dose entered in error leaves the certificate; its events stay in the stream."""
        reason = rules.reason(reason)
        dose_id = _uuid(dose_id, "dose_id")

        def attempt() -> Written:
            person = self._holder_of(dose_id)
            person.void_dose(dose_id, reason, actor.as_data(), source or {"kind": "api"})
            return Written(person.id, self._save(person))

        return self._with_retries(attempt)

    def dose_origin(self, dose_id: UUID | str) -> tuple[UUID, str]:
        """(current holder, site that recorded it) — what access checks need to know."""
        dose_id = _uuid(dose_id, "dose_id")
        record = self._get(SiteRecord, dose_id)
        if record is None:
            raise DoseNotFound(dose_id)
        return self._survivor_of(record.person_id), record.site_id

    # --- sites ----------------------------------------------------------------------------

    def register_site(self, site_id: str, *, name: str, kind: str, province: str,
                      district: str | None = None, actor: Actor = SYSTEM) -> Written:
        site_id = rules.text(site_id, "site_id", max_len=64)  # type: ignore[assignment]
        name = rules.text(name, "name")  # type: ignore[assignment]
        if kind not in KINDS or kind == PROVISIONAL:
            raise InvalidValue("kind", "must be official or mobile (provisional sites come from doses)")
        province = rules.province(province)
        district = rules.text(district, "district", max_len=100, required=False)
        if self._get(Site, site_key(site_id)) is not None:
            raise Conflict("site_id", f"site {site_id!r} is already in the directory; review it instead")
        site = Site.add_to_directory(site_key(site_id), site_id, name, kind, province, district,
                                     actor.as_data(), {"kind": "directory"})
        try:
            position = self._save(site)
        except IntegrityError:
            raise Conflict("site_id", f"site {site_id!r} is already in the directory") from None
        self._listed_sites.add(site_id)
        return Written(site.id, position)

    def review_site(self, site_id: str, decision: str, *, kind: str | None = None,
                    name: str | None = None, province: str | None = None,
                    district: str | None = None, reason: str | None = None,
                    actor: Actor = SYSTEM) -> Written:
        province = rules.province(province) if province is not None else None
        name = rules.text(name, "name", required=False)
        reason = rules.text(reason, "reason", max_len=1000, required=False)

        def attempt() -> Written:
            site = self._get(Site, site_key(site_id))
            if site is None:
                raise SiteNotFound(site_id)
            site.review(decision, kind, name, province, district, reason, actor.as_data())
            return Written(site.id, self._save(site))

        return self._with_retries(attempt)

    def site(self, site_id: str) -> Site | None:
        return self._get(Site, site_key(site_id))

    def person(self, person_id: UUID | str) -> Person:
        """The person's current state (following no merge): for replay and checks."""
        return self._person(_uuid(person_id, "person_id"), follow_merges=False, allow_merged=True)

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    # --- internals ------------------------------------------------------------------------

    def _with_retries(self, attempt: Callable[[], T]) -> T:
        for n in range(self.max_attempts):
            try:
                return attempt()
            except IntegrityError:
                # Another writer got there first: re-read and decide again.
                time.sleep(random.uniform(0, 0.002 * 2**n))
        raise Contention("too many concurrent writers on the same records; retry the request")

    def _save(self, *aggregates: Any) -> int | None:
        recordings = self.save(*aggregates)
        return recordings[-1].notification.id if recordings and recordings[-1].notification else None

    def _get(self, cls: type[T], aggregate_id: UUID) -> T | None:
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def _site_record(self, site_id: str, site_record_id: str) -> SiteRecord | None:
        return self._get(SiteRecord, dose_id_for(site_id, site_record_id))

    def _national_id_holder(self, national_id: str) -> UUID | None:
        claim = self._get(NationalIdClaim, national_id_key(national_id))
        return None if claim is None or claim.person_id is None else self._survivor_of(claim.person_id)

    def _person(self, person_id: UUID, *, field: str = "person_id", follow_merges: bool = False,
                allow_merged: bool = False) -> Person:
        for _ in range(16):
            person = self._get(Person, person_id)
            if person is None:
                raise PersonNotFound(person_id, field)
            if person.merged_into is None or allow_merged:
                return person
            if not follow_merges:
                person._check_open()  # raises PersonMerged naming the survivor
            person_id = person.merged_into
        raise PersonNotFound(person_id, field)

    def _survivor_of(self, person_id: UUID) -> UUID:
        return self._person(person_id, follow_merges=True).id

    def _holder_of(self, dose_id: UUID) -> Person:
        record = self._get(SiteRecord, dose_id)
        if record is None:
            raise DoseNotFound(dose_id)
        return self._person(record.person_id, follow_merges=True)

    def _new_person(self, person_id: UUID, details: dict[str, Any], actor: Actor, channel: str,
                    source: dict[str, Any] | None) -> tuple[Person, list[Any]]:
        person = Person.register(person_id, details, channel, actor.as_data(),
                                 source or {"kind": channel})
        nid = details["national_id"]
        return person, [self._claim_national_id(nid, person_id)] if nid else []

    def _claim_national_id(self, national_id: str, person_id: UUID) -> NationalIdClaim:
        claim = self._get(NationalIdClaim, national_id_key(national_id))
        if claim is None:
            return NationalIdClaim.claim(national_id, person_id)
        if claim.person_id is not None:
            raise NationalIdTaken(self._survivor_of(claim.person_id))
        claim.reassign(person_id, "claimed by a registration")  # released by a correction earlier
        return claim

    def _person_for(self, details: dict[str, Any], fallback_id: UUID, actor: Actor,
                    source: dict[str, Any]) -> tuple[Person, list[Any]]:
        """The national id's person if there is one, else a new person registered inline."""
        if details["national_id"]:
            holder = self._national_id_holder(details["national_id"])
            if holder is not None:
                return self._person(holder, follow_merges=True), []
        return self._new_person(fallback_id, details, actor, "site", source)

    def _provisional_site(self, site_id: str, province_hint: str, actor: Actor,
                          source: dict[str, Any]) -> list[Site]:
        """A site missing from the directory is listed provisional, never a reason to refuse."""
        if site_id in self._listed_sites:
            return []
        if self._get(Site, site_key(site_id)) is not None:
            self._listed_sites.add(site_id)
            return []
        return [Site.add_to_directory(site_key(site_id), site_id, None, PROVISIONAL, province_hint,
                                      None, actor.as_data(), source)]


def _uuid(value: UUID | str, field: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidValue(field, f"must be a UUID, got {value!r}") from None
