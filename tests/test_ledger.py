"""Stories of the write side, each run on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ledger.errors import (
    DoseAlreadyVoided,
    DoseNotFound,
    InvalidValue,
    PersonMerged,
    PersonNotFound,
    SiteRecordConflict,
    UnknownVaccine,
)
from ledger.keys import dose_id_for
from ledger.person import Person
from ledger.values import Actor
from usecases.application import DoseLedger

SITE = Actor("site-token-1", "site")


def lan(**overrides):
    details = {
        "full_name": "Nguyễn Thị Lan",
        "birth_date": "1985-03-14",
        "sex": "female",
        "national_id": "001185012345",
        "phone": "0912345678",
        "province": "01",
        "district": "Ba Đình",
        "address": "12 Phố Huế",
    }
    details.update(overrides)
    return details


def dose(ledger: DoseLedger, person_id, record: str, **overrides):
    fields = dict(
        site_id="HN-001",
        site_record_id=record,
        vaccine="EU/1/20/1528",
        lot="FA1234",
        administered_at="2021-08-01",
        person_id=person_id,
        actor=SITE,
    )
    fields.update(overrides)
    return ledger.record_dose(**fields)


def dose_events(ledger: DoseLedger, person_id) -> list:
    return [e for e in ledger.events.get(person_id) if type(e).__name__ == "DoseRecorded"]


def test_a_registered_person_keeps_their_name_with_its_diacritics(ledger):
    reg = ledger.register_person(lan(full_name="  Nguyễn   Thị  Lan "), actor=SITE)
    person = ledger.person(reg.person_id)
    assert reg.created
    assert person.details["full_name"] == "Nguyễn Thị Lan"
    assert person.details["province"] == "01"


def test_a_national_id_is_one_person(ledger):
    first = ledger.register_person(lan(), actor=SITE)
    second = ledger.register_person(lan(full_name="Nguyen Thi Lan"), actor=SITE)
    assert second.person_id == first.person_id
    assert not second.created


def test_a_family_may_share_one_phone(ledger):
    ids = {
        ledger.register_person(lan(full_name=name, national_id=None, birth_date=born)).person_id
        for name, born in [
            ("Trần Văn Hùng", "1960-01-01"),
            ("Trần Thị Mai", "1962-05-05"),
            ("Trần Minh Khôi", "2010-09-09"),
        ]
    }
    assert len(ids) == 3


def test_two_doses_are_two_events_in_the_persons_stream(ledger):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    second = dose(ledger, pid, "R2", administered_at="2021-08-29")
    assert first.dose_id == dose_id_for("HN-001", "R1") and not first.duplicate
    assert second.position > first.position
    assert [e.dose_id for e in dose_events(ledger, pid)] == [first.dose_id, second.dose_id]
    assert ledger.person(pid).evaluation().status == "complete"


def test_the_same_site_record_sent_again_is_stored_once(ledger):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    again = dose(ledger, pid, "R1")
    assert again.duplicate and again.dose_id == first.dose_id and again.person_id == pid
    assert len(dose_events(ledger, pid)) == 1


def test_the_same_site_record_with_other_content_is_a_conflict_naming_the_dose(ledger):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    with pytest.raises(SiteRecordConflict) as caught:
        dose(ledger, pid, "R1", lot="OTHER")
    assert caught.value.dose_id == first.dose_id
    assert str(first.dose_id) in caught.value.message
    assert len(dose_events(ledger, pid)) == 1


def test_an_inline_registration_retried_creates_one_person_and_one_dose(ledger):
    person = lan(national_id=None)
    first = ledger.record_dose(
        site_id="MOBILE-7",
        site_record_id="M-1",
        vaccine="Pfizer",
        administered_at="2021-09-01T09:30:00",
        person=person,
    )
    again = ledger.record_dose(
        site_id="MOBILE-7",
        site_record_id="M-1",
        vaccine="Pfizer",
        administered_at="2021-09-01T09:30:00",
        person=person,
    )
    assert again.duplicate and again.person_id == first.person_id
    assert len(dose_events(ledger, first.person_id)) == 1
    stored = ledger.person(first.person_id).dose(first.dose_id)
    assert stored["administered_at"] == "2021-09-01T09:30:00+07:00"  # no zone means Vietnam time


def test_an_inline_registration_finds_the_person_by_national_id(ledger):
    pid = ledger.register_person(lan()).person_id
    receipt = ledger.record_dose(
        site_id="HN-001",
        site_record_id="R9",
        vaccine="AstraZeneca",
        administered_at="2021-07-01",
        person=lan(full_name="Lan"),
    )
    assert receipt.person_id == pid


def test_a_dose_at_an_unknown_site_is_accepted_and_the_site_listed_provisional(ledger):
    pid = ledger.register_person(lan(province="79")).person_id
    dose(ledger, pid, "R1", site_id="UNLISTED-42")
    site = ledger.site("UNLISTED-42")
    assert site.kind == "provisional" and site.review_status == "pending"
    assert site.province == "79"
    dose(ledger, pid, "R2", site_id="UNLISTED-42", administered_at="2021-09-01")
    assert ledger.site("UNLISTED-42").version == 1  # listed once


def test_a_listed_site_reviewed_becomes_official(ledger):
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1", site_id="NEW-1")
    ledger.review_site("NEW-1", "approved", kind="mobile", name="Đội tiêm lưu động số 1")
    site = ledger.site("NEW-1")
    assert (site.kind, site.review_status, site.name) == ("mobile", "approved", "Đội tiêm lưu động số 1")


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"vaccine": "Snake Oil"}, "vaccine", UnknownVaccine),
        (
            {"administered_at": (date.today() + timedelta(days=2)).isoformat()},
            "administered_at",
            InvalidValue,
        ),
        ({"administered_at": "1984-03-14"}, "administered_at", InvalidValue),
        ({"administered_at": "01/08/2021"}, "administered_at", InvalidValue),
        ({"dose_number": 0}, "dose_number", InvalidValue),
        ({"dose_number": "2"}, "dose_number", InvalidValue),
        ({"site_record_id": ""}, "site_record_id", InvalidValue),
        ({"person_id": "not-a-uuid"}, "person_id", InvalidValue),
    ],
)
def test_a_dose_the_sender_can_fix_is_refused_naming_the_field(ledger, change, field, error):
    pid = ledger.register_person(lan()).person_id
    fields = {"person_id": pid, **change}
    with pytest.raises(error) as caught:
        dose(ledger, fields.pop("person_id"), fields.pop("site_record_id", "R1"), **fields)
    assert caught.value.field == field
    assert dose_events(ledger, pid) == []


def test_a_dose_before_the_birth_date_is_refused(ledger):
    pid = ledger.register_person(lan(birth_date="2021-05-01", national_id=None)).person_id
    with pytest.raises(InvalidValue) as caught:
        dose(ledger, pid, "R1", administered_at="2021-04-01")
    assert caught.value.field == "administered_at"


def test_a_dose_for_an_unknown_person_is_refused(ledger):
    import uuid

    with pytest.raises(PersonNotFound):
        dose(ledger, uuid.uuid4(), "R1")


def test_bad_registrations_name_the_field(ledger):
    for change, field in [
        ({"full_name": ""}, "full_name"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"province": "99"}, "province"),
        ({"national_id": "12ab"}, "national_id"),
        ({"phone": "call me"}, "phone"),
        ({"sex": "x"}, "sex"),
        ({"full_name": 42}, "full_name"),
    ]:
        with pytest.raises(InvalidValue) as caught:
            ledger.register_person(lan(**change))
        assert caught.value.field == field
    assert ledger.head() == 0  # nothing stored partially


def test_an_amendment_changes_a_dose_and_keeps_its_history(ledger):
    pid = ledger.register_person(lan()).person_id
    receipt = dose(ledger, pid, "R1")
    ledger.amend_dose(receipt.dose_id, {"vaccine": "Moderna", "lot": "MD-1"}, "wrong product entered")
    now = ledger.person(pid).dose(receipt.dose_id)
    assert (now["vaccine"], now["lot"]) == ("EU/1/20/1507", "MD-1")
    amended = [e for e in ledger.events.get(pid) if type(e).__name__ == "DoseAmended"]
    assert amended[0].changes == {"vaccine": "EU/1/20/1507", "lot": "MD-1"}
    assert amended[0].reason == "wrong product entered"


def test_a_void_removes_the_dose_from_the_series_not_from_the_stream(ledger):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    dose(ledger, pid, "R2", administered_at="2021-08-29")
    ledger.void_dose(first.dose_id, "entered in error")
    assert ledger.person(pid).evaluation().status == "partial"
    assert len(dose_events(ledger, pid)) == 2
    with pytest.raises(DoseAlreadyVoided):
        ledger.void_dose(first.dose_id, "again")
    with pytest.raises(DoseAlreadyVoided):
        ledger.amend_dose(first.dose_id, {"lot": "X"}, "late fix")


def test_amend_and_void_need_a_reason_and_a_known_dose(ledger):
    import uuid

    pid = ledger.register_person(lan()).person_id
    receipt = dose(ledger, pid, "R1")
    with pytest.raises(InvalidValue) as caught:
        ledger.void_dose(receipt.dose_id, "  ")
    assert caught.value.field == "reason"
    with pytest.raises(InvalidValue):
        ledger.amend_dose(receipt.dose_id, {"lot": "X"}, None)
    with pytest.raises(DoseNotFound):
        ledger.void_dose(uuid.uuid4(), "entered in error")
    with pytest.raises(InvalidValue) as caught:
        ledger.amend_dose(receipt.dose_id, {"person_id": "x"}, "nope")
    assert caught.value.field == "person_id"


def test_a_merge_moves_the_duplicates_doses_to_the_survivor(ledger):
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    dose(ledger, survivor, "R1")
    moved = dose(ledger, duplicate, "R2", administered_at="2021-08-29")
    with pytest.raises(InvalidValue):
        ledger.merge_persons(survivor, duplicate, "")
    ledger.merge_persons(survivor, duplicate, "same person registered twice")
    assert ledger.person(survivor).evaluation().status == "complete"
    assert ledger.person(duplicate).merged_into == survivor
    # later work on the moved dose or the merged person lands on the survivor
    ledger.amend_dose(moved.dose_id, {"lot": "L2"}, "typo")
    assert ledger.person(survivor).dose(moved.dose_id)["lot"] == "L2"
    assert dose(ledger, duplicate, "R3", administered_at="2022-01-10").person_id == survivor
    with pytest.raises(PersonMerged):
        ledger.merge_persons(survivor, duplicate, "twice")


def test_correcting_details_moves_the_national_id(ledger):
    pid = ledger.register_person(lan()).person_id
    ledger.correct_details(
        pid, {"national_id": "001185099999", "full_name": "Nguyễn Thị Lan Anh"}, "typo at registration"
    )
    assert ledger.register_person(lan(national_id="001185099999")).person_id == pid
    other = ledger.register_person(lan())  # the old number is free again
    assert other.created and other.person_id != pid


def test_every_event_records_who_and_through_what(ledger):
    pid = ledger.register_person(lan(), actor=SITE, channel="site").person_id
    dose(ledger, pid, "R1")
    events = list(ledger.events.get(pid))
    assert all(e.actor == {"principal_id": "site-token-1", "role": "site"} for e in events)
    assert events[1].source == {"kind": "site", "site_id": "HN-001", "site_record_id": "R1"}
    assert events[1].administered_at == "2021-08-01"  # administered time is data...
    assert (
        events[1].timestamp.date() >= date(2026, 1, 1) or events[1].timestamp.year > 2021
    )  # ...recorded is the store's


def test_replayed_stream_equals_the_live_aggregate(ledger):
    pid = ledger.register_person(lan()).person_id
    r = dose(ledger, pid, "R1")
    ledger.amend_dose(r.dose_id, {"administered_at": "2021-08-02"}, "date typo")
    loaded: Person = ledger.person(pid)
    assert loaded.dose(r.dose_id)["administered_at"] == "2021-08-02"
    assert loaded.version == 3
