"""A site system sends many doses at once: each item gets its own answer."""

from __future__ import annotations

from ledger.values import Actor
from tests.test_ledger import dose_events, lan

SITE = Actor("site-token-1", "site")


def item(person_id, record, **overrides):
    fields = dict(
        site_id="HN-001",
        site_record_id=record,
        vaccine="EU/1/20/1528",
        lot="FA1234",
        administered_at="2021-08-01",
        person_id=person_id,
    )
    fields.update(overrides)
    return fields


def test_good_items_are_stored_even_when_others_are_refused(ledger):
    pid = ledger.register_person(lan()).person_id
    outcomes = ledger.record_doses(
        [
            item(pid, "B1"),
            item(pid, "B2", vaccine="Snake Oil"),
            item(pid, "B3", administered_at="2021-09-01"),
            item(pid, "B4", administered_at="tomorrow"),
            item(pid, "B5", colour="blue"),
        ],
        actor=SITE,
    )
    assert [o.status for o in outcomes] == ["created", "rejected", "created", "rejected", "rejected"]
    assert [o.error.field for o in outcomes if o.error] == ["vaccine", "administered_at", "colour"]
    assert len(dose_events(ledger, pid)) == 2
    assert outcomes[0].receipt.position == outcomes[2].receipt.position  # one transaction
    assert ledger.person(pid).evaluation().status == "complete"


def test_a_batch_sent_again_is_all_duplicates_and_one_changed_item_a_conflict(ledger):
    pid = ledger.register_person(lan()).person_id
    batch = [item(pid, f"B{n}", administered_at=f"2021-0{n}-01") for n in range(7, 10)]
    first = ledger.record_doses(batch, actor=SITE)
    batch[1]["lot"] = "CHANGED"
    again = ledger.record_doses(batch, actor=SITE)
    assert [o.status for o in first] == ["created"] * 3
    assert [o.status for o in again] == ["duplicate", "conflict", "duplicate"]
    # a duplicate answers with a position a reader can wait for (the head, read once per batch)
    assert again[0].receipt.position == again[2].receipt.position >= first[2].receipt.position
    assert again[1].error.dose_id == first[1].receipt.dose_id
    assert len(dose_events(ledger, pid)) == 3


def test_the_same_record_twice_in_one_batch_is_stored_once(ledger):
    pid = ledger.register_person(lan()).person_id
    outcomes = ledger.record_doses([item(pid, "B1"), item(pid, "B1")], actor=SITE)
    assert [o.status for o in outcomes] == ["created", "duplicate"]
    assert len(dose_events(ledger, pid)) == 1


def test_inline_registrations_in_a_batch_find_each_other_by_national_id(ledger):
    person = lan(national_id="079190000001", province="79")
    outcomes = ledger.record_doses(
        [
            dict(
                site_id="HCM-9",
                site_record_id="X1",
                vaccine="Vero Cell",
                administered_at="2021-07-01",
                person=person,
            ),
            dict(
                site_id="HCM-9",
                site_record_id="X2",
                vaccine="Vero Cell",
                administered_at="2021-07-29",
                person=person,
            ),
        ],
        actor=SITE,
    )
    assert [o.status for o in outcomes] == ["created", "created"]
    assert outcomes[0].receipt.person_id == outcomes[1].receipt.person_id
    assert ledger.person(outcomes[0].receipt.person_id).evaluation().status == "complete"
    assert ledger.site("HCM-9").kind == "provisional"


def test_a_refused_inline_dose_registers_nobody(ledger):
    outcomes = ledger.record_doses(
        [
            dict(
                site_id="HCM-9",
                site_record_id="X1",
                vaccine="Pfizer",
                administered_at="2021-07-01",
                person=lan(birth_date="2021-08-01", national_id=None),
            ),
        ],
        actor=SITE,
    )
    assert outcomes[0].status == "rejected" and outcomes[0].error.field == "administered_at"
    assert ledger.head() == 0
