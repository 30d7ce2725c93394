"""Recording doses (one, or a batch in one transaction), amending and voiding them.

record_reports is the hot path (group commit and imports): it decides every report into one
working set, prefetched in two queries, and saves once; only when another writer got to one
of the same streams first is each report decided again on its own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ledger import rules
from ledger.errors import DoseNotFound, LedgerError, SiteRecordConflict
from ledger.keys import KEYED_DIGEST, SiteRecord, site_key
from ledger.person import Person
from ledger.recording import DoseReport, as_uuid, dose_changes, dose_report
from ledger.values import Actor, DoseStatus, Source
from store.site_records import SiteRecordKey
from usecases.decision import Decisions
from usecases.people import IDENTITY_FIELDS, in_scope, keys_of_new_person, person_for, person_in
from usecases.receipts import DoseOutcome, DoseReceipt, Written
from usecases.sites import Sites
from usecases.working_set import WorkingSet


class Doses:
    def __init__(self, decisions: Decisions, sites: Sites) -> None:
        self.decisions = decisions
        self.sites = sites

    def record(self, report: DoseReport, actor: Actor, match_identity: bool = False) -> DoseReceipt:
        """One dose in its own transaction, decided again on fresh reads if another writer wins."""
        decided = self.decisions.decide(lambda ws: self.take(ws, report, actor, match_identity))
        receipt = decided.value
        return replace(receipt, position=decided.position)

    def record_items(
        self,
        items: list[dict[str, Any]],
        *,
        actor: Actor,
        sources: list[dict[str, Any] | None] | None,
        match_identity: bool,
        dry_run: bool,
    ) -> list[DoseOutcome]:
        """Check each item, then decide the good ones together: one outcome per item."""
        outcomes: list[DoseOutcome | None] = [None] * len(items)
        reports: list[tuple[int, DoseReport]] = []
        for i, fields in enumerate(items):
            try:
                reports.append((i, dose_report(fields, sources[i] if sources else None)))
            except LedgerError as error:
                outcomes[i] = DoseOutcome.refused(error)
        decided = self.record_reports(
            [r for _, r in reports], [actor] * len(reports), match_identity=match_identity, dry_run=dry_run
        )
        for (i, _), outcome in zip(reports, decided, strict=True):
            outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def record_reports(
        self,
        reports: list[DoseReport],
        actors: list[Actor],
        *,
        match_identity: bool = False,
        dry_run: bool = False,
    ) -> list[DoseOutcome]:
        """Decide checked reports together and save them in one transaction (group commit)."""
        ws = self.decisions.working_set()
        self._prefetch(ws, reports)
        outcomes: list[DoseOutcome] = []
        taken: list[int] = []
        for n, (report, actor) in enumerate(zip(reports, actors, strict=True)):
            try:
                receipt = self.take(ws, report, actor, match_identity)
            except LedgerError as error:
                outcomes.append(DoseOutcome.refused(error))
                continue
            except IntegrityError:  # saved by another writer meanwhile: decide it on fresh reads
                if not dry_run:
                    outcomes.append(self._record_alone(report, actor, match_identity))
                    continue
                try:
                    receipt = self.take(self.decisions.working_set(), report, actor, match_identity)
                except LedgerError as error:
                    outcomes.append(DoseOutcome.refused(error))
                    continue
            # Built inline, as below: this loop runs once per dose of every group commit.
            outcomes.append(
                DoseOutcome(DoseStatus.DUPLICATE if receipt.duplicate else DoseStatus.CREATED, receipt)
            )
            if not receipt.duplicate:
                taken.append(n)
        duplicates = [
            n
            for n, o in enumerate(outcomes)
            if o.status == DoseStatus.DUPLICATE and o.receipt and o.receipt.position is None
        ]
        if duplicates:
            head = self.decisions.head()
            for n in duplicates:
                r = outcomes[n].receipt
                assert r is not None
                outcomes[n] = DoseOutcome.taken(replace(r, position=head))
        if not taken or dry_run:
            return outcomes
        try:
            with self.decisions.rows_of(ws):
                position = self.decisions.save(*ws.pending(), claims=ws.claimed())
        except IntegrityError:
            # Another writer got to one of these people first: each item on its own, with retries.
            for n in taken:
                outcomes[n] = self._record_alone(reports[n], actors[n], match_identity)
            return outcomes
        for n in taken:
            taken_receipt = outcomes[n].receipt
            assert taken_receipt is not None
            outcomes[n] = DoseOutcome(
                DoseStatus.CREATED,
                replace(taken_receipt, position=position),
            )
        return outcomes

    def take(
        self, ws: WorkingSet, report: DoseReport, actor: Actor, match_identity: bool = False
    ) -> DoseReceipt:
        """Decide one dose into the working set. The position is left for the caller to tell:
        the save's, or for a duplicate the head (read once per batch, not once per dose)."""
        record = ws.site_record(report.dose_id)
        if record is not None:
            if not same_report(ws, record, report):
                raise SiteRecordConflict(
                    report.site_id, report.site_record_id, record.dose_id, record.person_id
                )
            return DoseReceipt(
                record.dose_id, person_in(ws, record.person_id, follow_merges=True).id, None, True
            )
        registered = matched = False
        if report.person_id is not None:
            subject = person_in(ws, report.person_id, follow_merges=True)
        else:
            assert report.person is not None
            subject, registered = person_for(
                ws,
                report.person,
                ws.ids.person_of_record(report.site_id, report.site_record_id),
                actor,
                report.source,
                match_identity,
            )
            matched = not registered
        if str(report.dose_id) in subject.doses:
            return already_recorded(ws, report, subject)
        # report.administered_at was checked and normalised by dose_report: only the birth is left.
        rules.not_before_birth(report.administered_at, subject.details["birth_date"])
        # Only now, with every check passed, may aggregates already in the working set change.
        new = self.sites.provisional(ws, report.site_id, subject.details["province"], actor, report.source)
        # The site record names whom the site named: a merge leads the dose to the survivor,
        # an unmerge gives it back, and the record then leads its amendments there too.
        named = report.person_id if report.person_id is not None else subject.id
        claim = SiteRecordKey(
            report.dose_id,
            named,
            report.site_id,
            report.site_record_id,
            ws.ids.site_record_digest(report.digest),
        )
        subject.record_dose(
            claim.dose_id,
            report.vaccine,
            report.lot,
            report.administered_at,
            report.site_id,
            report.reported_dose_number,
            actor.as_data(),
            report.source,
            named_person_id=named,
        )
        if registered:  # its keys' rows staged last: a refused dose leaves none behind
            keys_of_new_person(ws, subject)
        ws.changed(subject, *new)
        ws.claim(claim)
        return DoseReceipt(claim.dose_id, subject.id, None, False, matched)

    def amend(
        self,
        dose_id: UUID | str,
        changes: dict[str, Any],
        reason: str,
        *,
        actor: Actor,
        source: Source,
        dry_run: bool = False,
    ) -> Written:
        reason = rules.reason(reason)
        dose_uuid = as_uuid(dose_id, "dose_id")
        checked = dose_changes(changes)

        def choose(ws: WorkingSet) -> UUID:
            person = holder_of_dose(ws, dose_uuid)
            if "administered_at" in checked:
                rules.administered_at(checked["administered_at"], born=person.details["birth_date"])
            person.amend_dose(dose_uuid, checked, reason, actor.as_data(), source.as_data())
            ws.changed(person)
            if "site_id" in checked:
                ws.changed(
                    *self.sites.provisional(
                        ws, checked["site_id"], person.details["province"], actor, source.as_data()
                    )
                )
            return person.id

        return self._decide(choose, dry_run)

    def void(
        self, dose_id: UUID | str, reason: str, *, actor: Actor, source: Source, dry_run: bool = False
    ) -> Written:
        """A dose entered in error leaves the certificate; its events stay in the stream."""
        reason = rules.reason(reason)
        dose_uuid = as_uuid(dose_id, "dose_id")

        def choose(ws: WorkingSet) -> UUID:
            person = holder_of_dose(ws, dose_uuid)
            person.void_dose(dose_uuid, reason, actor.as_data(), source.as_data())
            ws.changed(person)
            return person.id

        return self._decide(choose, dry_run)

    def resolve_flag(
        self,
        dose_id: UUID | str,
        kind: str,
        reason: str,
        *,
        actor: Actor,
        source: Source,
        provinces: Collection[str] | None = None,
    ) -> Written:
        """An official resolved a data-quality flag of a dose (ledger.flags: for the dose as it is).
        `provinces`: the official's scope (None: any), checked on the decision's own reads of
        the dose's holder, so that a merge in between cannot carry the dose out of it."""
        reason = rules.reason(reason)
        dose_uuid = as_uuid(dose_id, "dose_id")

        def choose(ws: WorkingSet) -> UUID:
            person = holder_of_dose(ws, dose_uuid)
            in_scope(person, provinces, "dose_id")
            person.resolve_flag(dose_uuid, kind, reason, actor.as_data(), source.as_data())
            ws.changed(person)
            return person.id

        return self._decide(choose, dry_run=False)

    def _decide(self, choose: Any, dry_run: bool) -> Written:
        """Decide and save; a dry run decides on the current state and saves nothing (the head
        is its position), so that it is refused exactly where the change would be."""
        if dry_run:
            return Written(choose(self.decisions.working_set()), self.decisions.head())
        decided = self.decisions.decide(choose)
        return Written(decided.value, decided.position)

    def origin(self, dose_id: UUID | str) -> tuple[UUID, str]:
        """(current holder, site that recorded it) — what access checks need to know."""
        dose_uuid = as_uuid(dose_id, "dose_id")
        ws = self.decisions.working_set()
        record = ws.site_record(dose_uuid)
        if record is None:
            raise DoseNotFound(dose_uuid)
        return person_in(ws, record.person_id, follow_merges=True).id, record.site_id

    def _record_alone(self, report: DoseReport, actor: Actor, match_identity: bool) -> DoseOutcome:
        try:
            receipt = self.record(report, actor, match_identity)
        except LedgerError as error:
            return DoseOutcome.refused(error)
        return DoseOutcome.taken(receipt)

    def _prefetch(self, ws: WorkingSet, reports: list[DoseReport]) -> None:
        """Five queries instead of several per dose: the site records, the national ids, the
        identity keys, the sites and people, then whom the keys name."""
        ws.prefetch_site_records(report.dose_id for report in reports)
        national_ids = [
            ws.ids.national_id(report.person["national_id"])
            for report in reports
            if report.person_id is None and report.person is not None and report.person["national_id"]
        ]
        ws.prefetch_national_ids(national_ids)
        ids: list[UUID] = []
        identities: list[UUID] = []
        named: list[Any] = []
        for key in national_ids:
            row = ws.national_id_holder(key)
            named.append(row.person_id if row is not None else None)
        for report in reports:
            record = ws.site_record(report.dose_id)
            if record is not None:  # a duplicate: its person answers it
                ids.append(record.person_id)
            ids.append(site_key(report.site_id))
            if report.person_id is not None:
                ids.append(report.person_id)
            elif report.person is not None:
                ids.append(ws.ids.person_of_record(report.site_id, report.site_record_id))
                identities.append(ws.ids.identity(*(report.person[k] for k in IDENTITY_FIELDS)))
        ws.prefetch_identities(identities)
        for key in identities:
            named.extend(ws.identity_members(key))
        ws.prefetch(ids)
        for i in ids:
            named.append(getattr(ws.get(object, i), "person_id", None))
        ws.prefetch(i for i in named if isinstance(i, UUID))


def holder_of_dose(ws: WorkingSet, dose_id: UUID) -> Person:
    record = ws.site_record(dose_id)
    if record is None:
        raise DoseNotFound(dose_id)
    return person_in(ws, record.person_id, follow_merges=True)


def same_report(ws: WorkingSet, record: SiteRecordKey, report: DoseReport) -> bool:
    """Does the row's digest say `report` is what its site reported? A row of the table's first
    version, written before its next start keys it (usecases.site_record_keys), holds the plain
    digest."""
    if record.content_digest.startswith(KEYED_DIGEST):
        return record.content_digest == ws.ids.site_record_digest(report.digest)
    return record.content_digest == report.digest


def already_recorded(ws: WorkingSet, report: DoseReport, subject: Person) -> DoseReceipt:
    """The dose is on its person, but its key has no row in the table.

    Either another writer saved this very dose between our reads of its key and of its person
    (two reads, not one snapshot): decided again on fresh reads, where the row is found and the
    dose is a duplicate (found by tests/reliability under load). Or a process of the earlier
    version, still running during an upgrade, stored it with its key as a `SiteRecord` event
    only, after this process copied the keys (usecases.site_record_keys; the next start copies
    it): its claim decides, as the row would, so a retry is answered the same receipt rather
    than retried until Contention."""
    claim = ws.get(SiteRecord, report.dose_id)
    if claim is None:
        raise IntegrityError(f"dose {report.dose_id} was recorded by another writer meanwhile")
    if claim.content_digest != report.digest:
        raise SiteRecordConflict(report.site_id, report.site_record_id, claim.id, claim.person_id)
    return DoseReceipt(claim.id, subject.id, None, True)
