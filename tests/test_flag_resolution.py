"""An official resolves a data-quality flag: it leaves the review's list while the dose and the
flag are what they were, and the reason stays in the person's history (SQLite and PostgreSQL)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from ledger.errors import DoseNotFound, FlagAlreadyResolved, InvalidValue, OutOfScope, PersonErased
from ledger.values import Actor
from projections.running import rebuild
from replay import history
from tests.readside import assert_views_are_a_fresh_fold, caught_up, everything
from tests.test_ledger import dose, lan

OFFICIAL = Actor("official-01", "province")
MISMATCH, INTERVAL = "dose-number-mismatch", "interval-too-short"


def flagged(views, pid) -> set[tuple[str, str]]:
    return {(f["dose_id"], f["kind"]) for f in views.review.flags() if f["person_id"] == str(pid)}


def test_a_resolved_flag_leaves_the_list_until_its_dose_changes(ledger, views, projector, store_url):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1", dose_number=2).dose_id
    second = dose(ledger, pid, "R2", administered_at="2021-08-10").dose_id  # 9 days after
    caught_up(views, ledger)
    assert flagged(views, pid) == {(str(first), MISMATCH), (str(second), INTERVAL)}

    written = ledger.resolve_flag(first, MISMATCH, "the site's paper form says 1", actor=OFFICIAL)
    assert written.aggregate_id == pid
    caught_up(views, ledger)
    assert flagged(views, pid) == {(str(second), INTERVAL)}
    assert views.review.flags(kind=MISMATCH) == []
    resolved = history(ledger, pid)["events"][-1]
    assert resolved["type"] == "FlagResolved" and resolved["actor"] == {
        "principal_id": "official-01",
        "role": "province",
    }
    assert resolved["data"]["reason"] == "the site's paper form says 1"
    assert resolved["data"]["kind"] == MISMATCH and resolved["data"]["dose_id"] == str(first)
    assert_views_are_a_fresh_fold(views, ledger)

    # A change to anything else leaves it resolved; a change to the dose raises it again.
    ledger.amend_dose(second, {"lot": "OTHER"}, "typo", actor=OFFICIAL)
    caught_up(views, ledger)
    assert (str(first), MISMATCH) not in flagged(views, pid)
    ledger.amend_dose(first, {"lot": "FA9999"}, "the vial's lot", actor=OFFICIAL)
    caught_up(views, ledger)
    assert (str(first), MISMATCH) in flagged(views, pid)
    ledger.resolve_flag(first, MISMATCH, "looked again: still the form's number", actor=OFFICIAL)
    caught_up(views, ledger)
    assert (str(first), MISMATCH) not in flagged(views, pid)

    live = everything(views)
    projector.stop()
    rebuild(store_url, "review", progress=False)
    assert everything(views) == live


@pytest.mark.parametrize(
    ("case", "error", "field"),
    [
        ("unknown dose", DoseNotFound, "dose_id"),
        ("not a dose id", InvalidValue, "dose_id"),
        ("unknown kind", InvalidValue, "kind"),
        ("a flag the dose has not", InvalidValue, "kind"),
        ("no reason", InvalidValue, "reason"),
        ("already resolved", FlagAlreadyResolved, "kind"),
        ("erased person", PersonErased, "person_id"),
    ],
)
def test_a_resolution_that_cannot_be_is_refused_naming_the_field_and_stores_nothing(
    ledger, case, error, field
):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1", dose_number=2).dose_id
    args: tuple = (first, MISMATCH, "checked")
    if case == "unknown dose":
        args = (uuid4(), MISMATCH, "checked")
    elif case == "not a dose id":
        args = ("R1", MISMATCH, "checked")
    elif case == "unknown kind":
        args = (first, "odd", "checked")
    elif case == "a flag the dose has not":
        args = (first, INTERVAL, "checked")
    elif case == "no reason":
        args = (first, MISMATCH, "")
    elif case == "already resolved":
        ledger.resolve_flag(*args, actor=OFFICIAL)
    elif case == "erased person":
        ledger.erase_person(pid, "asked to")
    head = ledger.head()
    with pytest.raises(error) as refused:
        ledger.resolve_flag(*args, actor=OFFICIAL)
    assert refused.value.field == field
    assert ledger.head() == head


ADMIN = Actor("admin-1", "admin")


def test_a_resolution_made_on_the_duplicate_holds_after_the_merge(ledger, views):
    """The merge carries the dose as it is, and the flag says the same on the survivor (the
    survivor has no other dose): the official's resolution must hold there too."""
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    flagged_dose = dose(ledger, duplicate, "R1", dose_number=2).dose_id
    ledger.resolve_flag(flagged_dose, MISMATCH, "the paper form says 2", actor=OFFICIAL)
    caught_up(views, ledger)
    assert flagged(views, duplicate) == set()

    ledger.merge_persons(survivor, duplicate, "same person", actor=ADMIN)
    caught_up(views, ledger)
    assert (str(flagged_dose), MISMATCH) not in flagged(views, survivor)


def test_a_resolution_made_on_the_survivor_goes_back_with_the_carried_dose(ledger, views):
    """Resolved on the survivor while merged; the unmerge gives the dose back unchanged, its
    flag unchanged: the resolution must go with it, not reappear for review."""
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    flagged_dose = dose(ledger, duplicate, "R1", dose_number=2).dose_id
    ledger.merge_persons(survivor, duplicate, "same person", actor=ADMIN)
    ledger.resolve_flag(flagged_dose, MISMATCH, "the paper form says 2", actor=OFFICIAL)
    caught_up(views, ledger)
    assert flagged(views, survivor) == set()

    ledger.unmerge_persons(survivor, duplicate, "two people", actor=ADMIN)
    caught_up(views, ledger)
    assert (str(flagged_dose), MISMATCH) not in flagged(views, duplicate)


def test_an_official_may_not_resolve_a_flag_a_merge_carried_out_of_their_province(ledger):
    """The official of province 01 saw the dose on a person of 01; a merge then carried it to a
    survivor in 79. The scope is checked on the decision's own reads: refused, nothing stored."""
    survivor = ledger.register_person(lan(province="79", district="Quận 1")).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    flagged_dose = dose(ledger, duplicate, "R1", dose_number=2).dose_id
    ledger.merge_persons(survivor, duplicate, "same person", actor=ADMIN)
    head = ledger.head()
    with pytest.raises(OutOfScope) as refused:
        ledger.resolve_flag(flagged_dose, MISMATCH, "the paper form says 2", actor=OFFICIAL, provinces=["01"])
    assert refused.value.field == "dose_id" and ledger.head() == head
    written = ledger.resolve_flag(
        flagged_dose, MISMATCH, "the paper form says 2", actor=OFFICIAL, provinces=["79"]
    )
    assert written.aggregate_id == survivor
