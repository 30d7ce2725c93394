"""A merge undone: the duplicate's doses and requests go back as they are now, both people's
certificates are issued again, every view and replay say so (SQLite and PostgreSQL)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from ledger.errors import (
    InvalidValue,
    MergeNotUndoable,
    NotMerged,
    PersonErased,
    PersonMerged,
    PersonNotFound,
)
from ledger.values import Actor
from projections.running import rebuild
from replay import diff, explain_certificate, history, verify
from tests.readside import all_doses, assert_views_are_a_fresh_fold, caught_up, everything
from tests.test_corrections import MISSING, OFFICIAL, PORTAL
from tests.test_ledger import dose, lan

ADMIN = Actor("admin-1", "admin")
DUPLICATE_NID = "001185099999"


def two_people(ledger):
    """A survivor with one dose; a duplicate (same name and birth date) with two, and a request."""
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=DUPLICATE_NID, full_name="Nguyen Thi Lan")).person_id
    dose(ledger, survivor, "R1")
    second = dose(ledger, duplicate, "R2", administered_at="2021-08-29")
    third = dose(ledger, duplicate, "R3", administered_at="2021-12-01")
    return survivor, duplicate, second.dose_id, third.dose_id


def dose_ids(certificate):
    return [d["dose_id"] for d in certificate["doses"]]


def test_merged_then_unmerged_the_views_are_as_before_and_both_certificates_are_new(ledger, views):
    survivor, duplicate, second, third = two_people(ledger)
    caught_up(views, ledger)
    before = {
        "doses": all_doses(views),
        "coverage": views.statistics.coverage(),
        "people": views.localities.people("01", limit=100),
        "duplicates": views.review.possible_duplicates(),
    }
    certificates = {p: views.certificates.certificate(p) for p in (survivor, duplicate)}

    ledger.merge_persons(survivor, duplicate, "same person registered twice", actor=ADMIN)
    caught_up(views, ledger)
    merged = views.certificates.certificate(survivor)
    assert dose_ids(merged) == [*dose_ids(certificates[survivor]), str(second), str(third)]
    assert views.review.possible_duplicates() == []

    written = ledger.unmerge_persons(survivor, duplicate, "two people after all", actor=ADMIN)
    assert written.aggregate_id == duplicate
    caught_up(views, ledger)
    now = {p: views.certificates.certificate(p) for p in (survivor, duplicate)}
    for pid in (survivor, duplicate):  # their own doses again, each in a new version
        assert dose_ids(now[pid]) == dose_ids(certificates[pid])
        assert now[pid]["status"] == certificates[pid]["status"] and now[pid]["merged_into"] is None
        assert now[pid]["certificate_id"] not in (None, certificates[pid]["certificate_id"])
    assert now[survivor]["version"] == merged["version"] + 1
    assert now[survivor]["superseded"][-1] == {
        "certificate_id": merged["certificate_id"],
        "reason": "unmerged",
        "successor": now[survivor]["certificate_id"],
    }
    assert now[duplicate]["version"] == certificates[duplicate]["version"] + 2  # merged, unmerged
    assert certificates[duplicate]["certificate_id"] in now[duplicate]["revoked"]
    assert {
        "doses": all_doses(views),
        "coverage": views.statistics.coverage(),
        "people": views.localities.people("01", limit=100),
        "duplicates": views.review.possible_duplicates(),
    } == before
    assert_views_are_a_fresh_fold(views, ledger)


def test_what_was_done_to_carried_doses_goes_back_and_later_doses_stay(ledger, views, projector, store_url):
    """The survivor's own later dose stays; one a site recorded naming the duplicate while it was
    merged was given to the duplicate, and goes back with its carried doses."""
    survivor, duplicate, second, third = two_people(ledger)
    filed = ledger.request_correction(duplicate, "missing_dose", MISSING, actor=PORTAL)
    ledger.merge_persons(survivor, duplicate, "same person", actor=ADMIN)
    ledger.amend_dose(second, {"lot": "L2"}, "typo on the vial", actor=ADMIN)
    ledger.void_dose(third, "entered twice", actor=ADMIN)
    later = dose(ledger, survivor, "R4", administered_at="2022-01-10")
    named = dose(ledger, duplicate, "R5", administered_at="2022-02-10").dose_id  # lands on the survivor
    assert str(named) in ledger.person(survivor).doses
    ledger.assign_correction(filed.request_id, {"province": "79"}, actor=ADMIN)

    ledger.unmerge_persons(survivor, duplicate, "two people after all", actor=ADMIN)
    back, kept = ledger.person(duplicate), ledger.person(survivor)
    assert back.merged_into is None and duplicate not in kept.absorbed
    assert back.dose(second)["lot"] == "L2" and back.dose(third)["voided"]
    assert str(later.dose_id) in kept.doses and not {str(second), str(third), str(named)} & set(kept.doses)
    assert str(named) in back.doses
    request = ledger.correction(filed.request_id)
    assert (request["person_id"], request["status"]) == (str(duplicate), "assigned")
    # What names the duplicate finds it again: its national id, its doses, its request.
    assert ledger.register_person(lan(national_id=DUPLICATE_NID)).person_id == duplicate
    assert ledger.dose_origin(second)[0] == duplicate
    assert ledger.dose_origin(later.dose_id)[0] == survivor
    assert ledger.dose_origin(named)[0] == duplicate

    caught_up(views, ledger)
    certificate = views.certificates.certificate(duplicate)
    assert [d["dose_id"] for d in certificate["doses"]] == [str(second), str(named)]
    assert certificate["doses"][0]["lot"] == "L2"
    assert str(later.dose_id) in dose_ids(views.certificates.certificate(survivor))
    [listed] = views.corrections.requests(provinces=["79"])
    assert listed["person_id"] == str(duplicate)
    assert_views_are_a_fresh_fold(views, ledger)

    # History and explain show the unmerge, with its reason, on both streams.
    events = history(ledger, duplicate)["events"]
    undone = events[-1]
    assert undone["type"] == "MergeUndone" and undone["data"]["reason"] == "two people after all"
    assert undone["changes"]["merged_into"] == {"from": str(survivor), "to": None}
    released = history(ledger, survivor)["events"][-1]
    assert released["type"] == "DuplicateReleased"
    assert {d["dose_id"] for d in released["changes"]["doses"]["removed"]} == {
        str(second),
        str(third),
        str(named),
    }
    trail = explain_certificate(ledger, duplicate)["lines"][0]["events"]
    assert [e["role"] for e in trail] == ["recorded", "merged", "amended", "unmerged"]
    assert trail[2]["person_id"] == str(survivor) and trail[3]["reason"] == "two people after all"
    assert "MergeUndone" in [e["type"] for e in diff(ledger, duplicate, 1, len(events))["events"]]
    for pid in (survivor, duplicate):  # chain, fold, ledger and certificate view agree
        assert verify(ledger, pid, views)["consistent"], verify(ledger, pid, views)["differences"]

    live = everything(views)
    projector.stop()
    rebuild(store_url, progress=False)
    assert everything(views) == live


def test_a_merge_undone_can_be_made_again_and_undone_again(ledger):
    survivor, duplicate, second, _ = two_people(ledger)
    for _ in range(2):
        ledger.merge_persons(survivor, duplicate, "same person", actor=ADMIN)
        assert str(second) in ledger.person(survivor).doses
        ledger.unmerge_persons(survivor, duplicate, "not the same", actor=ADMIN)
        assert str(second) not in ledger.person(survivor).doses
        assert ledger.person(duplicate).merged_into is None


def test_a_chain_of_merges_is_undone_from_its_end(ledger):
    a = ledger.register_person(lan(national_id=None, full_name="A Lan")).person_id
    b = ledger.register_person(lan(national_id=None, full_name="B Lan")).person_id
    c = ledger.register_person(lan()).person_id
    b_dose = dose(ledger, b, "RB").dose_id
    ledger.merge_persons(a, b, "same", actor=ADMIN)
    ledger.merge_persons(c, a, "same", actor=ADMIN)
    with pytest.raises(PersonMerged) as refused:  # a holds nothing now: c does
        ledger.unmerge_persons(a, b, "not the same", actor=ADMIN)
    assert refused.value.field == "person_id"
    ledger.unmerge_persons(c, a, "not the same", actor=ADMIN)
    assert str(b_dose) in ledger.person(a).doses  # b's dose went back with a's
    ledger.unmerge_persons(a, b, "not the same", actor=ADMIN)
    assert str(b_dose) in ledger.person(b).doses and ledger.dose_origin(b_dose)[0] == b


@pytest.mark.parametrize(
    ("case", "error", "field"),
    [
        ("unknown survivor", PersonNotFound, "person_id"),
        ("unknown duplicate", PersonNotFound, "duplicate_person_id"),
        ("into itself", InvalidValue, "duplicate_person_id"),
        ("never merged", NotMerged, "duplicate_person_id"),
        ("twice", NotMerged, "duplicate_person_id"),
        ("no reason", InvalidValue, "reason"),
        ("erased survivor", PersonErased, "person_id"),
        ("erased duplicate", PersonErased, "duplicate_person_id"),
        ("correction accepted since", MergeNotUndoable, "duplicate_person_id"),
    ],
)
def test_what_cannot_be_undone_is_refused_naming_the_field_and_stores_nothing(ledger, case, error, field):
    survivor, duplicate, _, _ = two_people(ledger)
    other = ledger.register_person(lan(national_id=None, full_name="Trần Văn Hùng")).person_id
    if case != "never merged":
        ledger.merge_persons(survivor, duplicate, "same person", actor=ADMIN)
    args = (survivor, duplicate, "not the same")
    if case == "unknown survivor":
        args = (uuid4(), duplicate, "x")
    elif case == "unknown duplicate":
        args = (survivor, uuid4(), "x")
    elif case == "into itself":
        args = (survivor, survivor, "x")
    elif case == "never merged":
        args = (survivor, other, "x")
    elif case == "twice":
        ledger.unmerge_persons(*args, actor=ADMIN)
    elif case == "no reason":
        args = (survivor, duplicate, "  ")
    elif case == "erased survivor":
        ledger.erase_person(survivor, "asked to", actor=ADMIN)
    elif case == "erased duplicate":
        ledger.erase_person(duplicate, "asked to", actor=ADMIN)
    elif case == "correction accepted since":
        # The duplicate's request, filed while it was open, carried by the (second) merge, then
        # accepted: its dose was recorded on the survivor.
        ledger.unmerge_persons(*args, actor=ADMIN)
        filed = ledger.request_correction(duplicate, "missing_dose", MISSING, actor=PORTAL)
        ledger.merge_persons(survivor, duplicate, "same person", actor=ADMIN)
        ledger.resolve_correction(filed.request_id, "accepted", "paper log", actor=OFFICIAL)
    head = ledger.head()
    with pytest.raises(error) as refused:
        ledger.unmerge_persons(*args, actor=ADMIN)
    assert refused.value.field == field
    assert ledger.head() == head


def test_a_request_filed_on_the_survivor_about_a_carried_dose_can_be_answered_after_the_unmerge(ledger):
    """While merged, the survivor's certificate shows the duplicate's dose and a citizen asks
    to void it. The unmerge gives the dose back but leaves the request on the survivor: when
    accepted, the void must reach the dose (it is the duplicate's now), not fail."""
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    carried = dose(ledger, duplicate, "R1").dose_id
    ledger.merge_persons(survivor, duplicate, "same person", actor=ADMIN)
    filed = ledger.request_correction(
        survivor, "wrong_dose", {"dose_id": str(carried), "not_given": True}, actor=PORTAL
    )
    ledger.unmerge_persons(survivor, duplicate, "two people", actor=ADMIN)
    ledger.resolve_correction(filed.request_id, "accepted", "never given", actor=OFFICIAL)
    assert ledger.person(duplicate).dose(carried)["voided"]
    assert ledger.correction(filed.request_id)["person_id"] == str(duplicate)


def test_a_dose_a_site_recorded_for_the_duplicate_while_merged_is_the_duplicates_after_the_unmerge(ledger):
    """The site named the duplicate (its person id) while it was merged; the merge is found
    wrong and undone. The dose was given to the duplicate: it must be on the duplicate's
    certificate, not stay on the survivor's (someone else's)."""
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    ledger.merge_persons(survivor, duplicate, "same person", actor=ADMIN)
    given = dose(ledger, duplicate, "R9", administered_at="2022-01-10").dose_id
    ledger.unmerge_persons(survivor, duplicate, "two people", actor=ADMIN)
    assert str(given) in ledger.person(duplicate).doses
    assert str(given) not in ledger.person(survivor).doses
    # Its site record leads there: what the site amends or voids reaches the duplicate.
    assert ledger.dose_origin(given)[0] == duplicate
    ledger.void_dose(given, "entered in error", actor=ADMIN)
    assert ledger.person(duplicate).dose(given)["voided"]
