"""People without a national id, matched on name, birth date and phone (what retro imports need)."""

from __future__ import annotations

from ledger.errors import AmbiguousPerson
from ledger.values import Actor
from tests.test_ledger import lan

UNIT = Actor("unit-1", "site")


def inline(record, person, **overrides):
    fields = dict(
        site_id="HN-RETRO",
        site_record_id=record,
        vaccine="AstraZeneca",
        administered_at="2021-07-01",
        person=person,
    )
    fields.update(overrides)
    return fields


def listed(ledger, person):
    key = ledger.ids.identity(person["full_name"], person["birth_date"], person.get("phone"))
    return ledger.decisions.working_set().identity_members(key)


def test_two_rows_of_one_person_without_national_id_land_on_one_person(ledger):
    lan_ = lan(national_id=None)
    same_written_otherwise = lan(national_id=None, full_name="  NGUYỄN  thị lan ")
    outcomes = ledger.record_doses(
        [inline("R1", lan_), inline("R2", same_written_otherwise, administered_at="2021-08-01")],
        actor=UNIT,
        match_identity=True,
    )
    assert [o.status for o in outcomes] == ["created", "created"]
    assert outcomes[0].receipt.person_id == outcomes[1].receipt.person_id
    assert ledger.person(outcomes[0].receipt.person_id).evaluation().status == "complete"


def test_a_site_record_never_matches_people_by_name_birth_and_phone(ledger):
    outcomes = ledger.record_doses(
        [inline("R1", lan(national_id=None)), inline("R2", lan(national_id=None))], actor=UNIT
    )
    assert outcomes[0].receipt.person_id != outcomes[1].receipt.person_id
    assert len(listed(ledger, lan())) == 2  # both listed, so an import would find them ambiguous


def test_a_row_matches_a_person_registered_earlier_by_another_channel(ledger):
    pid = ledger.register_person(lan(national_id=None)).person_id
    [outcome] = ledger.record_doses([inline("R1", lan(national_id=None))], actor=UNIT, match_identity=True)
    assert outcome.receipt.person_id == pid


def test_another_phone_or_birth_date_is_another_person(ledger):
    pid = ledger.register_person(lan(national_id=None)).person_id
    outcomes = ledger.record_doses(
        [
            inline("R1", lan(national_id=None, phone="0987654321")),
            inline("R2", lan(national_id=None, birth_date="1985-03-15")),
            inline("R3", lan(national_id=None, full_name="Nguyễn Thị Lân")),
        ],
        actor=UNIT,
        match_identity=True,
    )
    people = {o.receipt.person_id for o in outcomes}
    assert len(people) == 3 and pid not in people


def test_two_people_sharing_name_birth_and_phone_make_a_row_ambiguous(ledger):
    twin_a = ledger.register_person(lan(national_id=None)).person_id
    twin_b = ledger.register_person(lan(national_id=None)).person_id
    [outcome] = ledger.record_doses([inline("R1", lan(national_id=None))], actor=UNIT, match_identity=True)
    assert outcome.status == "rejected"
    assert isinstance(outcome.error, AmbiguousPerson) and outcome.error.field == "person"
    assert set(outcome.error.candidates) == {twin_a, twin_b}
    assert str(twin_a) in outcome.error.message and str(twin_b) in outcome.error.message
    # A national id settles it: a new person, holding that id.
    [outcome] = ledger.record_doses(
        [inline("R1", lan(national_id="001185099999"))], actor=UNIT, match_identity=True
    )
    assert outcome.status == "created" and outcome.receipt.person_id not in (twin_a, twin_b)


def test_after_a_merge_the_two_entries_are_one_person_again(ledger):
    first = ledger.register_person(lan(national_id=None)).person_id
    second = ledger.register_person(lan(national_id=None)).person_id
    ledger.merge_persons(first, second, "registered twice")
    [outcome] = ledger.record_doses([inline("R1", lan(national_id=None))], actor=UNIT, match_identity=True)
    assert outcome.status == "created" and outcome.receipt.person_id == first


def test_a_corrected_phone_moves_the_person_to_the_new_key(ledger):
    pid = ledger.register_person(lan(national_id=None)).person_id
    ledger.correct_details(pid, {"phone": "0987654321"}, "new number")
    assert listed(ledger, lan()) == []
    assert listed(ledger, lan(phone="0987654321")) == [pid]
    [outcome] = ledger.record_doses(
        [inline("R1", lan(national_id=None, phone="0987654321"))], actor=UNIT, match_identity=True
    )
    assert outcome.receipt.person_id == pid


def test_a_refused_row_leaves_the_key_as_it_was(ledger):
    baby = dict(national_id=None, full_name="Trần Bảo An", birth_date="2021-07-02")
    known = ledger.register_person(lan(**baby)).person_id
    outcomes = ledger.record_doses(
        [
            # a new person (its national id is unknown), refused only after the person is decided
            inline("R1", lan(**{**baby, "national_id": "001221000001"}), administered_at="2021-07-01"),
            inline("R2", lan(**{**baby, "national_id": "001221000002"}), administered_at="2021-08-01"),
        ],
        actor=UNIT,
        match_identity=True,
    )
    assert [o.status for o in outcomes] == ["rejected", "created"]
    assert outcomes[0].error.field == "administered_at"
    assert listed(ledger, lan(**baby)) == [known, outcomes[1].receipt.person_id]


def test_a_dry_run_decides_every_item_and_stores_nothing(ledger):
    before = ledger.head()
    outcomes = ledger.record_doses(
        [inline("R1", lan()), inline("R2", lan(), vaccine="Snake Oil")],
        actor=UNIT,
        match_identity=True,
        dry_run=True,
    )
    assert [o.status for o in outcomes] == ["created", "rejected"]
    assert ledger.head() == before
    assert ledger.record_doses([inline("R1", lan())], actor=UNIT)[0].status == "created"


def test_the_key_is_rows_of_a_table_and_no_event(ledger):
    pid = ledger.register_person(lan(national_id=None)).person_id
    key = ledger.ids.identity("Nguyễn Thị Lan", "1985-03-14", "0912345678")
    assert list(ledger.events.get(key)) == []
    rows = ledger.recorder.identities.history([key])
    assert [(r.seq, r.person_id, r.reason) for r in rows] == [(1, pid, "joined")]
