"""Registering, finding and merging people over HTTP."""

from __future__ import annotations

from tests.api.conftest import dose, lan
from tests.api.test_doses import SITE, certificate, locs


def test_a_national_id_registers_one_person_and_answers_200_the_second_time(service):
    site = service.caller("site", **SITE)
    first = site.post("/v1/persons", json=lan())
    second = site.post("/v1/persons", json=lan(full_name="Nguyen Thi Lan"))
    assert first.status_code == 201 and first.json()["created"] is True
    assert second.status_code == 200 and second.json()["created"] is False
    assert second.json()["person_id"] == first.json()["person_id"]


def test_a_phone_finds_everyone_who_shares_it(service):
    site = service.caller("site", **SITE)
    family = [
        ("Trần Văn Hùng", "1960-01-01"),
        ("Trần Thị Mai", "1962-05-05"),
        ("Trần Minh Khôi", "2010-09-09"),
    ]
    positions = [
        site.post(
            "/v1/persons", json=lan(full_name=name, birth_date=born, national_id=None, phone="0903 123 456")
        ).json()["position"]
        for name, born in family
    ]
    found = site.get("/v1/persons", params={"phone": "+84903123456", "min_position": max(positions)})
    assert found.status_code == 200
    assert sorted(p["full_name"] for p in found.json()["persons"]) == sorted(n for n, _ in family)


def test_a_national_id_finds_its_person(service):
    site = service.caller("site", **SITE)
    registered = site.post("/v1/persons", json=lan()).json()
    found = site.get(
        "/v1/persons", params={"national_id": "001185012345", "min_position": registered["position"]}
    )
    assert [p["person_id"] for p in found.json()["persons"]] == [registered["person_id"]]


def test_a_look_up_needs_exactly_one_key_and_a_well_formed_one(service):
    site = service.caller("site", **SITE)
    neither = site.get("/v1/persons")
    both = site.get("/v1/persons", params={"phone": "0912345678", "national_id": "001185012345"})
    bad = site.get("/v1/persons", params={"phone": "call me"})
    assert neither.status_code == both.status_code == bad.status_code == 422
    assert locs(bad) == [["query", "phone"]]


def test_a_registration_with_bad_fields_names_each(service):
    site = service.caller("site", **SITE)
    response = site.post("/v1/persons", json={"full_name": 42, "birth_date": "1985-03-14"})
    province = site.post("/v1/persons", json=lan(province="99"))
    assert response.status_code == 422
    assert sorted(locs(response)) == [["body", "full_name"], ["body", "province"]]
    assert province.status_code == 422 and locs(province) == [["body", "province"]]


def registered_twice_then_merged(site, admin):
    """One person registered by two doses (the second without a national id), then merged."""
    survivor = site.post("/v1/doses", json=dose("R1", person=lan())).json()
    duplicate = site.post(
        "/v1/doses", json=dose("R2", administered_at="2021-08-29", person=lan(national_id=None))
    ).json()
    merged = admin.post(
        f"/v1/persons/{survivor['person_id']}/merge",
        json={"duplicate_person_id": duplicate["person_id"], "reason": "the same person registered twice"},
    )
    return survivor, duplicate, merged


def test_an_admin_merges_a_duplicate_and_the_survivor_holds_both_doses(service):
    site = service.caller("site", **SITE)
    admin = service.caller("admin")
    survivor, _, merged = registered_twice_then_merged(site, admin)
    into_itself = admin.post(
        f"/v1/persons/{survivor['person_id']}/merge",
        json={"duplicate_person_id": survivor["person_id"], "reason": "oops"},
    )
    assert merged.status_code == 200, merged.text
    cert = certificate(admin, survivor["person_id"], merged.json()["position"])
    assert cert["status"] == "complete" and len(cert["doses"]) == 2
    assert into_itself.status_code == 422
    assert locs(into_itself) == [["body", "duplicate_person_id"]]


def test_a_merged_duplicates_certificate_points_at_the_survivor(service):
    site = service.caller("site", **SITE)
    survivor, duplicate, merged = registered_twice_then_merged(site, service.caller("admin"))
    response = site.get(
        f"/v1/certificates/{duplicate['person_id']}", params={"min_position": merged.json()["position"]}
    )
    assert response.status_code == 200, response.text  # was 500: the model required a certificate id
    old = response.json()
    assert old["certificate_id"] is None and old["merged_into"] == survivor["person_id"]
    assert old["doses"] == [] and old["links"] is None
