"""Stories of the read side, each on SQLite and on PostgreSQL, with the projections running."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.errors import InvalidValue
from ledger.values import Actor
from tests.readside import all_doses, caught_up
from tests.test_ledger import dose, lan

ADMIN = Actor("admin-1", "admin")


def test_two_doses_make_a_complete_certificate(ledger, views):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    second = dose(ledger, pid, "R2", administered_at="2021-08-29")
    caught_up(views, ledger)
    certificate = views.certificates.certificate(pid)
    assert certificate["status"] == "complete"
    assert [(d["dose_id"], d["dose_number"]) for d in certificate["doses"]] == [
        (str(first.dose_id), 1),
        (str(second.dose_id), 2),
    ]
    assert certificate["doses"][0]["vaccine_name"] == "Comirnaty"
    assert certificate["person_id"] == str(pid) and certificate["province"] == "01"


def test_a_void_makes_the_certificate_partial_and_leaves_the_statistics(ledger, views):
    pid = ledger.register_person(lan()).person_id
    first = dose(ledger, pid, "R1")
    dose(ledger, pid, "R2", administered_at="2021-08-29")
    ledger.void_dose(first.dose_id, "entered in error")
    caught_up(views, ledger)
    certificate = views.certificates.certificate(pid)
    assert certificate["status"] == "partial"
    assert [d["administered_at"] for d in certificate["doses"]] == ["2021-08-29"]
    assert certificate["doses"][0]["dose_number"] == 1  # renumbered: the void left one dose
    assert all_doses(views) == {
        ("2021-08-29", "01", lan()["district"], "HN-001", "EU/1/20/1528", 1, "18-49", lan()["sex"]): 1
    }
    assert views.statistics.coverage() == [{"province": "01", "status": "partial", "people": 1}]


def test_an_amendment_moves_the_dose_to_another_bucket(ledger, views):
    pid = ledger.register_person(lan()).person_id
    receipt = dose(ledger, pid, "R1")
    caught_up(views, ledger)
    assert views.statistics.dose_counts(["vaccine"]) == [{"vaccine": "EU/1/20/1528", "doses": 1}]
    ledger.amend_dose(
        receipt.dose_id,
        {"vaccine": "AstraZeneca", "administered_at": "2021-08-02"},
        "wrong product and day entered",
    )
    caught_up(views, ledger)
    assert views.statistics.dose_counts(["date", "vaccine"]) == [
        {"date": "2021-08-02", "vaccine": "EU/1/21/1529", "doses": 1}
    ]
    assert views.statistics.dose_counts([]) == [{"doses": 1}]


def test_a_merge_moves_doses_to_the_survivor_and_revokes_the_duplicates_certificate(ledger, views):
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    dose(ledger, survivor, "R1")
    moved = dose(ledger, duplicate, "R2", administered_at="2021-08-29")
    caught_up(views, ledger)
    before = views.certificates.certificate(duplicate)
    assert before["status"] == "partial" and before["certificate_id"]
    assert views.statistics.dose_counts([]) == [{"doses": 2}]

    ledger.merge_persons(survivor, duplicate, "same person registered twice", actor=ADMIN)
    caught_up(views, ledger)
    kept = views.certificates.certificate(survivor)
    assert kept["status"] == "complete"
    assert [d["dose_id"] for d in kept["doses"]][1] == str(moved.dose_id)
    gone = views.certificates.certificate(duplicate)
    assert gone["merged_into"] == str(survivor)
    assert gone["certificate_id"] is None and gone["doses"] == []
    assert before["certificate_id"] in gone["revoked"]
    assert views.statistics.dose_counts([]) == [{"doses": 2}]  # moved, not doubled nor lost
    assert views.statistics.coverage() == [{"province": "01", "status": "complete", "people": 1}]
    assert [p["person_id"] for p in views.localities.find(phone="0912345678")] == [str(survivor)]


@pytest.mark.parametrize(
    ("vaccines", "status", "boosters"),
    [
        (["AstraZeneca", "Pfizer"], "complete", [False, False]),  # mixed products complete a series
        (["Janssen"], "complete", [False]),  # a one-dose product completes alone
        (["Vero Cell"], "partial", [False]),
        (["Moderna", "Moderna", "Pfizer"], "booster", [False, False, True]),
    ],
)
def test_the_status_follows_the_catalogs_series_rules(ledger, views, vaccines, status, boosters):
    pid = ledger.register_person(lan()).person_id
    for n, vaccine in enumerate(vaccines):
        dose(ledger, pid, f"R{n}", vaccine=vaccine, administered_at=f"2021-{6 + 2 * n:02d}-01")
    caught_up(views, ledger)
    certificate = views.certificates.certificate(pid)
    assert certificate["status"] == status
    assert [d["booster"] for d in certificate["doses"]] == boosters
    assert views.localities.find(national_id="001185012345")[0]["status"] == status


def test_a_certificate_version_grows_only_when_what_it_shows_changes(ledger, views):
    pid = ledger.register_person(lan()).person_id
    caught_up(views, ledger)
    first = views.certificates.certificate(pid)
    # Nothing certified yet: a first version, and no certificate id.
    assert (first["version"], first["status"], first["revoked"], first["certificate_id"]) == (
        1,
        "none",
        [],
        None,
    )
    receipt = dose(ledger, pid, "R1")
    caught_up(views, ledger)
    second = views.certificates.certificate(pid)
    assert second["version"] == 2 and second["certificate_id"] is not None
    assert second["revoked"] == [] and second["superseded"] == []

    ledger.correct_details(pid, {"phone": "0900000001"}, "new phone")  # not on the certificate
    ledger.amend_dose(receipt.dose_id, {"dose_number": 1}, "reported number filled in")  # nor this
    caught_up(views, ledger)
    assert views.certificates.certificate(pid)["certificate_id"] == second["certificate_id"]

    ledger.amend_dose(receipt.dose_id, {"lot": "FA9999"}, "lot mistyped")  # shown: a new version
    caught_up(views, ledger)
    third = views.certificates.certificate(pid)
    assert third["version"] == 3 and third["revoked"] == [second["certificate_id"]]
    assert third["superseded"] == [
        {
            "certificate_id": second["certificate_id"],
            "reason": "amended",
            "successor": third["certificate_id"],
        }
    ]
    assert third["doses"][0]["lot"] == "FA9999"


def test_an_unknown_person_has_no_certificate(ledger, views):
    import uuid

    caught_up(views, ledger)
    assert views.certificates.certificate(uuid.uuid4()) is None


def test_a_reported_dose_number_that_disagrees_is_a_flag_not_an_error(ledger, views):
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1", dose_number=2)
    second = dose(ledger, pid, "R2", administered_at="2021-08-10")  # 9 days: below Comirnaty's 21
    caught_up(views, ledger)
    assert [d["dose_number"] for d in views.certificates.certificate(pid)["doses"]] == [1, 2]
    flags = {f["kind"]: f for f in views.review.flags()}
    assert flags["dose-number-mismatch"]["reported"] == 2 and flags["dose-number-mismatch"]["computed"] == 1
    assert flags["interval-too-short"]["dose_id"] == str(second.dose_id)
    assert flags["interval-too-short"]["days"] == 9 and flags["interval-too-short"]["minimum"] == 21
    assert views.review.flags(kind="interval-too-short", provinces=["79"]) == []

    ledger.correct_details(pid, {"birth_date": "2021-08-05"}, "birth date mistyped")
    caught_up(views, ledger)
    assert [f["kind"] for f in views.review.flags(kind="dose-before-birth")] == ["dose-before-birth"]


def test_a_phone_finds_every_person_with_it_and_a_national_id_one(ledger, views):
    family = [
        ledger.register_person(lan(full_name=name, national_id=nid, birth_date=born)).person_id
        for name, nid, born in [
            ("Trần Văn Hùng", "079060000001", "1960-01-01"),
            ("Trần Thị Mai", None, "1962-05-05"),
            ("Trần Minh Khôi", None, "2010-09-09"),
        ]
    ]
    ledger.register_person(lan(full_name="Lê Văn Tám", national_id=None, phone="0900000009"))
    caught_up(views, ledger)
    found = views.localities.find(phone="+84 912 345 678")  # written another way
    assert sorted(p["person_id"] for p in found) == sorted(str(p) for p in family)
    assert {p["full_name"] for p in found} == {"Trần Văn Hùng", "Trần Thị Mai", "Trần Minh Khôi"}
    assert [p["person_id"] for p in views.localities.find(national_id="079060000001")] == [str(family[0])]
    assert views.localities.find(phone="0912345678", provinces=["79"]) == []
    assert views.localities.find(phone="0911111111") == []


def test_people_are_listed_by_province_and_district_with_their_status(ledger, views):
    for n in range(5):
        pid = ledger.register_person(
            lan(full_name=f"Người {n}", national_id=None, district="Ba Đình" if n % 2 else "Đống Đa")
        ).person_id
        if n < 2:
            dose(ledger, pid, f"R{n}", vaccine="Janssen")
    ledger.register_person(lan(full_name="Người ở Sài Gòn", national_id=None, province="79"))
    caught_up(views, ledger)
    assert views.localities.count("01") == 5
    assert views.localities.count("01", district="Ba Đình") == 2
    assert [p["full_name"] for p in views.localities.people("01", status="complete")] == [
        "Người 0",
        "Người 1",
    ]
    first, rest = views.localities.people("01", limit=2), views.localities.people("01", limit=10, offset=2)
    assert [p["full_name"] for p in first + rest] == [f"Người {n}" for n in range(5)]
    assert [p["province"] for p in views.localities.people("79")] == ["79"]


def test_a_dose_at_an_unlisted_site_queues_the_site_for_review(ledger, views):
    ledger.register_site("79-TYT-001", name="Trạm Y tế Quận 1", kind="official", province="79")
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1", site_id="MOBILE-7")
    caught_up(views, ledger)
    assert [(s["site_id"], s["status"], s["review_status"]) for s in views.review.sites("provisional")] == [
        ("MOBILE-7", "provisional", "pending")
    ]
    assert views.statistics.site_counts() == [
        {"province": "01", "kind": "provisional", "sites": 1},
        {"province": "79", "kind": "official", "sites": 1},
    ]
    ledger.review_site("MOBILE-7", "approved", kind="mobile", name="Đội tiêm lưu động 7", actor=ADMIN)
    caught_up(views, ledger)
    assert views.review.sites("provisional") == []
    assert views.review.sites("mobile") == [
        {
            "site_id": "MOBILE-7",
            "name": "Đội tiêm lưu động 7",
            "province": "01",
            "district": None,
            "status": "mobile",
            "review_status": "approved",
        }
    ]


def test_doses_count_in_the_province_of_their_site(ledger, views):
    ledger.register_site("79-LD-01", name="Đội tiêm lưu động", kind="mobile", province="79")
    pid = ledger.register_person(lan()).person_id  # lives in 01
    dose(ledger, pid, "R1", site_id="79-LD-01")
    dose(ledger, pid, "R2", site_id="UNLISTED-9", administered_at="2021-08-29")
    caught_up(views, ledger)
    assert views.statistics.dose_counts(["province", "site_id"]) == [
        {"province": "01", "site_id": "UNLISTED-9", "doses": 1},  # listed with the person's province
        {"province": "79", "site_id": "79-LD-01", "doses": 1},
    ]
    ledger.review_site("UNLISTED-9", "approved", kind="official", province="48", actor=ADMIN)
    caught_up(views, ledger)
    assert views.statistics.dose_counts(["province"], provinces=["48", "79"]) == [
        {"province": "48", "doses": 1},
        {"province": "79", "doses": 1},
    ]  # the review moved it
    assert views.statistics.dose_counts(["province"], date_from=date(2021, 8, 2)) == [
        {"province": "48", "doses": 1}
    ]
    assert views.statistics.dose_counts(["dose_number"], date_to="2021-08-01") == [
        {"dose_number": 1, "doses": 1}
    ]
    assert views.statistics.coverage(provinces=["01"]) == [
        {"province": "01", "status": "complete", "people": 1}
    ]
    assert views.statistics.coverage(provinces=["79"]) == []


def test_possible_duplicates_are_people_with_the_same_name_and_birth_date(ledger, views):
    one = ledger.register_person(lan()).person_id
    two = ledger.register_person(lan(full_name="nguyen  thi LAN", national_id=None, province="79")).person_id
    ledger.register_person(lan(full_name="Nguyễn Thị Lan", national_id=None, birth_date="1990-01-01"))
    caught_up(views, ledger)
    [group] = views.review.possible_duplicates()
    assert (group["name_key"], group["birth_date"]) == ("nguyen thi lan", "1985-03-14")
    assert sorted(p["person_id"] for p in group["people"]) == sorted([str(one), str(two)])
    ledger.merge_persons(one, two, "same person", actor=ADMIN)
    caught_up(views, ledger)
    assert views.review.possible_duplicates() == []


def test_wait_gives_read_your_writes_even_for_an_event_a_view_ignores(ledger, views):
    pid = ledger.register_person(lan()).person_id
    receipt = dose(ledger, pid, "R1", site_id="NEW-SITE")  # its last event lists the site
    assert views.wait(receipt.position, timeout=10)
    assert views.certificates.certificate(pid)["status"] == "partial"
    assert not views.wait(ledger.head() + 1000, timeout=0.2)


def test_status_reports_each_projection_position_lag_and_state(ledger, views):
    pid = ledger.register_person(lan()).person_id
    dose(ledger, pid, "R1")
    caught_up(views, ledger)
    status = views.status()
    assert [s["name"] for s in status] == [
        "certificates",
        "statistics",
        "localities",
        "review",
        "corrections",
        "issuances",
        "backlog",
    ]
    for s in status:
        assert (s["position"], s["head"], s["lag_events"], s["lag_seconds"]) == (
            ledger.head(),
            ledger.head(),
            0,
            0.0,
        )
        assert (s["state"], s["error"]) == ("running", None)


def test_queries_refuse_what_they_cannot_answer_naming_the_field(ledger, views):
    for call, field in [
        (lambda: views.statistics.dose_counts(["colour"]), "group_by"),
        (lambda: views.statistics.dose_counts(["date", "date"]), "group_by"),
        (lambda: views.statistics.dose_counts([], date_from="01/08/2021"), "date_from"),
        (lambda: views.localities.find(), "phone"),
        (lambda: views.localities.find(phone="call me"), "phone"),
        (lambda: views.localities.people("99"), "province"),
        (lambda: views.localities.people("01", limit=0), "limit"),
        (lambda: views.localities.people("01", status="done"), "status"),
        (lambda: views.review.sites("unknown"), "status"),
        (lambda: views.review.flags(kind="odd"), "kind"),
    ]:
        with pytest.raises(InvalidValue) as caught:
            call()
        assert caught.value.field == field
