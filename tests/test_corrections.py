"""A citizen's correction request is filed, linked, worked and answered — never lost."""

from __future__ import annotations

import pytest

from ledger.errors import CorrectionClosed, CorrectionNotFound, LedgerError
from ledger.values import Actor
from tests.test_ledger import dose, lan

PORTAL = Actor("portal", "portal")
OFFICIAL = Actor("official-79", "province")

MISSING = {"vaccine": "Pfizer", "administered_at": "2021-09-20", "site_id": "HCM-TYT-001"}


def test_a_missing_dose_claim_accepted_completes_the_certificate(ledger):
    pid = ledger.register_person(lan(province="79")).person_id
    dose(ledger, pid, "R1")
    filed = ledger.request_correction(
        pid,
        "missing_dose",
        MISSING,
        contact="0912345678",
        evidence_ref="vaccination card photo",
        actor=PORTAL,
    )
    assert filed.code and not filed.linked
    assert ledger.correction_status(filed.request_id, filed.code)["status"] == "open"

    ledger.assign_correction(filed.request_id, {"province": "79"}, actor=Actor("admin", "admin"))
    ledger.resolve_correction(
        filed.request_id, "accepted", "card matches the site's paper log", actor=OFFICIAL
    )

    person = ledger.person(pid)
    assert person.evaluation().status == "complete"
    added = [d for d in person.doses.values() if d["source"].get("kind") == "correction_request"]
    assert added[0]["source"]["request_id"] == str(filed.request_id)
    status = ledger.correction_status(filed.request_id, filed.code.lower())
    assert status == {
        "request_id": str(filed.request_id),
        "status": "accepted",
        "kind": "missing_dose",
        "filed_at": filed.filed_at,
        "outcome": "accepted",
        "reason": "card matches the site's paper log",
        "repeats": 0,
    }
    assert "full_name" not in status  # no personal data on the citizen's status answer
    # the dose and the resolution were written in one transaction
    events = list(ledger.events.get(pid))
    assert [type(e).__name__ for e in events[-2:]] == ["DoseRecorded", "CorrectionResolved"]


def test_the_same_claim_filed_again_joins_the_open_request(ledger):
    pid = ledger.register_person(lan()).person_id
    first = ledger.request_correction(pid, "missing_dose", MISSING, actor=PORTAL)
    again = ledger.request_correction(
        pid, "missing_dose", {**MISSING, "vaccine": "Comirnaty"}, channel="hotline", actor=PORTAL
    )
    assert again.linked and again.request_id == first.request_id and again.code is None
    assert again.filed_at == first.filed_at
    assert ledger.correction(first.request_id)["repeats"] == 1
    other = ledger.request_correction(
        pid, "missing_dose", {**MISSING, "administered_at": "2021-10-20"}, actor=PORTAL
    )
    assert not other.linked and other.request_id != first.request_id


def test_a_rejected_claim_leaves_the_ledger_unchanged(ledger):
    pid = ledger.register_person(lan()).person_id
    r = dose(ledger, pid, "R1")
    filed = ledger.request_correction(
        pid, "wrong_dose", {"dose_id": str(r.dose_id), "not_given": True}, actor=PORTAL
    )
    before = ledger.person(pid).doses
    ledger.resolve_correction(
        filed.request_id, "rejected", "the site's log shows the dose was given", actor=OFFICIAL
    )
    assert ledger.person(pid).doses == before
    with pytest.raises(CorrectionClosed):
        ledger.resolve_correction(filed.request_id, "accepted", "changed my mind", actor=OFFICIAL)
    assert ledger.correction_status(filed.request_id, filed.code)["reason"].startswith("the site's log")


def test_accepted_wrong_dose_and_wrong_details_claims_correct_the_record(ledger):
    pid = ledger.register_person(lan()).person_id
    r = dose(ledger, pid, "R1")
    wrong_dose = ledger.request_correction(
        pid, "wrong_dose", {"dose_id": str(r.dose_id), "changes": {"vaccine": "AstraZeneca"}}, actor=PORTAL
    )
    wrong_name = ledger.request_correction(
        pid, "wrong_details", {"changes": {"full_name": "Nguyễn Thị Lan Anh"}}, actor=PORTAL
    )
    ledger.resolve_correction(
        wrong_dose.request_id, "accepted", "batch record says Vaxzevria", actor=OFFICIAL
    )
    ledger.resolve_correction(wrong_name.request_id, "accepted", "identity card checked", actor=OFFICIAL)
    person = ledger.person(pid)
    assert person.dose(r.dose_id)["vaccine"] == "EU/1/21/1529"
    assert person.details["full_name"] == "Nguyễn Thị Lan Anh"


def test_the_wrong_code_reveals_nothing(ledger):
    pid = ledger.register_person(lan()).person_id
    filed = ledger.request_correction(pid, "missing_dose", MISSING, actor=PORTAL)
    for code in ("WRONG123", "", None):
        with pytest.raises(CorrectionNotFound):
            ledger.correction_status(filed.request_id, code)
    with pytest.raises(CorrectionNotFound):
        ledger.correction_status("not-an-id", filed.code)


@pytest.mark.parametrize(
    ("kind", "claim", "field"),
    [
        ("complaint", MISSING, "kind"),
        ("missing_dose", {**MISSING, "vaccine": "Snake Oil"}, "claim.vaccine"),
        ("missing_dose", {**MISSING, "administered_at": "2999-01-01"}, "claim.administered_at"),
        ("missing_dose", {**MISSING, "colour": "red"}, "claim.colour"),
        ("wrong_dose", {"dose_id": "nope"}, "claim.dose_id"),
        ("wrong_details", {"changes": {"province": "00"}}, "claim.changes.province"),
        ("wrong_details", {}, "claim"),
    ],
)
def test_a_malformed_claim_is_refused_naming_the_field(ledger, kind, claim, field):
    pid = ledger.register_person(lan()).person_id
    with pytest.raises(LedgerError) as caught:
        ledger.request_correction(pid, kind, claim, actor=PORTAL)
    assert caught.value.field == field
    assert ledger.person(pid).corrections == {}


def test_a_request_filed_on_a_duplicate_is_answered_after_the_merge(ledger):
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    filed = ledger.request_correction(duplicate, "missing_dose", MISSING, actor=PORTAL)
    ledger.merge_persons(survivor, duplicate, "same person registered twice")
    ledger.resolve_correction(filed.request_id, "accepted", "paper log confirms", actor=OFFICIAL)
    assert ledger.correction_status(filed.request_id, filed.code)["status"] == "accepted"
    assert ledger.correction(filed.request_id)["person_id"] == str(survivor)
    assert ledger.person(survivor).evaluation().status == "partial"  # the claimed dose, on the survivor
