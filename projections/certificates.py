"""The certificates projection: one certificate per person, versioned, with the superseded ids.

A certificate shows the person's valid doses (after amendments, voids and merges) numbered in
administered order, and a status by the catalog's series rules. Each version is identified by
what it certifies (projections/certificate_versions.py): its version grows only when that
changes (a corrected phone number issues nothing new), and the ids it superseded are listed
with the reason. A person merged into another holds no certificate any more: every id it had
is superseded and it points to the survivor, whose certificate now shows the doses.

The series rules in force are the ledger's too: an adoption (ledger.series_rules) is recorded in
the view and re-evaluates every certificate it holds, a new version only where the content
changes. Before a page is committed, the issuer (usecases/issuance.py) is handed the versions
that became current and those superseded: it signs and records them first, so a page retried
after a stop signs nothing twice.

A certificate is a fold of one person's stream and the rules' adoptions, so a rebuild folds the
ledger person by person (`replay_by_person`), the adoptions first, each applied to a person at
its position in the ledger: the same versions as the live fold. No row is loaded, each person
is folded once and written once, into tables of their own that take the place of the view's in
one transaction. Until then the API reads the certificates as they were; a rebuild that stops
halfway leaves them so. A rebuild signs nothing: `issue_missing` does, afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Tracking

from ledger.certification import certificate_id
from ledger.rules_book import SeriesRulesBook
from ledger.series_rules import SeriesRules, parse, shipped
from projections.certificate_versions import Adoption, Versions, certified_of
from projections.engine.gathered_reads import GatheredReads
from projections.engine.migrations import Migration, drop_table
from projections.engine.paging import PagedProjection
from projections.engine.statements import Sql
from projections.engine.tables import LEDGER, Tables
from projections.records import PERSON_EVENTS, PersonRecord, as_uuid, person_ids
from usecases.issuance import CERTIFICATES, Current, Issuer, Superseded

log = logging.getLogger("projections")

ADOPTED = SeriesRulesBook.Adopted
PAGE = 500  # people re-evaluated per read and write when new rules are adopted


def _refold(view: Any, sql: Sql) -> None:
    """The versions made before content-addressed ids are folded again (the view starts over)."""
    sql.run("DELETE FROM {people}")
    # The ledger's row only: on PostgreSQL the library keeps a marker row of its own there.
    sql.run("DELETE FROM {tracking} WHERE application_name = ?", (LEDGER,))


_PEOPLE = "person_id TEXT PRIMARY KEY, record TEXT NOT NULL, document TEXT NOT NULL"
# The series rules adopted so far (the shipped ones are in force until one is).
_RULES = "version INTEGER PRIMARY KEY, adopted_at TEXT NOT NULL, rules TEXT NOT NULL"


class CertificatesView(Tables):
    """What the API reads (`certificate`) and what the projection writes (`load`, `save`)."""

    name = "certificates"
    tables = {"people": _PEOPLE, "rules": _RULES}
    aside = ("people", "rules")
    # `certificates_rebuilding`: the aside table's name until the statistics were rebuilt aside too.
    migrations = (
        Migration(2, "the retired certificates_rebuilding dropped", drop_table("certificates_rebuilding")),
        Migration(3, "content-addressed certificate ids: the versions folded again", _refold),
    )
    CERTIFICATE = "SELECT document FROM {people} WHERE person_id = ?"
    key: bytes = b""  # the ledger's key of certificate ids (opened_on)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._gathered = GatheredReads(self.certificates) if self.remote else None
        self._parsed: dict[int, SeriesRules] = {}

    def opened_on(self, ledger: Any) -> None:
        self.key = ledger.ids.derived(CERTIFICATES)

    def certificate(self, person_id: UUID | str) -> dict[str, Any] | None:
        """{person_id, certificate_id, version, status, issued_at, content_digest, rules_version,
        doses: [{dose_id, dose_number, booster, vaccine, vaccine_name, lot, administered_at,
        site_id}], revoked: [ids], superseded: [{certificate_id, reason, successor}],
        merged_into, province}, or None for a person the view has not seen."""
        rows = self.one_read(self.CERTIFICATE, (as_uuid(person_id),))
        return orjson.loads(rows[0]["document"]) if rows else None

    async def certificate_on_loop(self, person_id: UUID | str) -> dict[str, Any] | None:
        """`certificate` for an event loop (the API's hottest read). Where each read is a round
        trip (PostgreSQL), the reads waiting on the loop go together, in one query and one
        threadpool hop (engine/gathered_reads.py): a round trip each cost as much CPU as the
        request. Else (SQLite): see `one_read_on_loop`."""
        if self._gathered is not None:
            return await self._gathered.get(as_uuid(person_id))
        rows = await self.one_read_on_loop(self.CERTIFICATE, (as_uuid(person_id),))
        return orjson.loads(rows[0]["document"]) if rows else None

    def certificates(self, person_ids: list[str]) -> dict[str, dict[str, Any]]:
        """{person_id: certificate} of those the view has (ids as `as_uuid` writes them)."""
        with self._statement() as sql:
            rows = sql.rows_in(
                "SELECT person_id, document FROM {people} WHERE person_id IN ({ids})", person_ids
            )
        return {row["person_id"]: orjson.loads(row["document"]) for row in rows}

    def every(self) -> Iterator[dict[str, Any]]:
        """Every certificate (for reconciliation)."""
        with self.reading() as sql:
            rows = sql.rows("SELECT document FROM {people} ORDER BY person_id")
        return (orjson.loads(row["document"]) for row in rows)

    def load(self, person_ids: list[str]) -> dict[str, tuple[PersonRecord, dict[str, Any]]]:
        """The records and certificates of these people, as far as the view knows them."""
        with self.reading() as sql:
            rows = sql.rows_in(
                "SELECT person_id, record, document FROM {people} WHERE person_id IN ({ids})", person_ids
            )
        return {r["person_id"]: (PersonRecord.loads(r["record"]), orjson.loads(r["document"])) for r in rows}

    def page_after(self, person_id: str, limit: int = PAGE) -> dict[str, tuple[PersonRecord, dict[str, Any]]]:
        """The records and certificates of the next `limit` people after `person_id` ("" first)."""
        with self.reading() as sql:
            rows = sql.rows(
                "SELECT person_id, record, document FROM {people} WHERE person_id > ? "
                "ORDER BY person_id LIMIT ?",
                (person_id, limit),
            )
        return {r["person_id"]: (PersonRecord.loads(r["record"]), orjson.loads(r["document"])) for r in rows}

    def rules_in_force(self) -> SeriesRules:
        """The last rules adopted (the shipped ones before any)."""
        with self._statement() as sql:
            rows = sql.rows("SELECT version, rules FROM {rules} ORDER BY version DESC LIMIT 1")
        return self._rules(rows[0]) if rows else shipped()

    def rules_version(self, version: int) -> SeriesRules | None:
        """The rules of this version as the view recorded them (None: never adopted here)."""
        if version == shipped().version:
            return shipped()
        with self._statement() as sql:
            rows = sql.rows("SELECT version, rules FROM {rules} WHERE version = ?", (version,))
        return self._rules(rows[0]) if rows else None

    def _rules(self, row: dict[str, Any]) -> SeriesRules:
        if row["version"] not in self._parsed:
            self._parsed[row["version"]] = parse(orjson.loads(row["rules"]))
        return self._parsed[row["version"]]

    def save(
        self,
        people: dict[str, tuple[PersonRecord, dict[str, Any]]],
        tracking: Tracking,
        after: int | None,
        adopted: Iterable[Any] = (),
    ) -> None:
        """Store these records and certificates (and the rules adopted) and move the view from
        `after` to `tracking`."""
        with self.writing(tracking, after) as sql:
            self._write(sql, people, adopted)

    def save_people(self, people: dict[str, tuple[PersonRecord, dict[str, Any]]]) -> None:
        """Store these certificates evaluated again under new rules, ahead of the page that
        adopts them (evaluated again after a stop, they come out the same: nothing changes).
        Committed apart from the page that adopts them, a few at a time."""
        with self.apart(), self._session(write=True) as sql:
            self._write(sql, people, ())

    def save_rebuilding(
        self, people: dict[str, tuple[PersonRecord, dict[str, Any]]], adopted: Iterable[Any] = ()
    ) -> None:
        """Store these records and certificates (and rules) in the rebuild's tables."""
        with self.writing_aside() as sql:
            self._write(sql, people, adopted)

    @staticmethod
    def _write(
        sql: Sql, people: dict[str, tuple[PersonRecord, dict[str, Any]]], adopted: Iterable[Any]
    ) -> None:
        rules = [(int(e.version), e.timestamp.isoformat(), orjson.dumps(e.rules).decode()) for e in adopted]
        if rules:
            sql.insert_rows(
                "INSERT INTO {rules} (version, adopted_at, rules) VALUES {rows} ON CONFLICT (version) DO NOTHING",
                rules,
            )
        if people:
            sql.insert_rows(
                "INSERT INTO {people} (person_id, record, document) VALUES {rows} "
                "ON CONFLICT (person_id) DO UPDATE SET record = excluded.record, "
                "document = excluded.document",
                _rows(people),
            )


def _rows(people: dict[str, tuple[PersonRecord, dict[str, Any]]]) -> list[tuple[str, str, str]]:
    return [
        (pid, record.dumps(), orjson.dumps(document).decode()) for pid, (record, document) in people.items()
    ]


def _adoption(event: Any, position: int | None = None) -> Adoption:
    return Adoption(parse(event.rules), event.timestamp, position)


class Certificates(PagedProjection[CertificatesView]):
    handles = (*PERSON_EVENTS, ADOPTED)
    view_class = CertificatesView
    folded_first = (ADOPTED,)  # a rebuild knows every adoption before it folds anyone
    reads_positions = True  # ... and where each stands in the ledger
    issuer: Issuer | None = None  # signs, records and revokes issuances (None: none of it)

    def following(self) -> None:
        """At a projector's start, once folded: what a rebuild (or a start without keys) left
        unsigned is issued now."""
        if self.issuer is not None:
            issued = self.issue_missing(self.issuer)
            if issued:
                log.info("certificates: %d current versions issued at the start", issued)

    def process_page(self, events: list[Any], tracking: Tracking, after: int | None) -> None:
        loaded = self.view.load(person_ids(events))
        versions = Versions(self.view.key, self.view.rules_in_force())
        versions.take(loaded)
        before = {pid: document["certificate_id"] for pid, (_, document) in loaded.items()}
        touched: set[str] = set()
        adopted, segment = [], []
        for event in [*events, None]:
            if event is not None and not isinstance(event, ADOPTED):
                segment.append(event)
                continue
            touched |= versions.fold(segment)
            segment = []
            if event is not None:
                adopted.append(event)
                versions.adopt(_adoption(event), sorted(versions.records))
        for event in adopted:  # those the page does not touch, a few at a time, before the page
            self._adopt_elsewhere(_adoption(event), set(loaded))
        touched |= set(versions.records) if adopted else set()
        self._issue(versions, before, touched)
        self.view.save(
            {pid: (versions.records[pid], versions.documents[pid]) for pid in touched},
            tracking,
            after,
            adopted,
        )

    def _adopt_elsewhere(self, adoption: Adoption, excluded: set[str]) -> None:
        """New rules for the people the page does not touch: evaluated again, a page at a time,
        each issued then saved. A stop halfway leaves some done; done again, nothing changes."""
        last = ""
        while page := self.view.page_after(last):
            last = max(page)
            page = {pid: row for pid, row in page.items() if pid not in excluded}
            versions = Versions(self.view.key, adoption.rules)
            versions.take(page)
            before = {pid: document["certificate_id"] for pid, (_, document) in page.items()}
            versions.adopt(adoption, sorted(page))
            changed = {pid for pid in page if versions.documents[pid] != page[pid][1]}
            self._issue(versions, before, changed)
            self.view.save_people({pid: (versions.records[pid], versions.documents[pid]) for pid in changed})

    def _issue(self, versions: Versions, before: dict[str, str | None], people: set[str]) -> None:
        if self.issuer is None:
            return
        current = versions.became_current(before, people)
        self.issuer.issue(current, versions.superseded_since(current))

    def replay_by_person(
        self, events: Iterable[Any], position: int | None, people_per_write: int = 500
    ) -> None:
        """Rebuild the view from `events`: (position, event) of its topics up to `position`, the
        rules' adoptions first, then stream after stream (each in version order), into tables
        of their own, which then become the view's at `position`. Each adoption is applied to
        a person where it stands among the person's events. Stopped halfway, it leaves those
        tables empty again (they hold personal data) and the view as it was. Signs nothing."""
        view = self.view
        adoptions: list[Adoption] = []
        adopted: list[Any] = []
        versions = Versions(view.key, shipped())

        def save() -> None:
            view.save_rebuilding(
                {pid: (versions.records[pid], versions.documents[pid]) for pid in versions.records}, adopted
            )
            versions.forget()
            adopted.clear()

        def person(stream: list[tuple[int, Any]]) -> None:
            pid = str(stream[0][1].originator_id)
            applied = 0
            versions.rules = shipped()
            for at, event in stream:
                while applied < len(adoptions) and (adoptions[applied].position or 0) < at:
                    _apply(adoptions[applied], pid)
                    applied += 1
                versions.fold([event])
            for adoption in adoptions[applied:]:
                _apply(adoption, pid)

        def _apply(adoption: Adoption, pid: str) -> None:
            versions.adopt(adoption, [pid] if pid in versions.records else [])

        with self.rebuilding_aside() as was:
            for stream in _streams(events):
                if isinstance(stream[0][1], ADOPTED):
                    adopted.extend(e for _, e in stream)
                    adoptions.extend(_adoption(e, at) for at, e in stream)
                    continue
                person(stream)
                if len(versions.records) >= people_per_write:
                    save()
            save()
            view.finish_rebuilding(position, was)

    def issue_missing(self, issuer: Issuer) -> int:
        """Sign and record the current versions that have no Issuance (after a rebuild, or keys
        made since), and revoke the issued versions no longer current (signed while no issuer
        that could revoke them followed): the number of versions issued."""
        issued, last = 0, ""
        rules = self.view.rules_in_force()
        while page := self.view.page_after(last):
            last = max(page)
            current: list[Current] = []
            superseded: list[Superseded] = []
            for pid, (record, document) in page.items():
                superseded.extend(
                    Superseded(entry["certificate_id"], entry["reason"], entry["successor"])
                    for entry in document.get("superseded") or []
                    if entry["certificate_id"] != document["certificate_id"]
                )
                if document["certificate_id"] is None:
                    continue
                certified = certified_of(record, record.evaluation(), rules)
                if certified is None:
                    continue
                certified = replace(certified, rules_version=document["rules_version"])
                if (
                    certificate_id(certified, self.view.key, document["version"])
                    != document["certificate_id"]
                ):
                    log.error("certificates: the current version of %s does not fold again the same", pid)
                    continue
                current.append(Current(certified, document["certificate_id"], pid, document["version"]))
            issued += len(issuer.issue(current, superseded).issued)
        return issued


def _streams(events: Iterable[tuple[int, Any]]) -> Iterator[list[tuple[int, Any]]]:
    """(position, event) given stream after stream, one list per stream."""
    stream: list[tuple[int, Any]] = []
    for item in events:
        if stream and item[1].originator_id != stream[-1][1].originator_id:
            yield stream
            stream = []
        stream.append(item)
    if stream:
        yield stream
