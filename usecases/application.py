"""The DoseLedger application: one method per use case. It knows nothing of HTTP or SQL."""

from __future__ import annotations

import hmac
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from ledger import rules
from ledger.values import SYSTEM, Actor
from ledger.errors import (
    AmbiguousPerson,
    Conflict,
    CorrectionNotFound,
    Contention,
    DoseNotFound,
    InvalidValue,
    LedgerError,
    NationalIdTaken,
    PersonNotFound,
    SiteNotFound,
    SiteRecordConflict,
)
from ledger.corrections import code_digest, correction_claim, verification_code
from ledger.keys import (
    CorrectionTicket,
    IdentityKey,
    NationalIdClaim,
    SiteRecord,
    identity_key,
    national_id_key,
    person_id_for_record,
    site_key,
)
from ledger.person import ACCEPTED, MISSING_DOSE, OPEN_STATES, WRONG_DOSE, Person
from ledger.recording import DoseReport, as_uuid, dose_changes, dose_report
from ledger.site import KINDS, PROVISIONAL, Site
from store import library
from store.event_store import EventStore
from store.sqlite import in_wal_mode
from store.url import database_url, persistence_env
from store.transcoding import OrjsonTranscoder
from usecases.working_set import WorkingSet

T = TypeVar("T")



# What a retro import may match a person on when no national id tells (ledger.keys.identity_key).
IDENTITY_FIELDS = ("full_name", "birth_date", "phone")


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
class DoseOutcome:
    """One item of a batch: created | duplicate | conflict | rejected."""

    status: str
    receipt: DoseReceipt | None = None
    error: LedgerError | None = None

    @classmethod
    def refused(cls, error: LedgerError) -> DoseOutcome:
        return cls("conflict" if isinstance(error, SiteRecordConflict) else "rejected", error=error)


@dataclass(frozen=True)
class CorrectionFiled:
    """The answer to a filed claim. A repeat of an open claim is linked to it: no new code."""

    request_id: UUID
    person_id: UUID
    code: str | None  # shown once, to the citizen; only its digest is stored
    linked: bool
    filed_at: str
    position: int | None


@dataclass(frozen=True)
class Written:
    """What a correction (amend, void, merge, details, site) wrote: where, and at what position."""

    aggregate_id: UUID
    position: int | None


class DoseLedger(Application[UUID]):
    name = "DoseLedger"
    max_attempts = 16  # bounded retry on optimistic-concurrency conflicts (about 1 s at worst)
    # Recently used people stay in memory; a cached one is fast-forwarded with the events
    # stored since (one query), so several processes can share a store safely.
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000"}
    recorder: EventStore  # store.sqlite or store.postgres, named by the store URL

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._listed_sites: set[str] = set()  # sites never leave the directory: safe to remember

    def construct_transcoder(self) -> OrjsonTranscoder:
        # Same bytes as the library's JSONTranscoder, encoded ~35% faster (bench/transcoding.py).
        return OrjsonTranscoder()

    def construct_recorder(self) -> Any:
        if self.env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
            in_wal_mode(self.env.get("SQLITE_DBNAME") or "")
        return super().construct_recorder()

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
            ws = self._working_set()
            if details["national_id"]:
                holder = self._national_id_holder(ws, details["national_id"])
                if holder is not None:
                    return Registration(holder, False, self.head())
            if person_id is not None and ws.get(Person, person_id) is not None:
                return Registration(person_id, False, self.head())
            person = self._new_person(ws, person_id or uuid4(), details, actor, channel, source)
            return Registration(person.id, True, self._save(*ws.pending()))

        return self._with_retries(attempt)

    def correct_details(self, person_id: UUID | str, changes: dict[str, Any], reason: str, *,
                        actor: Actor = SYSTEM, source: dict[str, Any] | None = None) -> Written:
        reason = rules.reason(reason)
        person_id = as_uuid(person_id, "person_id")

        def attempt() -> Written:
            ws = self._working_set()
            person = self._person(ws, person_id)
            checked = rules.detail_changes(changes, person.details)
            self._correct_details(ws, person, checked, reason, actor, source or {"kind": "api"})
            return Written(person.id, self._save(*ws.pending()))

        return self._with_retries(attempt)

    def merge_persons(self, survivor_id: UUID | str, duplicate_id: UUID | str, reason: str, *,
                      actor: Actor = SYSTEM, source: dict[str, Any] | None = None) -> Written:
        """The duplicate's doses move to the survivor; both streams say so, in one transaction."""
        reason = rules.reason(reason)
        survivor_id = as_uuid(survivor_id, "person_id")
        duplicate_id = as_uuid(duplicate_id, "duplicate_person_id")

        def attempt() -> Written:
            ws = self._working_set()
            survivor = self._person(ws, survivor_id, field="person_id")
            duplicate = self._person(ws, duplicate_id, field="duplicate_person_id")
            src = source or {"kind": "merge"}
            survivor.absorb(duplicate, reason, actor.as_data(), src)
            duplicate.merge_into(survivor.id, reason, actor.as_data(), src)
            ws.changed(survivor, duplicate)
            return Written(survivor.id, self._save(*ws.pending()))

        return self._with_retries(attempt)

    # --- correction requests --------------------------------------------------------------

    def request_correction(self, person_id: UUID | str, kind: str, claim: dict[str, Any], *,
                           evidence_ref: str | None = None, contact: str | None = None,
                           channel: str = "portal", filed_at: Any = None,
                           actor: Actor = SYSTEM) -> CorrectionFiled:
        """File a citizen's claim. The same claim while one is open joins it instead."""
        person_id = as_uuid(person_id, "person_id")
        evidence_ref = rules.text(evidence_ref, "evidence_ref", max_len=300, required=False)
        contact = rules.text(contact, "contact", max_len=200, required=False)
        channel = rules.text(channel, "channel", max_len=40)  # type: ignore[assignment]
        filed = rules.administered_at(filed_at, "filed_at") if filed_at else rules.now_ict().replace(
            microsecond=0).isoformat()

        def attempt() -> CorrectionFiled:
            ws = self._working_set()
            person = self._person(ws, person_id, follow_merges=True)
            checked = correction_claim(kind, claim, person)
            source = {"kind": "correction_request", "channel": channel}
            existing = person.open_correction_like(kind, checked)
            if existing is not None:
                person.repeat_correction(UUID(existing["request_id"]), channel, contact,
                                         actor.as_data(), source)
                ws.changed(person)
                return CorrectionFiled(UUID(existing["request_id"]), person.id, None, True,
                                       existing["filed_at"], self._save(*ws.pending()))
            request_id = uuid4()
            code = verification_code()
            person.request_correction(request_id, kind, checked, evidence_ref, contact, channel,
                                      code_digest(code), filed, actor.as_data(),
                                      {**source, "request_id": str(request_id)})
            ws.changed(person, CorrectionTicket.issue(request_id, person.id, code_digest(code)))
            return CorrectionFiled(request_id, person.id, code, False, filed, self._save(*ws.pending()))

        return self._with_retries(attempt)

    def assign_correction(self, request_id: UUID | str, assignee: dict[str, str], *,
                          actor: Actor = SYSTEM) -> Written:
        """Give a request to a province or a site to work."""
        request_id = as_uuid(request_id, "request_id")
        if not isinstance(assignee, dict) or len(assignee) != 1 or not {"province", "site"} & set(assignee):
            raise InvalidValue("assignee", "must be {\"province\": code} or {\"site\": site_id}")
        if "province" in assignee:
            assignee = {"province": rules.province(assignee["province"], "assignee.province")}
        else:
            assignee = {"site": rules.text(assignee["site"], "assignee.site", max_len=64)}  # type: ignore[dict-item]

        def attempt() -> Written:
            ws = self._working_set()
            person = self._ticket_holder(ws, request_id)
            person.assign_correction(request_id, assignee, actor.as_data(),
                                     {"kind": "correction_request", "request_id": str(request_id)})
            ws.changed(person)
            return Written(person.id, self._save(*ws.pending()))

        return self._with_retries(attempt)

    def resolve_correction(self, request_id: UUID | str, outcome: str, reason: str, *,
                           actor: Actor = SYSTEM) -> Written:
        """Accepted: the correction it claims is made in the same transaction. Rejected: a reason."""
        request_id = as_uuid(request_id, "request_id")
        reason = rules.reason(reason)

        def attempt() -> Written:
            ws = self._working_set()
            person = self._ticket_holder(ws, request_id)
            request = person.correction(request_id)
            source = {"kind": "correction_request", "request_id": str(request_id)}
            if outcome == ACCEPTED and request["status"] in OPEN_STATES:
                self._apply_claim(ws, person, request_id, request, reason, actor, source)
            person.resolve_correction(request_id, outcome, reason, actor.as_data(), source)
            ws.changed(person)
            return Written(person.id, self._save(*ws.pending()))

        return self._with_retries(attempt)

    def correction(self, request_id: UUID | str) -> dict[str, Any]:
        """A request as its workers see it: the claim, status, assignee, person and province."""
        request_id = as_uuid(request_id, "request_id")
        ws = self._working_set()
        person = self._ticket_holder(ws, request_id)
        request = dict(person.correction(request_id))
        request.pop("code_digest")
        return {**request, "person_id": str(person.id), "province": person.details["province"]}

    def correction_status(self, request_id: UUID | str, code: str) -> dict[str, Any]:
        """For a citizen with the id and code given at filing: the status, no personal data."""
        try:
            request_id = as_uuid(request_id, "request_id")
        except InvalidValue:
            raise CorrectionNotFound(request_id) from None
        ws = self._working_set()
        ticket = ws.get(CorrectionTicket, request_id)
        # A wrong code and an unknown id answer alike: the id alone reveals nothing.
        if ticket is None or not isinstance(code, str) or not hmac.compare_digest(
                ticket.code_digest, code_digest(code)):
            raise CorrectionNotFound(request_id)
        request = self._person(ws, ticket.person_id, follow_merges=True).correction(request_id)
        return {"request_id": str(request_id), "status": request["status"], "kind": request["kind"],
                "filed_at": request["filed_at"], "outcome": request["outcome"],
                "reason": request["reason"], "repeats": request["repeats"]}

    def _ticket_holder(self, ws: WorkingSet, request_id: UUID) -> Person:
        ticket = ws.get(CorrectionTicket, request_id)
        if ticket is None:
            raise CorrectionNotFound(request_id)
        return self._person(ws, ticket.person_id, follow_merges=True)

    def _apply_claim(self, ws: WorkingSet, person: Person, request_id: UUID,
                     request: dict[str, Any], reason: str, actor: Actor,
                     source: dict[str, Any]) -> None:
        claim = request["claim"]
        if request["kind"] == MISSING_DOSE:
            record_id = f"correction-{request_id}"
            claim_key = SiteRecord.claim(person.id, claim["site_id"], record_id, f"correction:{request_id}")
            person.record_dose(claim_key.id, claim["vaccine"], claim.get("lot"), claim["administered_at"],
                               claim["site_id"], claim.get("dose_number"), actor.as_data(), source)
            ws.changed(claim_key, *self._provisional_site(ws, claim["site_id"],
                                                          person.details["province"], actor, source))
        elif request["kind"] == WRONG_DOSE:
            dose_id = UUID(claim["dose_id"])
            if claim.get("not_given"):
                person.void_dose(dose_id, reason, actor.as_data(), source)
            else:
                person.amend_dose(dose_id, claim["changes"], reason, actor.as_data(), source)
        else:
            changes = {k: v for k, v in claim["changes"].items() if person.details.get(k) != v}
            self._correct_details(ws, person, changes, reason, actor, source)

    def _correct_details(self, ws: WorkingSet, person: Person, checked: dict[str, Any],
                         reason: str, actor: Actor, source: dict[str, Any]) -> None:
        old_nid = person.details["national_id"]
        if checked.get("national_id"):
            self._claim_national_id(ws, checked["national_id"], person.id)
        if "national_id" in checked and old_nid:
            old_claim = ws.get(NationalIdClaim, national_id_key(old_nid))
            if old_claim is not None:
                old_claim.reassign(None, reason)
                ws.changed(old_claim)
        before = identity_key(*(person.details[k] for k in IDENTITY_FIELDS))
        person.correct_details(checked, reason, actor.as_data(), source)
        after = identity_key(*(person.details[k] for k in IDENTITY_FIELDS))
        if after != before:  # listed under the new name, birth date or phone only
            old_key = ws.get(IdentityKey, before)
            if old_key is not None:
                old_key.leave(person.id, reason)
                ws.changed(old_key)
            ws.changed(self._identity_joined(ws, person))
        ws.changed(person)

    # --- doses ----------------------------------------------------------------------------

    def record_dose(self, *, actor: Actor = SYSTEM, source: dict[str, Any] | None = None,
                    **fields: Any) -> DoseReceipt:
        """Record one dose, by `person_id` or with an inline `person` registration.

        Fields: site_id, site_record_id, vaccine, administered_at, lot, dose_number, and
        person_id or person. The same site record again returns the first result and writes
        nothing; the same record with other content is a conflict naming the stored dose. An
        unknown site is accepted and listed provisional in the same transaction.
        """
        return self._record_one(dose_report(fields, source), actor)

    def record_doses(self, items: list[dict[str, Any]], *, actor: Actor = SYSTEM,
                     sources: list[dict[str, Any] | None] | None = None,
                     match_identity: bool = False, dry_run: bool = False) -> list[DoseOutcome]:
        """Record many doses: one outcome per item, good items stored even when others are not.

        The accepted items are saved in one transaction. If another writer got to one of
        the same people first, each item is retried on its own.

        match_identity: an inline person without a known national id is the one person
        already registered with the same name, birth date and phone (several: the item is
        refused naming them). Retro imports want this; a site's own records do not.
        dry_run: decide every item, store nothing ("created" means "would be created").
        """
        outcomes: list[DoseOutcome | None] = [None] * len(items)
        reports: list[tuple[int, DoseReport]] = []
        for i, fields in enumerate(items):
            try:
                reports.append((i, dose_report(fields, sources[i] if sources else None)))
            except LedgerError as error:
                outcomes[i] = DoseOutcome.refused(error)
        decided = self.record_reports([r for _, r in reports], [actor] * len(reports),
                                      match_identity=match_identity, dry_run=dry_run)
        for (i, _), outcome in zip(reports, decided):
            outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def record_reports(self, reports: list[DoseReport], actors: list[Actor], *,
                       match_identity: bool = False, dry_run: bool = False) -> list[DoseOutcome]:
        """Decide checked reports together and save them in one transaction (group commit)."""
        ws = self._working_set()
        self._prefetch_for(ws, reports)
        outcomes: list[DoseOutcome] = []
        taken: list[int] = []
        for n, (report, actor) in enumerate(zip(reports, actors)):
            try:
                receipt = self._take_dose(ws, report, actor, match_identity)
            except LedgerError as error:
                outcomes.append(DoseOutcome.refused(error))
                continue
            except IntegrityError:  # saved by another writer meanwhile: decide it on fresh reads
                if not dry_run:
                    outcomes.append(self._record_alone(report, actor, match_identity))
                    continue
                try:
                    receipt = self._take_dose(self._working_set(), report, actor, match_identity)
                except LedgerError as error:
                    outcomes.append(DoseOutcome.refused(error))
                    continue
            outcomes.append(DoseOutcome("duplicate" if receipt.duplicate else "created", receipt))
            if not receipt.duplicate:
                taken.append(n)
        duplicates = [n for n, o in enumerate(outcomes) if o.status == "duplicate" and o.receipt
                      and o.receipt.position is None]
        if duplicates:
            head = self.head()
            for n in duplicates:
                r = outcomes[n].receipt
                assert r is not None
                outcomes[n] = DoseOutcome("duplicate", DoseReceipt(r.dose_id, r.person_id, head, True))
        if not taken or dry_run:
            return outcomes
        try:
            position = self._save(*ws.pending())
        except IntegrityError:
            # Another writer got to one of these people first: each item on its own, with retries.
            for n in taken:
                outcomes[n] = self._record_alone(reports[n], actors[n], match_identity)
            return outcomes
        for n in taken:
            receipt = outcomes[n].receipt
            assert receipt is not None
            outcomes[n] = DoseOutcome("created", DoseReceipt(receipt.dose_id, receipt.person_id,
                                                              position, False))
        return outcomes

    def _prefetch_for(self, ws: WorkingSet, reports: list[DoseReport]) -> None:
        """Two queries instead of several per dose: the keys and people first, then whom they name."""
        ids: list[UUID] = []
        for report in reports:
            ids.append(report.dose_id)
            ids.append(site_key(report.site_id))
            if report.person_id is not None:
                ids.append(report.person_id)
            elif report.person is not None:
                ids.append(person_id_for_record(report.site_id, report.site_record_id))
                ids.append(identity_key(*(report.person[k] for k in IDENTITY_FIELDS)))
                if report.person["national_id"]:
                    ids.append(national_id_key(report.person["national_id"]))
        ws.prefetch(ids)
        named: list[UUID] = []
        for i in ids:
            found = ws.get(object, i)
            named.append(getattr(found, "person_id", None))
            named.extend(getattr(found, "person_ids", ()))  # an identity key's people
        ws.prefetch(i for i in named if isinstance(i, UUID))

    def _record_one(self, report: DoseReport, actor: Actor, match_identity: bool = False) -> DoseReceipt:
        """One dose in its own transaction, decided again on fresh reads if another writer wins."""

        def attempt() -> DoseReceipt:
            ws = self._working_set()
            receipt = self._take_dose(ws, report, actor, match_identity)
            position = self.head() if receipt.duplicate else self._save(*ws.pending())
            return DoseReceipt(receipt.dose_id, receipt.person_id, position, receipt.duplicate)

        return self._with_retries(attempt)

    def _record_alone(self, report: DoseReport, actor: Actor, match_identity: bool) -> DoseOutcome:
        try:
            receipt = self._record_one(report, actor, match_identity)
        except LedgerError as error:
            return DoseOutcome.refused(error)
        return DoseOutcome("duplicate" if receipt.duplicate else "created", receipt)

    def _take_dose(self, ws: WorkingSet, report: DoseReport, actor: Actor,
                   match_identity: bool = False) -> DoseReceipt:
        """Decide one dose into the working set. The position is left for the caller to tell:
        the save's, or for a duplicate the head (read once per batch, not once per dose)."""
        record = ws.get(SiteRecord, report.dose_id)
        if record is not None:
            if record.content_digest != report.digest:
                raise SiteRecordConflict(report.site_id, report.site_record_id, record.id,
                                         record.person_id)
            return DoseReceipt(record.id, self._person(ws, record.person_id, follow_merges=True).id,
                               None, True)
        registered = False
        if report.person_id is not None:
            subject = self._person(ws, report.person_id, follow_merges=True)
        else:
            assert report.person is not None
            subject, registered = self._person_for(
                ws, report.person, person_id_for_record(report.site_id, report.site_record_id),
                actor, report.source, match_identity)
        rules.administered_at(report.administered_at, born=subject.details["birth_date"])
        # Only now, with every check passed, may aggregates already in the working set change.
        new = self._keys_of_new_person(ws, subject) if registered else []
        new += self._provisional_site(ws, report.site_id, subject.details["province"], actor,
                                      report.source)
        if str(report.dose_id) in subject.doses:
            # Another writer saved this very dose between our reads of its site record and of
            # its person (two reads, not one snapshot): decide again on fresh reads, where it
            # is a duplicate, rather than reject it (found by tests/reliability under load).
            raise IntegrityError(f"dose {report.dose_id} was recorded by another writer meanwhile")
        claim = SiteRecord.claim(subject.id, report.site_id, report.site_record_id, report.digest)
        subject.record_dose(claim.id, report.vaccine, report.lot, report.administered_at,
                            report.site_id, report.reported_dose_number, actor.as_data(),
                            report.source)
        ws.changed(subject, claim, *new)
        return DoseReceipt(claim.id, subject.id, None, False)

    def amend_dose(self, dose_id: UUID | str, changes: dict[str, Any], reason: str, *,
                   actor: Actor = SYSTEM, source: dict[str, Any] | None = None) -> Written:
        reason = rules.reason(reason)
        dose_id = as_uuid(dose_id, "dose_id")
        checked = dose_changes(changes)

        def attempt() -> Written:
            ws = self._working_set()
            person = self._holder_of(ws, dose_id)
            if "administered_at" in checked:
                rules.administered_at(checked["administered_at"], born=person.details["birth_date"])
            src = source or {"kind": "api"}
            person.amend_dose(dose_id, checked, reason, actor.as_data(), src)
            ws.changed(person)
            if "site_id" in checked:
                ws.changed(*self._provisional_site(ws, checked["site_id"], person.details["province"],
                                                   actor, src))
            return Written(person.id, self._save(*ws.pending()))

        return self._with_retries(attempt)

    def void_dose(self, dose_id: UUID | str, reason: str, *, actor: Actor = SYSTEM,
                  source: dict[str, Any] | None = None) -> Written:
        """A dose entered in error leaves the certificate; its events stay in the stream."""
        reason = rules.reason(reason)
        dose_id = as_uuid(dose_id, "dose_id")

        def attempt() -> Written:
            ws = self._working_set()
            person = self._holder_of(ws, dose_id)
            person.void_dose(dose_id, reason, actor.as_data(), source or {"kind": "api"})
            ws.changed(person)
            return Written(person.id, self._save(*ws.pending()))

        return self._with_retries(attempt)

    def dose_origin(self, dose_id: UUID | str) -> tuple[UUID, str]:
        """(current holder, site that recorded it) — what access checks need to know."""
        dose_id = as_uuid(dose_id, "dose_id")
        ws = self._working_set()
        record = ws.get(SiteRecord, dose_id)
        if record is None:
            raise DoseNotFound(dose_id)
        return self._person(ws, record.person_id, follow_merges=True).id, record.site_id

    # --- sites ----------------------------------------------------------------------------

    def register_site(self, site_id: str, *, name: str, kind: str, province: str,
                      district: str | None = None, actor: Actor = SYSTEM) -> Written:
        site_id = rules.text(site_id, "site_id", max_len=64)  # type: ignore[assignment]
        name = rules.text(name, "name")  # type: ignore[assignment]
        if kind not in KINDS or kind == PROVISIONAL:
            raise InvalidValue("kind", "must be official or mobile (provisional sites come from doses)")
        province = rules.province(province)
        district = rules.text(district, "district", max_len=100, required=False)
        if self.site(site_id) is not None:
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
            site = self.site(site_id)
            if site is None:
                raise SiteNotFound(site_id)
            site.review(decision, kind, name, province, district, reason, actor.as_data())
            return Written(site.id, self._save(site))

        return self._with_retries(attempt)

    # --- reads for checks and audits -------------------------------------------------------

    def site(self, site_id: str) -> Site | None:
        return self._working_set().get(Site, site_key(site_id))

    def person(self, person_id: UUID | str) -> Person:
        """The person's current state, merged-away or not: for replay and checks."""
        return self._person(self._working_set(), as_uuid(person_id, "person_id"),
                            allow_merged=True)

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    # --- internals ------------------------------------------------------------------------

    def _working_set(self) -> WorkingSet:
        return WorkingSet(self.repository, self.recorder, self.mapper)

    def _with_retries(self, attempt: Callable[[], T]) -> T:
        for n in range(self.max_attempts):
            try:
                return attempt()
            except IntegrityError:
                # Another writer got there first: re-read and decide again.
                time.sleep(random.uniform(0, min(0.1, 0.002 * 2**n)))
        raise Contention("too many concurrent writers on the same records; retry the request")

    def _save(self, *aggregates: Any) -> int | None:
        return library.save(self, aggregates)

    def _national_id_holder(self, ws: WorkingSet, national_id: str) -> UUID | None:
        claim = ws.get(NationalIdClaim, national_id_key(national_id))
        if claim is None or claim.person_id is None:
            return None
        return self._person(ws, claim.person_id, follow_merges=True).id

    def _person(self, ws: WorkingSet, person_id: UUID, *, field: str = "person_id",
                follow_merges: bool = False, allow_merged: bool = False) -> Person:
        for _ in range(16):
            person = ws.get(Person, person_id)
            if person is None:
                raise PersonNotFound(person_id, field)
            if person.merged_into is None or allow_merged:
                return person
            if not follow_merges:
                person._check_open()  # raises PersonMerged naming the survivor
            person_id = person.merged_into
        raise PersonNotFound(person_id, field)

    def _holder_of(self, ws: WorkingSet, dose_id: UUID) -> Person:
        record = ws.get(SiteRecord, dose_id)
        if record is None:
            raise DoseNotFound(dose_id)
        return self._person(ws, record.person_id, follow_merges=True)

    def _new_person(self, ws: WorkingSet, person_id: UUID, details: dict[str, Any], actor: Actor,
                    channel: str, source: dict[str, Any] | None) -> Person:
        if details["national_id"]:
            self._claim_national_id(ws, details["national_id"], person_id)
        person = Person.register(person_id, details, channel, actor.as_data(),
                                 source or {"kind": channel})
        ws.changed(person, self._identity_joined(ws, person))
        return person

    def _identity_joined(self, ws: WorkingSet, person: Person) -> IdentityKey:
        """The person listed under their name, birth date and phone (in the working set)."""
        key = identity_key(*(person.details[k] for k in IDENTITY_FIELDS))
        index = ws.get(IdentityKey, key)
        if index is None:
            return IdentityKey.claim(key, person.id)
        index.join(person.id)
        return index

    def _identity_holders(self, ws: WorkingSet, details: dict[str, Any]) -> list[UUID]:
        """The distinct open people listed under these details (merged ones followed)."""
        index = ws.get(IdentityKey, identity_key(*(details[k] for k in IDENTITY_FIELDS)))
        if index is None:
            return []
        holders = (self._person(ws, pid, follow_merges=True).id for pid in index.person_ids)
        return list(dict.fromkeys(holders))

    def _claim_national_id(self, ws: WorkingSet, national_id: str, person_id: UUID) -> None:
        claim = ws.get(NationalIdClaim, national_id_key(national_id))
        if claim is None:
            ws.changed(NationalIdClaim.claim(national_id, person_id))
        elif claim.person_id is None:  # released by a correction earlier
            claim.reassign(person_id, "claimed by a registration")
            ws.changed(claim)
        elif claim.person_id != person_id:
            raise NationalIdTaken(self._person(ws, claim.person_id, follow_merges=True).id)

    def _person_for(self, ws: WorkingSet, details: dict[str, Any], fallback_id: UUID, actor: Actor,
                    source: dict[str, Any], match_identity: bool) -> tuple[Person, bool]:
        """The national id's person if there is one, else (when matching identities) the one
        person with the same name, birth date and phone, else a person registered inline:
        (person, registered now). A new person is unsaved and outside the working set, so a
        refused dose leaves no orphan person."""
        if details["national_id"]:
            holder = self._national_id_holder(ws, details["national_id"])
            if holder is not None:
                return self._person(ws, holder), False
        elif match_identity:
            holders = self._identity_holders(ws, details)
            if len(holders) > 1:
                raise AmbiguousPerson(holders)
            if holders:
                return self._person(ws, holders[0]), False
        return Person.register(fallback_id, details, "site", actor.as_data(), source), True

    def _keys_of_new_person(self, ws: WorkingSet, person: Person) -> list[Any]:
        claims: list[Any] = [self._identity_joined(ws, person)]
        if person.details["national_id"]:
            claims.append(NationalIdClaim.claim(person.details["national_id"], person.id))
        return claims

    def _provisional_site(self, ws: WorkingSet, site_id: str, province_hint: str, actor: Actor,
                          source: dict[str, Any]) -> list[Site]:
        """A site missing from the directory is listed provisional, never a reason to refuse."""
        if site_id in self._listed_sites:
            return []
        if ws.get(Site, site_key(site_id)) is not None:
            self._listed_sites.add(site_id)
            return []
        return [Site.add_to_directory(site_key(site_id), site_id, None, PROVISIONAL, province_hint,
                                      None, actor.as_data(), source)]
