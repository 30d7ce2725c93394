"""The DoseLedger application: the facade of the use cases. It knows nothing of HTTP or SQL.

Each public method keeps the name and signature the API, CLI, intake and bench call, and
hands the work to its use case (usecases.people, doses, corrections, sites), which decides
through the one decision mechanism (usecases.decision).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import get_topic

from ledger import personal
from ledger.keys import IdKey
from ledger.person import PERSONAL, Person
from ledger.recording import DoseReport, dose_report
from ledger.site import Site
from ledger.values import SYSTEM, Actor, Source
from store.data_keys import DataKeys
from store.event_store import EventStore
from store.sealing import Sealable, SealingMapper
from store.secrets import Secrets
from store.sqlite import in_wal_mode
from store.transcoding import OrjsonTranscoder
from store.url import database_url, persistence_env
from usecases.access_log import AccessLog
from usecases.chain_key import hand_in_chain_key
from usecases.corrections import Corrections
from usecases.decision import BUDGET, Decisions
from usecases.doses import Doses
from usecases.erasure import Erasures, finish_erasures
from usecases.keyed_ids import Adoption
from usecases.people import IDENTITY_FIELDS, People
from usecases.person_key_copy import copy_person_keys
from usecases.receipts import CorrectionFiled, DoseOutcome, DoseReceipt, Registration, Written
from usecases.site_record_keys import copy_site_record_claims
from usecases.sites import Sites
from usecases.tallies import Tallies, TalliesReported, TallyLine, TallyLineOutcome

__all__ = [
    "IDENTITY_FIELDS",
    "CorrectionFiled",
    "DoseLedger",
    "DoseOutcome",
    "DoseReceipt",
    "Registration",
    "Written",
]


def sealable_events() -> dict[str, Sealable]:
    """The person's events with personal fields, by topic: what the store seals."""
    return {
        get_topic(getattr(Person, name)): Sealable(
            split=partial(personal.split, paths=paths),
            join=personal.join,
            blank=partial(personal.blank, paths=paths),
        )
        for name, paths in PERSONAL.items()
    }


def _source(given: dict[str, Any] | None, default: str) -> Source:
    return Source.of(given) if given else Source.named(default)


class DoseLedger(Application[UUID]):
    name = "DoseLedger"
    # Recently used people stay in memory; a cached one is fast-forwarded with the events
    # stored since (one query), so several processes can share a store safely.
    env = {"AGGREGATE_CACHE_MAXSIZE": "10000"}
    recorder: EventStore  # store.sqlite or store.postgres, named by the store URL
    mapper: SealingMapper

    def __init__(
        self, env: dict[str, str] | None = None, *, secrets: Secrets | None = None, unkeyed_ok: bool = False
    ) -> None:
        """Refuses a store its ids secret did not make (MissingSecret, usecases.keyed_ids.StoreRefused).

        secrets: the deployment's secrets (default: DOSELEDGER_SECRETS_DIR, from `env` or the
        process's environment). unkeyed_ok: for `doseledger rekey` only (usecases.rekey).
        """
        super().__init__(env)
        secrets = secrets or Secrets.from_env(dict(self.env))
        # The data keys live in the store's own database (store.data_keys), which exists only
        # now that the recorder does; the mapper was made before it.
        self.data_keys = DataKeys(self.recorder.datastore, secrets)
        self.mapper.bind(self.data_keys)
        self.recorder.data_keys = self.data_keys
        # Who read whose record: a table of its own beside the events, written in batches.
        self.access_log = AccessLog(self)
        try:
            ids = Adoption.open(self, secrets, unkeyed_ok=unkeyed_ok)
            # Before any event is made, and only once the ids check has let the store in (a
            # refused start leaves no chain secret behind): new events are chained with it.
            hand_in_chain_key(self.recorder, self.mapper, secrets)
            # A store written before the site-record key table has its keys as events: those
            # since the last start copied into the table (usecases.site_record_keys), before any
            # dose is decided against it; one starting process at a time.
            self.recorder.copy_old_keys(lambda: copy_site_record_claims(self.recorder, self.mapper, ids.key))
            # So do its national ids' and identity keys (usecases.person_key_copy), without a lock.
            copy_person_keys(self.recorder, self.mapper)
        except BaseException:
            self.close()  # its connections, before the refusal is raised
            raise
        # Seconds a decision keeps retrying against other writers before Contention; a server
        # sets it under its clients' timeout (DOSELEDGER_DECISION_BUDGET, or assign it).
        budget = float(self.env.get("DOSELEDGER_DECISION_BUDGET") or BUDGET)
        self.decisions = Decisions(self, ids, budget)
        self.sites = Sites(self.decisions)
        self.people = People(self.decisions)
        self.doses = Doses(self.decisions, self.sites)
        self.corrections = Corrections(self.decisions, self.sites)
        self.tallies = Tallies(self.decisions, self.sites)
        self.erasures = Erasures(self.decisions, self.data_keys)

    def close(self) -> None:
        # The reads still waiting are stored while the store is open: a clean shutdown loses none.
        try:
            self.access_log.close()
        finally:
            super().close()

    @property
    def ids(self) -> IdKey:
        """How this ledger names the keys made from personal data (under the ids secret)."""
        return self.decisions.ids.key

    def construct_transcoder(self) -> OrjsonTranscoder:
        # Same bytes as the library's JSONTranscoder, encoded ~35% faster (bench/transcoding.py).
        return OrjsonTranscoder()

    def construct_mapper(self) -> SealingMapper:
        # A person's personal fields are sealed with a key of their own (store.sealing).
        return SealingMapper(self.construct_transcoder(), sealable_events())

    def construct_recorder(self) -> Any:
        if self.env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite":
            in_wal_mode(self.env.get("SQLITE_DBNAME") or "")
        return super().construct_recorder()

    def construct_env(self, name: str, env: Any = None) -> Any:
        env = dict(env or {})
        return super().construct_env(name, {**persistence_env(database_url(env)), **env})

    # --- people ---------------------------------------------------------------------------

    def register_person(
        self,
        details: dict[str, Any],
        *,
        actor: Actor = SYSTEM,
        channel: str = "api",
        source: dict[str, Any] | None = None,
        person_id: UUID | None = None,
    ) -> Registration:
        """An existing national id returns its person instead of making a second one."""
        return self.people.register(
            details,
            actor=actor,
            channel=channel,
            source=Source.of(source) if source else None,
            person_id=person_id,
        )

    def correct_details(
        self,
        person_id: UUID | str,
        changes: dict[str, Any],
        reason: str,
        *,
        actor: Actor = SYSTEM,
        source: dict[str, Any] | None = None,
    ) -> Written:
        return self.people.correct_details(
            person_id, changes, reason, actor=actor, source=_source(source, "api")
        )

    def merge_persons(
        self,
        survivor_id: UUID | str,
        duplicate_id: UUID | str,
        reason: str,
        *,
        actor: Actor = SYSTEM,
        source: dict[str, Any] | None = None,
        provinces: Collection[str] | None = None,
    ) -> Written:
        """The duplicate's doses move to the survivor; both streams say so, in one transaction.
        `provinces`: the official's scope, checked inside the decision on both people
        (OutOfScope); None: any."""
        return self.people.merge(
            survivor_id,
            duplicate_id,
            reason,
            actor=actor,
            source=_source(source, "merge"),
            provinces=provinces,
        )

    def unmerge_persons(
        self,
        survivor_id: UUID | str,
        duplicate_id: UUID | str,
        reason: str,
        *,
        actor: Actor = SYSTEM,
        source: dict[str, Any] | None = None,
        provinces: Collection[str] | None = None,
    ) -> Written:
        """Undo a merge: the doses and correction requests it carried go back to the duplicate,
        as they are now, and the duplicate is open again; both streams say so, in one
        transaction. Written names the duplicate. `provinces`: the official's scope, checked
        inside the decision on both people (OutOfScope); None: any."""
        return self.people.unmerge(
            survivor_id,
            duplicate_id,
            reason,
            actor=actor,
            source=_source(source, "unmerge"),
            provinces=provinces,
        )

    def erase_person(
        self,
        person_id: UUID | str,
        reason: str,
        *,
        actor: Actor = SYSTEM,
        source: dict[str, Any] | None = None,
    ) -> Written:
        """Destroy the person's personal data: an Erased event, then the person's data key."""
        return self.erasures.erase(person_id, reason, actor=actor, source=_source(source, "api"))

    def finish_erasures(self) -> list[UUID]:
        """Destroy any key still held of an erased person (an erasure interrupted after its
        event, or a key table restored from a backup); the people whose key went now."""
        return finish_erasures(self.recorder, self.data_keys)

    def person(self, person_id: UUID | str) -> Person:
        """The person's current state, merged-away or not: for replay and checks."""
        return self.people.person(person_id)

    # --- correction requests --------------------------------------------------------------

    def request_correction(
        self,
        person_id: UUID | str,
        kind: str,
        claim: dict[str, Any],
        *,
        evidence_ref: str | None = None,
        contact: str | None = None,
        channel: str = "portal",
        filed_at: Any = None,
        actor: Actor = SYSTEM,
    ) -> CorrectionFiled:
        """File a citizen's claim. The same claim while one is open joins it instead."""
        return self.corrections.request(
            person_id,
            kind,
            claim,
            evidence_ref=evidence_ref,
            contact=contact,
            channel=channel,
            filed_at=filed_at,
            actor=actor,
        )

    def assign_correction(
        self, request_id: UUID | str, assignee: dict[str, str], *, actor: Actor = SYSTEM
    ) -> Written:
        """Give a request to a province or a site to work."""
        return self.corrections.assign(request_id, assignee, actor=actor)

    def resolve_correction(
        self, request_id: UUID | str, outcome: str, reason: str, *, actor: Actor = SYSTEM
    ) -> Written:
        """Accepted: the correction it claims is made in the same transaction. Rejected: a reason."""
        return self.corrections.resolve(request_id, outcome, reason, actor=actor)

    def correction(self, request_id: UUID | str) -> dict[str, Any]:
        """A request as its workers see it: the claim, status, assignee, person and province."""
        return self.corrections.correction(request_id)

    def correction_status(self, request_id: UUID | str, code: str) -> dict[str, Any]:
        """For a citizen with the id and code given at filing: the status, no personal data."""
        return self.corrections.status(request_id, code)

    # --- doses ----------------------------------------------------------------------------

    def record_dose(
        self, *, actor: Actor = SYSTEM, source: dict[str, Any] | None = None, **fields: Any
    ) -> DoseReceipt:
        """Record one dose, by `person_id` or with an inline `person` registration.

        Fields: site_id, site_record_id, vaccine, administered_at, lot, dose_number, and
        person_id or person. The same site record again returns the first result and writes
        nothing; the same record with other content is a conflict naming the stored dose. An
        unknown site is accepted and listed provisional in the same transaction.
        """
        return self.doses.record(dose_report(fields, source), actor)

    def record_doses(
        self,
        items: list[dict[str, Any]],
        *,
        actor: Actor = SYSTEM,
        sources: list[dict[str, Any] | None] | None = None,
        match_identity: bool = False,
        dry_run: bool = False,
    ) -> list[DoseOutcome]:
        """Record many doses: one outcome per item, good items stored even when others are not.

        The accepted items are saved in one transaction. If another writer got to one of
        the same people first, each item is retried on its own.

        match_identity: an inline person without a known national id is the one person
        already registered with the same name, birth date and phone (several: the item is
        refused naming them). Retro imports want this; a site's own records do not.
        dry_run: decide every item, store nothing ("created" means "would be created").
        """
        return self.doses.record_items(
            items, actor=actor, sources=sources, match_identity=match_identity, dry_run=dry_run
        )

    def record_reports(
        self,
        reports: list[DoseReport],
        actors: list[Actor],
        *,
        match_identity: bool = False,
        dry_run: bool = False,
    ) -> list[DoseOutcome]:
        """Decide checked reports together and save them in one transaction (group commit)."""
        return self.doses.record_reports(reports, actors, match_identity=match_identity, dry_run=dry_run)

    def amend_dose(
        self,
        dose_id: UUID | str,
        changes: dict[str, Any],
        reason: str,
        *,
        actor: Actor = SYSTEM,
        source: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Written:
        """dry_run: decided (refused where the amendment would be), nothing saved."""
        return self.doses.amend(
            dose_id, changes, reason, actor=actor, source=_source(source, "api"), dry_run=dry_run
        )

    def void_dose(
        self,
        dose_id: UUID | str,
        reason: str,
        *,
        actor: Actor = SYSTEM,
        source: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Written:
        """A dose entered in error leaves the certificate; its events stay in the stream.
        dry_run: decided (refused where the void would be), nothing saved."""
        return self.doses.void(dose_id, reason, actor=actor, source=_source(source, "api"), dry_run=dry_run)

    def resolve_flag(
        self,
        dose_id: UUID | str,
        kind: str,
        reason: str,
        *,
        actor: Actor = SYSTEM,
        source: dict[str, Any] | None = None,
        provinces: Collection[str] | None = None,
    ) -> Written:
        """An official looked at a dose's data-quality flag (ledger.flags) and resolved it, for
        the dose as it is now: a FlagResolved on the person's stream. Written names the person.
        `provinces`: the official's scope, checked inside the decision (OutOfScope); None: any."""
        return self.doses.resolve_flag(
            dose_id, kind, reason, actor=actor, source=_source(source, "review"), provinces=provinces
        )

    def dose_origin(self, dose_id: UUID | str) -> tuple[UUID, str]:
        """(current holder, site that recorded it) — what access checks need to know."""
        return self.doses.origin(dose_id)

    # --- sites ----------------------------------------------------------------------------

    def register_site(
        self,
        site_id: str,
        *,
        name: str,
        kind: str,
        province: str,
        district: str | None = None,
        actor: Actor = SYSTEM,
    ) -> Written:
        return self.sites.register(
            site_id, name=name, kind=kind, province=province, district=district, actor=actor
        )

    def review_site(
        self,
        site_id: str,
        decision: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        province: str | None = None,
        district: str | None = None,
        reason: str | None = None,
        actor: Actor = SYSTEM,
    ) -> Written:
        return self.sites.review(
            site_id,
            decision,
            kind=kind,
            name=name,
            province=province,
            district=district,
            reason=reason,
            actor=actor,
        )

    def site(self, site_id: str) -> Site | None:
        return self.sites.site(site_id)

    # --- tallies --------------------------------------------------------------------------

    def report_tallies(
        self,
        site_id: str,
        tallies: list[dict[str, Any]],
        *,
        province: str | None = None,
        actor: Actor = SYSTEM,
        source: dict[str, Any] | None = None,
        numbered: bool | None = None,
        dry_run: bool = False,
    ) -> TalliesReported:
        """A site's daily tallies ({day, counts: {vaccine: n}, source?, request_id?}), all or
        none, each a `TallyReported` on the site's stream superseding the day's earlier one.
        The same tally again (a retry) records nothing. A site missing from the directory is
        listed provisional in `province` (required then). numbered: errors name the item
        (`N.day`; by default when there are several). dry_run: decided, nothing saved."""
        return self.tallies.report(
            site_id,
            tallies,
            province=province,
            actor=actor,
            source=_source(source, "api"),
            numbered=numbered,
            dry_run=dry_run,
        )

    def import_tallies(
        self, lines: list[TallyLine], actor: Actor, *, dry_run: bool = False
    ) -> list[TallyLineOutcome]:
        """Rows of an imported tally file, each a vaccine's count of a site's day, each taken
        or refused on its own, in one transaction (usecases.tallies). dry_run: nothing saved."""
        return self.tallies.import_lines(lines, actor, dry_run=dry_run)

    def site_tallies(self, site_id: str) -> list[dict[str, Any]]:
        """A site's tallies by day, the latest counts and every report (usecases.tallies)."""
        return self.tallies.of_site(site_id)

    def head(self) -> int:
        return self.decisions.head()
