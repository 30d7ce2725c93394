"""The people's keys as rows of tables beside the events (store.person_keys), on both stores:
a national id's holder and an identity key's people, appended with the person's events in one
transaction, refusing a second claimant, never holding what an official typed, and copied once
from the key events of a store written before the tables."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ledger.errors import NationalIdTaken
from ledger.keys import IdentityKey, NationalIdClaim
from ledger.person import Person
from ledger.values import Actor
from store.key_migrations import MIGRATIONS
from store.person_keys import IDENTITY_TABLE, REASONS, TABLE, KeyRow
from store.url import is_postgres
from tests.test_ledger import lan
from usecases.application import DoseLedger
from usecases.people import claim_national_id, holder_of_national_id
from usecases.person_key_copy import copy_person_keys

SITE = Actor("site-token-1", "site")
ADMIN = Actor("admin-1", "admin")
NEW_CARD = "001185099999"
SECRET_REASON = "Nguyễn Thị Lan brought her new card 001185099999"  # what an official may type


def open_ledger(url: str) -> DoseLedger:
    return DoseLedger(env={"DOSELEDGER_DATABASE_URL": url})


def rows_of(ledger: DoseLedger, national_id: str) -> list[tuple[int, UUID | None, str]]:
    key = ledger.ids.national_id(national_id)
    return [(r.seq, r.person_id, r.reason) for r in ledger.recorder.national_ids.history([key])]


def claim_events(ledger: DoseLedger) -> int:
    topics = [get_topic(NationalIdClaim.Claimed), get_topic(NationalIdClaim.Reassigned)]
    return len(ledger.recorder.select_notifications(1, 10_000, topics=topics))


def identity_events(ledger: DoseLedger) -> int:
    topics = [get_topic(IdentityKey.Claimed), get_topic(IdentityKey.Joined), get_topic(IdentityKey.Left)]
    return len(ledger.recorder.select_notifications(1, 10_000, topics=topics))


def identity_rows(ledger: DoseLedger, person: dict[str, Any]) -> list[tuple[int, UUID | None, str]]:
    key = ledger.ids.identity(person["full_name"], person["birth_date"], person["phone"])
    return [(r.seq, r.person_id, r.reason) for r in ledger.recorder.identities.history([key])]


def table_names(ledger: DoseLedger, store_url: str) -> tuple[str, str]:
    prefix = f'"{ledger.recorder.datastore.schema}".' if is_postgres(store_url) else ""
    return prefix + TABLE, prefix + MIGRATIONS


def test_a_national_id_is_a_row_appended_with_each_change_of_holder_and_no_event(store_url):
    with open_ledger(store_url) as ledger:
        lan_id = ledger.register_person(lan(), actor=SITE).person_id
        assert rows_of(ledger, lan()["national_id"]) == [(1, lan_id, "claimed")]
        ledger.correct_details(lan_id, {"national_id": NEW_CARD}, SECRET_REASON, actor=ADMIN)
        assert rows_of(ledger, lan()["national_id"]) == [(1, lan_id, "claimed"), (2, None, "corrected")]
        assert rows_of(ledger, NEW_CARD) == [(1, lan_id, "claimed")]
        # The released number is someone else's now: a registration claims it again.
        hung = ledger.register_person(lan(full_name="Trần Văn Hùng"), actor=SITE)
        assert hung.created and hung.person_id != lan_id
        assert rows_of(ledger, lan()["national_id"])[-1] == (3, hung.person_id, "reclaimed")
        ledger.erase_person(hung.person_id, SECRET_REASON, actor=ADMIN)
        assert rows_of(ledger, lan()["national_id"])[-1] == (4, None, "erased")
        assert claim_events(ledger) == 0
        # Every reason is a word of the list: never an official's text (a row outlives an erasure).
        for row in ledger.recorder.national_ids.every():
            assert row.reason in REASONS
        # The same national id finds its person, from a registration and a dose's inline person.
        again = ledger.register_person(lan(national_id=NEW_CARD), actor=SITE)
        assert (again.person_id, again.created) == (lan_id, False)
        inline = {"full_name": "x", "birth_date": "1985-03-14", "sex": "female", "national_id": NEW_CARD}
        dose = ledger.record_doses(
            [
                {
                    "site_id": "HN-001",
                    "site_record_id": "R1",
                    "vaccine": "EU/1/20/1528",
                    "administered_at": "2021-08-01",
                    "person": {**lan(), **inline},
                }
            ],
            actor=SITE,
        )[0].receipt
        assert dose is not None and dose.person_id == lan_id


def test_a_second_claimant_fails_the_whole_save_and_its_decision_is_retried(store_url):
    with open_ledger(store_url) as ledger:
        nid = lan()["national_id"]
        # Two decisions that both read the national id as no one's.
        first, second = ledger.decisions.working_set(), ledger.decisions.working_set()
        assert holder_of_national_id(first, nid) is None and holder_of_national_id(second, nid) is None
        people = []
        for ws in (first, second):
            person = Person.register(UUID(int=len(people) + 1), {**lan()}, "site", SITE.as_data(), {})
            claim_national_id(ws, nid, person.id)
            ws.changed(person)
            people.append(person.id)
        with ledger.decisions.rows_of(first):
            ledger.decisions.save(*first.pending())
        with pytest.raises(IntegrityError), ledger.decisions.rows_of(second):
            ledger.decisions.save(*second.pending())
        assert ledger.recorder.select_events(people[1]) == []  # the person went with the row
        assert rows_of(ledger, nid) == [(1, people[0], "claimed")]
        # Decided again on fresh reads, a registration finds the first claimant.
        again = ledger.register_person(lan(), actor=SITE)
        assert (again.person_id, again.created) == (people[0], False)
        # A correction to a national id someone holds is refused.
        other = ledger.register_person(lan(national_id=NEW_CARD, full_name="Trần Văn Hùng")).person_id
        with pytest.raises(NationalIdTaken):
            ledger.correct_details(other, {"national_id": nid}, "typo", actor=ADMIN)


def test_registrations_racing_for_one_national_id_make_one_person(store_url):
    with open_ledger(store_url) as ledger:
        # The store's first key saved before: the race is on the national id's row alone.
        ledger.register_person(lan(national_id=None, full_name="Phạm Thu"), actor=SITE)
        found: list[UUID] = []
        errors: list[BaseException] = []

        def register() -> None:
            try:
                found.append(ledger.register_person(lan(), actor=SITE).person_id)
            except BaseException as e:  # noqa: BLE001 - the test's finding
                errors.append(e)

        threads = [threading.Thread(target=register) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(set(found)) == 1
        assert rows_of(ledger, lan()["national_id"]) == [(1, found[0], "claimed")]


def test_a_batch_finds_its_people_by_national_id_from_the_table(store_url):
    with open_ledger(store_url) as ledger:
        lan_id = ledger.register_person(lan(), actor=SITE).person_id
        reports = [
            {
                "site_id": "HN-001",
                "site_record_id": f"B{n}",
                "vaccine": "EU/1/20/1528",
                "administered_at": f"2021-08-0{n}",
                "person": lan(national_id=nid, full_name=f"Người {n}"),
            }
            for n, nid in ((1, lan()["national_id"]), (2, "001190000002"), (3, "001190000002"))
        ]
        outcomes = ledger.record_doses(reports, actor=SITE)
        holders = [o.receipt.person_id for o in outcomes if o.receipt is not None]
        assert holders[0] == lan_id and holders[1] == holders[2] != lan_id
        assert rows_of(ledger, "001190000002") == [(1, holders[1], "claimed")]


# --- stores written before the table -----------------------------------------------------------


def write_claims_the_old_way(ledger: DoseLedger, store_url: str) -> dict[str, Any]:
    """A store as the code before the table left it: claims as events, no table, no marker."""
    lan_id = ledger.register_person(lan(), actor=SITE).person_id
    hung = ledger.register_person(lan(national_id=NEW_CARD, full_name="Trần Văn Hùng")).person_id
    kept = NationalIdClaim.claim(ledger.ids.national_id(lan()["national_id"]), lan_id)
    released = NationalIdClaim.claim(ledger.ids.national_id(NEW_CARD), hung)
    released.reassign(None, SECRET_REASON)  # a correction's own reason, as the old code kept it
    # Lan and Hùng share a name key here; Hùng left it (a correction), and joined again.
    shared = IdentityKey.claim(ledger.ids.identity(*identity_of(lan())), lan_id)
    shared.join(hung)
    shared.leave(hung, SECRET_REASON)
    shared.join(hung)
    ledger.save(kept, released, shared)
    table, migrations = table_names(ledger, store_url)
    with ledger.recorder.datastore.transaction(commit=True) as curs:
        curs.execute(f"DROP TABLE {table}")
        curs.execute(f"DROP TABLE {table.replace(TABLE, IDENTITY_TABLE)}")
        curs.execute(f"DELETE FROM {migrations} WHERE name IN ('national-ids', 'identity-keys')")
    return {"lan": lan_id, "hung": hung}


def identity_of(person: dict[str, Any]) -> tuple[str, str, str]:
    return person["full_name"], person["birth_date"], person["phone"]


def test_a_store_written_before_the_table_is_copied_at_start_and_answers_as_before(store_url):
    with open_ledger(store_url) as old:
        people = write_claims_the_old_way(old, store_url)
    with open_ledger(store_url) as ledger:
        assert rows_of(ledger, lan()["national_id"]) == [(1, people["lan"], "claimed")]
        assert rows_of(ledger, NEW_CARD) == [(1, people["hung"], "claimed"), (2, None, "corrected")]
        assert ledger.recorder.national_ids.copied_up_to() == ledger.head()
        assert claim_events(ledger) == 3 and identity_events(ledger) == 4  # the events stay
        assert identity_rows(ledger, lan()) == [
            (1, people["lan"], "joined"),
            (2, people["hung"], "joined"),
            (3, people["hung"], "left"),
            (4, people["hung"], "joined"),
        ]
        assert copy_person_keys(ledger.recorder, ledger.mapper) == 0  # nothing new since
        again = ledger.register_person(lan(), actor=SITE)
        assert (again.person_id, again.created) == (people["lan"], False)
        reclaimed = ledger.register_person(lan(national_id=NEW_CARD, full_name="Phạm Thu"), actor=SITE)
        assert reclaimed.created
        assert rows_of(ledger, NEW_CARD)[-1] == (3, reclaimed.person_id, "reclaimed")
        # A retro import's row without a national id finds both listed people: ambiguous.
        ws = ledger.decisions.working_set()
        assert ws.identity_members(ledger.ids.identity(*identity_of(lan()))) == [
            people["lan"],
            people["hung"],
        ]
        assert claim_events(ledger) == 3 and identity_events(ledger) == 4  # nothing new as events


def test_a_copy_run_again_from_the_start_inserts_nothing_twice(store_url):
    with open_ledger(store_url) as old:
        write_claims_the_old_way(old, store_url)
    with open_ledger(store_url) as ledger:
        rows = list(ledger.recorder.national_ids.every())
        listed = list(ledger.recorder.identities.every())
        _, migrations = table_names(ledger, store_url)
        with ledger.recorder.datastore.transaction(commit=True) as curs:
            curs.execute(f"DELETE FROM {migrations} WHERE name IN ('national-ids', 'identity-keys')")
        assert copy_person_keys(ledger.recorder, ledger.mapper) == 0
        assert list(ledger.recorder.national_ids.every()) == rows
        assert list(ledger.recorder.identities.every()) == listed
        # A claim the table already holds (another process copied it) is left as it is.
        assert ledger.recorder.national_ids.copy([KeyRow(rows[0].key, 1, None, "copied")]) == 0


def test_processes_starting_at_once_on_an_older_store_all_start_and_copy_it_once(store_url):
    with open_ledger(store_url) as old:
        people = write_claims_the_old_way(old, store_url)
    opened: list[DoseLedger] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(open_ledger(store_url))
        except BaseException as e:  # noqa: BLE001 - the test's finding
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert rows_of(opened[0], lan()["national_id"]) == [(1, people["lan"], "claimed")]
        assert len(list(opened[0].recorder.national_ids.every())) == 3
        assert len(identity_rows(opened[0], lan())) == 4
    finally:
        for ledger in opened:
            ledger.close()


def test_the_first_key_of_a_store_may_be_a_national_id_row_alone(store_url, tmp_path):
    """The fingerprint of the ids secret is saved with the store's first keyed id, which may be
    a national id's row with no key stream in the save."""
    from usecases.keyed_ids import recorded_fingerprint

    with open_ledger(store_url) as ledger:
        ws = ledger.decisions.working_set()
        person = Person.register(UUID(int=7), {**lan()}, "site", SITE.as_data(), {})
        claim_national_id(ws, lan()["national_id"], person.id)
        ws.changed(person)
        with ledger.decisions.rows_of(ws):
            ledger.decisions.save(*ws.pending())
        assert recorded_fingerprint(ledger) == ledger.ids.fingerprint


# --- the store's audit --------------------------------------------------------------------------


def test_verify_all_holds_the_national_id_rows_against_the_people(store_url):
    from replay.verify import verify_all

    with open_ledger(store_url) as ledger:
        lan_id = ledger.register_person(lan(), actor=SITE).person_id
        twin = ledger.register_person(lan(national_id="001185000002"), actor=SITE).person_id
        ledger.merge_persons(lan_id, twin, "registered twice", actor=ADMIN)
        ledger.correct_details(lan_id, {"national_id": NEW_CARD}, SECRET_REASON, actor=ADMIN)
        hung = ledger.register_person(lan(national_id="001190000003", full_name="Trần Văn Hùng")).person_id
        ledger.erase_person(hung, "asked to", actor=ADMIN)
        clean = verify_all(ledger)
        assert clean["consistent"], clean["differences"]
        assert "person_key_rows" in clean["checked"]

        # A row someone added by hand: the number given to another person.
        thu = ledger.register_person(lan(national_id="001190000004", full_name="Phạm Thu")).person_id
        rows = ledger.recorder.national_ids
        key = ledger.ids.national_id(NEW_CARD)
        rows.copy([KeyRow(key, 2, thu, "copied")])
        # And a number whose rows skip one.
        rows.copy([KeyRow(ledger.ids.national_id("001190000003"), 5, None, "copied")])
        found = verify_all(ledger)
        assert not found["consistent"]
        details = sorted((d["stream_id"], d["detail"]) for d in found["differences"])
        assert details == sorted(
            [
                (str(thu), "national id row names a person who does not carry it"),
                (str(lan_id), "the person's national id is not held by them"),
                (str(ledger.ids.national_id("001190000003")), "the national id's rows skip a number"),
            ]
        )
        assert NEW_CARD not in str(found["differences"])  # keyed ids only


# --- identity keys ----------------------------------------------------------------------------


def test_an_identity_key_is_rows_listing_and_unlisting_people_and_no_event(store_url):
    with open_ledger(store_url) as ledger:
        lan_id = ledger.register_person(lan(national_id=None), actor=SITE).person_id
        twin = ledger.register_person(lan(national_id=None), actor=SITE).person_id  # no key: a second person
        assert identity_rows(ledger, lan()) == [(1, lan_id, "joined"), (2, twin, "joined")]
        ledger.correct_details(twin, {"phone": "0987654321"}, SECRET_REASON, actor=ADMIN)
        assert identity_rows(ledger, lan())[-1] == (3, twin, "left")
        assert identity_rows(ledger, lan(phone="0987654321")) == [(1, twin, "joined")]
        assert identity_events(ledger) == 0
        for row in ledger.recorder.identities.every():
            assert row.reason in REASONS
        # A retro import's row finds the one person left under the first key.
        matched = ledger.record_doses(
            [
                {
                    "site_id": "HN-001",
                    "site_record_id": "M1",
                    "vaccine": "EU/1/20/1528",
                    "administered_at": "2021-08-01",
                    "person": lan(national_id=None),
                }
            ],
            actor=SITE,
            match_identity=True,
        )[0].receipt
        assert matched is not None and matched.person_id == lan_id


def test_twins_registered_at_once_are_both_listed(store_url):
    """Two decisions appending the same seq of one identity key: one is decided again."""
    with open_ledger(store_url) as ledger:
        # The store's first key saved before: the race is on the identity key's rows alone.
        ledger.register_person(lan(national_id=None, full_name="Phạm Thu"), actor=SITE)
        found: list[UUID] = []
        errors: list[BaseException] = []

        def register() -> None:
            try:
                found.append(ledger.register_person(lan(national_id=None), actor=SITE).person_id)
            except BaseException as e:  # noqa: BLE001 - the test's finding
                errors.append(e)

        threads = [threading.Thread(target=register) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(set(found)) == 4
        rows = identity_rows(ledger, lan())
        assert [seq for seq, _, _ in rows] == [1, 2, 3, 4]
        assert sorted(str(p) for _, p, _ in rows) == sorted(str(p) for p in found)


def test_verify_all_holds_the_identity_rows_against_the_people(store_url):
    from replay.verify import verify_all

    with open_ledger(store_url) as ledger:
        lan_id = ledger.register_person(lan(national_id=None), actor=SITE).person_id
        hung = ledger.register_person(lan(national_id=None, full_name="Trần Văn Hùng")).person_id
        ledger.correct_details(lan_id, {"phone": "0987654321"}, SECRET_REASON, actor=ADMIN)
        gone = ledger.register_person(lan(national_id=None, full_name="Phạm Thu")).person_id
        ledger.erase_person(gone, "asked to", actor=ADMIN)  # stays listed: the key outlives it
        assert verify_all(ledger)["consistent"]

        key = ledger.ids.identity(*identity_of(lan(national_id=None, full_name="Trần Văn Hùng")))
        ledger.recorder.identities.copy([KeyRow(key, 2, lan_id, "joined"), KeyRow(key, 3, hung, "left")])
        found = verify_all(ledger)
        assert sorted((d["stream_id"], d["detail"]) for d in found["differences"]) == sorted(
            [
                (str(lan_id), "identity key lists a person not named so"),
                (str(hung), "the person is not listed under their identity key"),
            ]
        )
