"""The certificates projection: one certificate per person, versioned, with the revoked ids.

A certificate shows the person's valid doses (after amendments, voids and merges) numbered in
administered order, and a status by the catalog's series rules. Its version grows only when
what it shows changes (a corrected phone number issues nothing new); each version has its own
certificate id, and the ids it superseded are listed as revoked. A person merged into another
holds no certificate any more: every id it had is revoked and it points to the survivor, whose
certificate now shows the doses.

A certificate is a fold of one person's stream and nothing else, so a rebuild folds the ledger
person by person (`replay_by_person`): no row is loaded, each person is folded once and written
once, into a table of its own that takes the place of the view's in one transaction. Until then
the API reads the certificates as they were; a rebuild that stops halfway leaves them so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import orjson
from eventsourcing.persistence import Tracking

from ledger.catalog import vaccine_catalog
from projections.engine.gathered_reads import GatheredReads
from projections.engine.migrations import Migration, drop_table
from projections.engine.paging import PagedProjection, streams
from projections.engine.statements import Sql
from projections.engine.tables import Tables
from projections.records import PERSON_EVENTS, PersonRecord, as_uuid, fold_people, person_ids

NAMESPACE = uuid5(NAMESPACE_URL, "https://doseledger.example/certificates")
_NAMESPACE_BYTES = NAMESPACE.bytes
CONTENT = ("doses", "status", "merged_into")  # what a version certifies


def certificate_id(person_id: str, version: int) -> str:
    """uuid5(NAMESPACE, "{person_id}/{version}") as text, written out from its SHA-1.

    A rebuild issues one per event: `uuid.uuid5` then `str` built and checked a UUID object
    each time (a tenth of a certificates rebuild's profile). Same bits: version 5, RFC 4122
    variant (tests/test_projections.py compares the two)."""
    h = hashlib.sha1(_NAMESPACE_BYTES + f"{person_id}/{version}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{(int(h[16:18], 16) & 0x3F) | 0x80:02x}{h[18:20]}-{h[20:32]}"


def shown_doses(record: PersonRecord) -> tuple[list[dict[str, Any]], str]:
    """The doses a certificate shows, numbered, and the status they give."""
    if record.merged:
        return [], "none"  # the doses moved to the survivor with the merge
    catalog = vaccine_catalog()
    evaluation = record.evaluation()
    doses = [
        {
            "dose_id": n.dose["dose_id"],
            "dose_number": n.number,
            "booster": n.booster,
            "vaccine": n.dose["vaccine"],
            "vaccine_name": catalog.vaccines[n.dose["vaccine"]].name
            if n.dose["vaccine"] in catalog
            else None,
            "lot": n.dose["lot"],
            "administered_at": n.dose["administered_at"],
            "site_id": n.dose["site_id"],
        }
        for n in evaluation.doses
    ]
    return doses, evaluation.status


def issue(record: PersonRecord, previous: dict[str, Any] | None, at: datetime) -> dict[str, Any]:
    """The certificate after an event: the previous one unless what it certifies changed."""
    doses, status = shown_doses(record)
    content = {"doses": doses, "status": status, "merged_into": record.merged_into}
    if previous is not None and all(previous[k] == content[k] for k in CONTENT):
        return _erased({**previous, "province": record.details["province"]}, record)
    version = previous["version"] + 1 if previous else 1
    revoked = list(previous["revoked"]) if previous else []
    if previous and previous["certificate_id"]:
        revoked.append(previous["certificate_id"])
    return _erased(
        {
            "person_id": record.person_id,
            "certificate_id": None if record.merged else certificate_id(record.person_id, version),
            "version": version,
            "status": status,
            "issued_at": at.isoformat(),
            "doses": doses,
            "revoked": revoked,
            "merged_into": record.merged_into,
            "province": record.details["province"],
        },
        record,
    )


def _erased(document: dict[str, Any], record: PersonRecord) -> dict[str, Any]:
    """A certificate holds no personal data; an erased person's says the person was erased
    (its doses and status stay: they are no one's personal data without the person's)."""
    if record.erased:
        document["erased"] = True
    return document


_PEOPLE = "person_id TEXT PRIMARY KEY, record TEXT NOT NULL, document TEXT NOT NULL"


class CertificatesView(Tables):
    """What the API reads (`certificate`) and what the projection writes (`load`, `save`)."""

    name = "certificates"
    tables = {"people": _PEOPLE}
    aside = ("people",)
    # `certificates_rebuilding`: the aside table's name until the statistics were rebuilt aside too.
    migrations = (
        Migration(2, "the retired certificates_rebuilding dropped", drop_table("certificates_rebuilding")),
    )
    CERTIFICATE = "SELECT document FROM {people} WHERE person_id = ?"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._gathered = GatheredReads(self.certificates) if self.remote else None

    def certificate(self, person_id: UUID | str) -> dict[str, Any] | None:
        """{person_id, certificate_id, version, status, issued_at, doses: [{dose_id, dose_number,
        booster, vaccine, vaccine_name, lot, administered_at, site_id}], revoked: [ids],
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

    def save(
        self, people: dict[str, tuple[PersonRecord, dict[str, Any]]], tracking: Tracking, after: int | None
    ) -> None:
        """Store these records and certificates and move the view from `after` to `tracking`."""
        with self.writing(tracking, after) as sql:
            self._write(sql, people)

    def save_rebuilding(self, people: dict[str, tuple[PersonRecord, dict[str, Any]]]) -> None:
        """Store these records and certificates in the rebuild's table."""
        with self.writing_aside() as sql:
            self._write(sql, people)

    @staticmethod
    def _write(sql: Sql, people: dict[str, tuple[PersonRecord, dict[str, Any]]]) -> None:
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


class Certificates(PagedProjection[CertificatesView]):
    handles = PERSON_EVENTS
    view_class = CertificatesView

    def process_page(self, events: list[Any], tracking: Tracking, after: int | None) -> None:
        loaded = self.view.load(person_ids(events))
        records = {pid: record for pid, (record, _) in loaded.items()}
        documents = {pid: document for pid, (_, document) in loaded.items()}
        touched = _fold(events, records, documents)
        self.view.save({pid: (records[pid], documents[pid]) for pid in touched}, tracking, after)

    def replay_by_person(
        self, events: Iterable[Any], position: int | None, people_per_write: int = 500
    ) -> None:
        """Rebuild the view from `events`: every event of its topics up to `position`, stream
        after stream (each in version order), into a table of its own, which then becomes the
        view's at `position`. Stopped halfway, it leaves that table empty again (it holds
        personal data) and the view as it was."""
        view = self.view
        records: dict[str, PersonRecord] = {}
        documents: dict[str, dict[str, Any]] = {}

        def save() -> None:
            view.save_rebuilding({pid: (records[pid], documents[pid]) for pid in records})
            records.clear()
            documents.clear()

        with self.rebuilding_aside() as was:
            for stream in streams(events):
                _fold(stream, records, documents)
                if len(records) >= people_per_write:
                    save()
            save()
            view.finish_rebuilding(position, was)


def _fold(
    events: list[Any], records: dict[str, PersonRecord], documents: dict[str, dict[str, Any]]
) -> set[str]:
    """Fold events into the records, reissuing each person's certificate after each of them
    (per event: a page of 500, 500 pages of one and a whole stream give the same versions)."""

    def reissue(record: PersonRecord, event: Any) -> None:
        documents[record.person_id] = issue(record, documents.get(record.person_id), event.timestamp)

    return fold_people(events, records, after_each=reissue)
