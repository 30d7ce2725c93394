"""The site-record keys in a unique index beside the events (store.site_records), on both stores:
written with the dose in one transaction, refusing a second claimant, and filled once from the
claim events of a store written before the table."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ledger.errors import SiteRecordConflict
from ledger.keys import SiteRecord, dose_id_for
from ledger.recording import dose_report
from ledger.values import Actor, DoseStatus
from store.key_migrations import MIGRATIONS
from store.site_records import TABLE, SiteRecordKey
from store.url import is_postgres
from tests.test_ledger import lan
from usecases.application import DoseLedger
from usecases.people import person_in
from usecases.site_record_keys import copy_site_record_claims
from usecases.working_set import WorkingSet

SITE = Actor("site-token-1", "site")
DOSE = {"site_id": "HN-001", "vaccine": "EU/1/20/1528", "lot": "FA1234", "administered_at": "2021-08-01"}


def open_ledger(url: str) -> DoseLedger:
    return DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})


def fields(person_id: Any, record: str, **overrides: Any) -> dict[str, Any]:
    return {**DOSE, "site_record_id": record, "person_id": str(person_id), **overrides}


def claim_events(ledger: DoseLedger) -> int:
    return len(ledger.recorder.select_notifications(1, 10_000, topics=[get_topic(SiteRecord.Claimed)]))


def person_events(ledger: DoseLedger, person_id: Any) -> int:
    return len(ledger.recorder.select_events(person_id))


def test_a_dose_s_key_is_a_row_and_no_event(store_url):
    with open_ledger(store_url) as ledger:
        pid = ledger.register_person(lan()).person_id
        receipt = ledger.record_dose(actor=SITE, **fields(pid, "R1"))
        batch = ledger.record_doses([fields(pid, f"B{n}", administered_at=f"2021-09-0{n}") for n in (1, 2)])

        assert [o.status for o in batch] == [DoseStatus.CREATED] * 2
        assert claim_events(ledger) == 0
        rows = {k.dose_id: k for k in ledger.recorder.site_records.every()}
        assert set(rows) == {dose_id_for("HN-001", r) for r in ("R1", "B1", "B2")}
        assert rows[receipt.dose_id].person_id == pid
        assert rows[receipt.dose_id].site_record_id == "R1"
        keyed = ledger.decisions.ids.key.site_record_digest(dose_report(fields(pid, "R1")).digest)
        assert rows[receipt.dose_id].content_digest == keyed


def test_a_second_claimant_fails_the_whole_save(store_url):
    with open_ledger(store_url) as ledger:
        first = ledger.register_person(lan()).person_id
        other = ledger.register_person(lan(national_id="001185099999", full_name="Trần Văn Hùng")).person_id
        ledger.record_dose(actor=SITE, **fields(first, "R1"))
        before = person_events(ledger, other)

        ws = ledger.decisions.working_set()
        person = person_in(ws, other)
        key = SiteRecordKey(dose_id_for("HN-001", "R1"), other, "HN-001", "R1", "another digest")
        person.record_dose(
            key.dose_id, "EU/1/20/1528", None, "2021-08-01", "HN-001", None, SITE.as_data(), {}
        )
        with pytest.raises(IntegrityError):
            ledger.decisions.save(person, claims=[key])

        assert person_events(ledger, other) == before  # the person's event went with the key
        assert ledger.recorder.site_records.find([key.dose_id])[key.dose_id].person_id == first


def test_a_writer_that_lost_the_key_is_answered_as_before(store_url):
    """Two writers decide the same site record on their own reads: the one that saves second
    meets the unique index, decides again on fresh reads, and answers what the first wrote."""
    with open_ledger(store_url) as a, open_ledger(store_url) as b:
        first = a.register_person(lan()).person_id
        other = a.register_person(lan(national_id="001185099999", full_name="Trần Văn Hùng")).person_id

        # Another person's claim of the record: a conflict naming the stored dose.
        ws = a.decisions.working_set()
        a.doses.take(ws, dose_report(fields(other, "R1")), SITE)
        won = b.record_dose(actor=SITE, **fields(first, "R1"))
        with pytest.raises(IntegrityError):
            a.decisions.save(*ws.pending(), claims=ws.claimed())
        with pytest.raises(SiteRecordConflict) as caught:
            a.doses.record(dose_report(fields(other, "R1")), SITE)
        assert caught.value.dose_id == won.dose_id

        # The same dose sent twice at once: the second answers the first's receipt.
        ws = a.decisions.working_set()
        a.doses.take(ws, dose_report(fields(first, "R2")), SITE)
        won = b.record_dose(actor=SITE, **fields(first, "R2"))
        with pytest.raises(IntegrityError):
            a.decisions.save(*ws.pending(), claims=ws.claimed())
        again = a.doses.record(dose_report(fields(first, "R2")), SITE)
        assert again.duplicate and (again.dose_id, again.person_id) == (won.dose_id, won.person_id)
        assert len(a.person(first).doses) == 2


def old_take(ledger: DoseLedger, ws: WorkingSet, person_id: Any, record: str, **overrides: Any) -> SiteRecord:
    """A dose decided as the code before the key table did: its key a SiteRecord aggregate."""
    report = dose_report(fields(person_id, record, **overrides))
    subject = person_in(ws, person_id, follow_merges=True)
    new = ledger.sites.provisional(ws, report.site_id, subject.details["province"], SITE, report.source)
    claim = SiteRecord.claim(person_id, report.site_id, report.site_record_id, report.digest)
    subject.record_dose(
        claim.id,
        report.vaccine,
        report.lot,
        report.administered_at,
        report.site_id,
        report.reported_dose_number,
        SITE.as_data(),
        report.source,
        named_person_id=person_id,
    )
    ws.changed(subject, claim, *new)
    return claim


def without_key_tables(ledger: DoseLedger) -> None:
    """The store as the code before the key table left it: no key table, no migration marker."""
    store = ledger.recorder.datastore
    prefix = f'"{store.schema}".' if is_postgres(str(ledger.env.get("DOSELEDGER_DATABASE_URL"))) else ""
    with store.transaction(commit=True) as curs:
        curs.execute(f"DROP TABLE {prefix}{TABLE}")
        curs.execute(f"DROP TABLE {prefix}{MIGRATIONS}")


def test_a_store_written_before_the_key_table_is_migrated_and_refuses_as_before(store_url):
    with open_ledger(store_url) as old:
        pid = old.register_person(lan()).person_id
        ws = old.decisions.working_set()
        claims = [old_take(old, ws, pid, f"OLD-{n}", administered_at=f"2021-0{n}-01") for n in (1, 2, 3)]
        old.decisions.save(*ws.pending())
        without_key_tables(old)
        stored = old.head()

    with open_ledger(store_url) as ledger:  # the start copies the claims into the table
        assert {k.dose_id for k in ledger.recorder.site_records.every()} == {c.id for c in claims}
        assert claim_events(ledger) == 3 and ledger.head() == stored  # the events stay, none added

        again = ledger.record_dose(actor=SITE, **fields(pid, "OLD-1", administered_at="2021-01-01"))
        assert again.duplicate and (again.dose_id, again.person_id) == (claims[0].id, pid)
        with pytest.raises(SiteRecordConflict) as caught:
            ledger.record_dose(actor=SITE, **fields(pid, "OLD-1", lot="OTHER", administered_at="2021-01-01"))
        assert caught.value.dose_id == claims[0].id
        batch = ledger.record_doses(
            [
                fields(pid, "OLD-2", administered_at="2021-02-01"),
                fields(pid, "NEW-1", administered_at="2021-04-01"),
            ]
        )
        assert [o.status for o in batch] == [DoseStatus.DUPLICATE, DoseStatus.CREATED]
        assert ledger.head() == batch[1].receipt.position

        # What reads a dose's key finds the migrated one: amending, the access checks' origin.
        ledger.amend_dose(claims[2].id, {"lot": "FB9999"}, "typo", actor=SITE)
        assert ledger.person(pid).doses[str(claims[2].id)]["lot"] == "FB9999"
        assert ledger.dose_origin(claims[1].id) == (pid, "HN-001")
        assert len(ledger.person(pid).doses) == 4

        # Copying again (a position lost, two processes starting at once) adds nothing.
        keys = ledger.recorder.site_records
        assert keys.copied_up_to() == stored
        with ledger.recorder.datastore.transaction(commit=True) as curs:
            curs.execute(
                keys.migrations._done.replace("SELECT position FROM", "DELETE FROM"), ("site-records",)
            )
        assert keys.copied_up_to() == 0
        assert copy_site_record_claims(ledger.recorder, ledger.mapper, ledger.decisions.ids.key) == 0
        assert keys.copied_up_to() == ledger.head() and len(list(keys.every())) == 4


def test_a_batch_that_lost_one_key_answers_each_dose_on_its_own(store_url):
    """A batch decided on its reads, one of whose keys another writer stores before the batch's
    save: the save fails whole, each dose is decided again alone: that one a conflict, the rest
    created, nothing stored twice."""
    with open_ledger(store_url) as a, open_ledger(store_url) as b:
        first = a.register_person(lan()).person_id
        other = a.register_person(lan(national_id="001185099999", full_name="Trần Văn Hùng")).person_id
        a.record_dose(actor=SITE, **fields(other, "R0"))  # the site is listed: only the key can collide
        reports = [dose_report(fields(first, f"R{n}", administered_at=f"2021-0{n}-01")) for n in (1, 2, 3)]
        real_save = a.decisions.save

        def someone_first(*aggregates: Any, claims: Any = ()) -> Any:
            if claims and len(claims) == 3:  # the batch's save: another site's writer stores R2 first
                b.record_dose(actor=SITE, **fields(other, "R2", administered_at="2021-02-01"))
            return real_save(*aggregates, claims=claims)

        a.decisions.save = someone_first  # type: ignore[method-assign]
        outcomes = a.record_reports(reports, [SITE] * 3)

        assert [o.status for o in outcomes] == [DoseStatus.CREATED, DoseStatus.CONFLICT, DoseStatus.CREATED]
        assert isinstance(outcomes[1].error, SiteRecordConflict)
        assert len(a.person(first).doses) == 2 and len(a.person(other).doses) == 2
        held = a.recorder.site_records.find(r.dose_id for r in reports)
        assert [held[r.dose_id].person_id for r in reports] == [first, other, first]


def test_a_dose_an_earlier_version_stores_during_an_upgrade_is_answered_as_a_duplicate(store_url):
    """A process of the earlier version still running after this one copied the keys stores a
    dose with its key as an event only: a retry of it, singly or in a batch, is the same
    receipt at once, and other content under its site record is refused as a conflict."""
    with open_ledger(store_url) as ledger:  # the keys copied at the start (none)
        pid = ledger.register_person(lan()).person_id
        ws = ledger.decisions.working_set()
        claim = old_take(ledger, ws, pid, "LATE-1")
        ledger.decisions.save(*ws.pending())
        assert ledger.recorder.site_records.find([claim.id]) == {}
        ledger.decisions.budget = 1.0  # a retry that never ends would be Contention at once

        batch = ledger.record_doses([fields(pid, "LATE-1")])[0]
        assert batch.status == DoseStatus.DUPLICATE, (batch.status, batch.error)
        assert batch.receipt is not None and (batch.receipt.dose_id, batch.receipt.person_id) == (
            claim.id,
            pid,
        )
        alone = ledger.record_dose(actor=SITE, **fields(pid, "LATE-1"))
        assert alone.duplicate and (alone.dose_id, alone.person_id) == (claim.id, pid)
        with pytest.raises(SiteRecordConflict):
            ledger.record_dose(actor=SITE, **fields(pid, "LATE-1", lot="OTHER"))
        assert len(ledger.person(pid).doses) == 1


def test_keys_an_earlier_version_stores_during_an_upgrade_are_copied_at_the_next_start(store_url):
    with open_ledger(store_url) as ledger:
        pid = ledger.register_person(lan()).person_id
        ws = ledger.decisions.working_set()
        claim = old_take(ledger, ws, pid, "LATE-1")
        ledger.decisions.save(*ws.pending())
        copied = ledger.recorder.site_records.copied_up_to()
        assert copied < ledger.head()
    with open_ledger(store_url) as ledger:  # the claim is after the position the last copy kept
        keys = ledger.recorder.site_records
        assert set(keys.find([claim.id])) == {claim.id}
        assert keys.copied_up_to() == ledger.head()
        assert ledger.dose_origin(claim.id) == (pid, "HN-001")
        assert copy_site_record_claims(ledger.recorder, ledger.mapper, ledger.decisions.ids.key) == 0


def test_a_store_whose_keys_were_copied_before_the_position_was_kept_is_copied_again_once(store_url):
    """The first table version marked the copy done without a position: its claims, an earlier
    version's late ones among them, are all copied at the next start."""
    with open_ledger(store_url) as ledger:
        pid = ledger.register_person(lan()).person_id
        ws = ledger.decisions.working_set()
        claim = old_take(ledger, ws, pid, "LATE-1")
        ledger.decisions.save(*ws.pending())
        store = ledger.recorder.datastore
        pg = is_postgres(store_url)
        table = f'"{store.schema}".{MIGRATIONS}' if pg else MIGRATIONS
        done = "now()" if pg else "'2026-01-01T00:00:00+00:00'"
        with store.transaction(commit=True) as curs:
            curs.execute(f"DROP TABLE {table}")
            curs.execute(f"CREATE TABLE {table} (name text PRIMARY KEY, done_at text NOT NULL)")
            curs.execute(f"INSERT INTO {table} VALUES ('site-records', {done})")
    with open_ledger(store_url) as ledger:
        keys = ledger.recorder.site_records
        assert set(keys.find([claim.id])) == {claim.id}
        assert keys.copied_up_to() == ledger.head()


def _key_table(ledger: DoseLedger, store_url: str) -> tuple[str, str]:
    store = ledger.recorder.datastore
    pg = is_postgres(store_url)
    return (f'"{store.schema}".{TABLE}' if pg else TABLE), ("%s" if pg else "?")


@pytest.mark.parametrize(
    "change",
    [
        ("site_id", "HCM-999"),  # the access check would ask about another site
        ("site_record_id", "T2"),  # another site record's key
        ("person_id", "other"),  # amending and voiding led to another person
    ],
)
def test_verify_all_finds_a_key_row_that_no_longer_matches_its_dose(store_url, change):
    """The rows decide the access check's site and whom amending leads to, so the store's
    audit holds each row against its dose's recorded event."""
    from replay.verify import verify_all

    with open_ledger(store_url) as ledger:
        pid = ledger.register_person(lan()).person_id
        other = ledger.register_person(lan(national_id="001185099999", full_name="Trần Văn Hùng")).person_id
        receipt = ledger.record_dose(actor=SITE, **fields(pid, "T1"))
        ledger.record_dose(actor=SITE, **fields(other, "T3"))
        assert verify_all(ledger)["consistent"]

        column, value = change
        table, mark = _key_table(ledger, store_url)
        new = (other if is_postgres(store_url) else other.hex) if value == "other" else value
        with ledger.recorder.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"UPDATE {table} SET {column} = {mark} WHERE dose_id = {mark}",
                (new, receipt.dose_id if is_postgres(store_url) else receipt.dose_id.hex),
            )
        report = verify_all(ledger)
        assert not report["consistent"]
        assert [(d["kind"], d["dose_id"]) for d in report["differences"]] == [
            ("key_row", str(receipt.dose_id))
        ]


def test_verify_all_finds_a_dose_without_its_key_row_and_a_row_without_its_dose(store_url):
    from replay.verify import verify_all

    with open_ledger(store_url) as ledger:
        pid = ledger.register_person(lan()).person_id
        receipt = ledger.record_dose(actor=SITE, **fields(pid, "T1"))
        table, mark = _key_table(ledger, store_url)
        pg = is_postgres(store_url)
        with ledger.recorder.datastore.transaction(commit=True) as curs:
            curs.execute(f"DELETE FROM {table}")
        stray = SiteRecordKey(dose_id_for("HN-001", "NONE"), pid, "HN-001", "NONE", "x")
        ledger.recorder.site_records.copy([stray])
        report = verify_all(ledger)
        assert not report["consistent"]
        found = {(d["dose_id"], d["detail"]) for d in report["differences"]}
        assert found == {
            (str(receipt.dose_id), "recorded dose has no key row"),
            (str(stray.dose_id), "key row names no recorded dose"),
        }, pg


def test_processes_starting_at_once_on_an_older_store_all_start_and_copy_it_once(store_url, monkeypatch):
    """Workers of a new version started together on a store written before the key table: none
    fails on the database's locks, and on PostgreSQL the store's claims are read by one of them."""
    import threading

    import usecases.site_record_keys as migration

    made: list[SiteRecordKey] = []
    real_key = migration.SiteRecordKey

    def counted(*args: Any) -> SiteRecordKey:
        made.append(real_key(*args))
        return made[-1]

    monkeypatch.setattr(migration, "CHUNK", 2)
    monkeypatch.setattr(migration, "SiteRecordKey", counted)
    for trial in range(3):
        url = store_url if trial == 0 else store_url.replace(".db", f"-{trial}.db")
        if is_postgres(store_url) and trial:
            break  # one schema per test; the lock makes a repeat add nothing
        with open_ledger(url) as old:
            pid = old.register_person(lan()).person_id
            ws = old.decisions.working_set()
            claims = [
                old_take(old, ws, pid, f"OLD-{n}", administered_at=f"2021-0{n}-01") for n in range(1, 8)
            ]
            old.decisions.save(*ws.pending())
            without_key_tables(old)
        made.clear()
        errors: list[BaseException] = []
        opened: list[DoseLedger] = []

        def start(
            url: str = url, opened: list[DoseLedger] = opened, errors: list[BaseException] = errors
        ) -> None:
            try:
                opened.append(open_ledger(url))
            except BaseException as e:  # noqa: BLE001 - the test's finding
                errors.append(e)

        threads = [threading.Thread(target=start) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            assert errors == []
            rows = {k.dose_id for k in opened[0].recorder.site_records.every()}
            assert rows == {c.id for c in claims} and claim_events(opened[0]) == 7
            if is_postgres(store_url):
                assert len(made) == 7
        finally:
            for ledger in opened:
                ledger.close()


def test_an_erased_person_s_details_cannot_be_confirmed_from_the_key_table(store_url):
    """A site that registers the person with the dose reports their name, birth date, national
    id and phone; after the person's erasure the key row still stands, and must not confirm a
    guess of those details."""
    with open_ledger(store_url) as ledger:
        sent = {**DOSE, "site_record_id": "E1", "person": lan()}
        receipt = ledger.record_dose(actor=SITE, **sent)
        ledger.erase_person(receipt.person_id, "the person's request", actor=Actor("admin-1", "admin"))
        ledger.finish_erasures()
        row = ledger.recorder.site_records.find([receipt.dose_id])[receipt.dose_id]
        assert row.content_digest != dose_report(sent).digest
        assert dose_report(sent).digest not in row.content_digest


def test_rows_kept_with_plain_digests_are_keyed_at_the_next_start_and_still_answer_retries(store_url):
    """Rows the table's first version wrote (and an earlier version's claims) kept the plain
    digest: the next start keys them, and a retry is the same receipt before and after."""
    with open_ledger(store_url) as ledger:
        pid = ledger.register_person(lan()).person_id
        receipt = ledger.record_dose(actor=SITE, **fields(pid, "P1"))
        ws = ledger.decisions.working_set()
        claim = old_take(ledger, ws, pid, "OLD-1", administered_at="2021-02-01")
        ledger.decisions.save(*ws.pending())
        plain = dose_report(fields(pid, "P1")).digest
        table, mark = _key_table(ledger, store_url)
        with ledger.recorder.datastore.transaction(commit=True) as curs:
            curs.execute(f"UPDATE {table} SET content_digest = {mark}", (plain,))
        assert ledger.record_dose(actor=SITE, **fields(pid, "P1")).duplicate
    with open_ledger(store_url) as ledger:
        rows = ledger.recorder.site_records.find([receipt.dose_id, claim.id])
        key = ledger.decisions.ids.key
        assert rows[receipt.dose_id].content_digest == key.site_record_digest(plain)
        old = dose_report(fields(pid, "OLD-1", administered_at="2021-02-01")).digest
        assert rows[claim.id].content_digest == key.site_record_digest(old)
        assert ledger.record_dose(actor=SITE, **fields(pid, "P1")).duplicate
        again = ledger.record_dose(actor=SITE, **fields(pid, "OLD-1", administered_at="2021-02-01"))
        assert again.duplicate and again.dose_id == claim.id
        with pytest.raises(SiteRecordConflict):
            ledger.record_dose(actor=SITE, **fields(pid, "P1", lot="OTHER"))


def test_saves_after_a_refused_key_are_served_as_before(store_url):
    """Many saves (their statements prepared by then), a key another dose holds refused three
    times, then more saves on the same connections: each is stored."""
    with open_ledger(store_url) as ledger:
        pid = ledger.register_person(lan()).person_id
        for n in range(8):
            ledger.record_dose(actor=SITE, **fields(pid, f"W{n}", administered_at=f"2021-0{n + 1}-01"))
        other = ledger.register_person(lan(national_id="001185099999", full_name="Trần Văn Hùng")).person_id
        for _ in range(3):
            ws = ledger.decisions.working_set()
            person = person_in(ws, other)
            key = SiteRecordKey(dose_id_for("HN-001", "W1"), other, "HN-001", "W1", "x")
            person.record_dose(
                key.dose_id, "EU/1/20/1528", None, "2021-08-01", "HN-001", None, SITE.as_data(), {}
            )
            with pytest.raises(IntegrityError):
                ledger.decisions.save(person, claims=[key])
        for n in range(8):
            r = ledger.record_dose(actor=SITE, **fields(other, f"X{n}", administered_at=f"2021-0{n + 1}-01"))
            assert not r.duplicate
        assert len(ledger.person(other).doses) == 8


def test_merge_and_unmerge_lead_a_site_s_dose_its_retries_and_amendments(store_url):
    """The row names whom the site named: a merge leads the dose and its retries to the
    survivor, an unmerge gives them back, and amending follows."""
    admin = Actor("admin-1", "admin")
    with open_ledger(store_url) as ledger:
        survivor = ledger.register_person(lan()).person_id
        dup = ledger.register_person(lan(national_id="001185099999", full_name="Trần Văn Hùng")).person_id
        before = ledger.record_dose(actor=SITE, **fields(dup, "M1"))
        ledger.merge_persons(survivor, dup, "same", actor=admin)
        # a dose naming the merged-away person, recorded after the merge: led to the survivor
        after = ledger.record_dose(actor=SITE, **fields(dup, "M2", administered_at="2021-09-01"))
        assert after.person_id == survivor
        again = ledger.record_dose(actor=SITE, **fields(dup, "M1"))
        assert again.duplicate and again.person_id == survivor
        assert ledger.dose_origin(before.dose_id)[0] == survivor
        ledger.unmerge_persons(survivor, dup, "two after all", actor=admin)
        for r, rec, at in ((before, "M1", "2021-08-01"), (after, "M2", "2021-09-01")):
            assert ledger.dose_origin(r.dose_id)[0] == dup
            assert str(r.dose_id) in ledger.person(dup).doses
            retry = ledger.record_dose(actor=SITE, **fields(dup, rec, administered_at=at))
            assert retry.duplicate and (retry.dose_id, retry.person_id) == (r.dose_id, dup)
        ledger.amend_dose(after.dose_id, {"lot": "ZZ1"}, "typo", actor=SITE)
        assert ledger.person(dup).doses[str(after.dose_id)]["lot"] == "ZZ1"


def test_a_batch_that_lost_its_person_to_another_writer_is_decided_again(store_url):
    """Another writer saves a dose of the same person before the batch's save (keys staged):
    the batch is decided again and every dose stored, each with its key."""
    with open_ledger(store_url) as a, open_ledger(store_url) as b:
        pid = a.register_person(lan()).person_id
        a.record_dose(actor=SITE, **fields(pid, "R0"))
        reports = [dose_report(fields(pid, f"R{n}", administered_at=f"2021-0{n}-01")) for n in (1, 2)]
        real_save = a.decisions.save

        def someone_first(*aggregates: Any, claims: Any = ()) -> Any:
            if claims and len(claims) == 2:
                b.record_dose(actor=SITE, **fields(pid, "R9", administered_at="2021-09-01"))
            return real_save(*aggregates, claims=claims)

        a.decisions.save = someone_first  # type: ignore[method-assign]
        outcomes = a.record_reports(reports, [SITE] * 2)
        assert [o.status for o in outcomes] == [DoseStatus.CREATED] * 2, [o.error for o in outcomes]
        assert len(a.person(pid).doses) == 4
        held = a.recorder.site_records.find(r.dose_id for r in reports)
        assert len(held) == 2
