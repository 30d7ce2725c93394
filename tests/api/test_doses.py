"""Stories of a site system recording doses over HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from tests.api.conftest import dose, lan

SITE = {"sites": ["01-TYT-001"]}


def locs(response) -> list[list]:
    return [e["loc"] for e in response.json()["errors"]]


def certificate(caller, person_id, position):
    response = caller.get(f"/v1/certificates/{person_id}", params={"min_position": position})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_dose_with_an_inline_registration_is_created_then_a_resend_is_a_duplicate(service):
    site = service.caller("site", **SITE)
    first = site.post("/v1/doses", json=dose("R1", person=lan()))
    again = site.post("/v1/doses", json=dose("R1", person=lan()))
    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert again.json()["dose_id"] == first.json()["dose_id"]
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    cert = certificate(site, first.json()["person_id"], first.json()["position"])
    assert [d["dose_id"] for d in cert["doses"]] == [first.json()["dose_id"]]


def test_the_same_site_record_with_other_content_is_a_conflict_naming_the_stored_dose(service):
    site = service.caller("site", **SITE)
    first = site.post("/v1/doses", json=dose("R1", person=lan()))
    changed = site.post("/v1/doses", json=dose("R1", person=lan(), lot="OTHER"))
    assert changed.status_code == 409
    assert changed.headers["content-type"] == "application/problem+json"
    body = changed.json()
    assert body["dose_id"] == first.json()["dose_id"]
    assert body["type"].endswith("/conflict") and locs(changed) == [["body", "site_record_id"]]


def test_a_vietnamese_name_round_trips_with_its_diacritics(service):
    site = service.caller("site", **SITE)
    name = "Đặng Thị Ánh Tuyết"
    recorded = site.post("/v1/doses", json=dose("R1", person=lan(full_name=name, phone="0987654321")))
    found = site.get(
        "/v1/persons", params={"phone": "0987654321", "min_position": recorded.json()["position"]}
    )
    assert found.json()["persons"][0]["full_name"] == name
    assert name.encode() in found.content  # UTF-8 as is, not \\u escapes


def test_missing_fields_are_each_named(service):
    site = service.caller("site", **SITE)
    response = site.post("/v1/doses", json={"site_id": "01-TYT-001", "person": lan()})
    assert response.status_code == 422
    assert sorted(locs(response)) == [
        ["body", "administered_at"],
        ["body", "site_record_id"],
        ["body", "vaccine"],
    ]


def test_wrong_types_are_named(service):
    site = service.caller("site", **SITE)
    response = site.post(
        "/v1/doses", json=dose("R1", administered_at=20210801, dose_number="two", person_id="not-a-uuid")
    )
    assert response.status_code == 422
    assert sorted(locs(response)) == [
        ["body", "administered_at"],
        ["body", "dose_number"],
        ["body", "person_id"],
    ]


def test_an_unknown_field_is_refused_by_name(service):
    site = service.caller("site", **SITE)
    response = site.post("/v1/doses", json=dose("R1", person=lan(), colour="blue"))
    assert response.status_code == 422 and locs(response) == [["body", "colour"]]


def test_future_dates_are_refused_naming_the_field(service):
    site = service.caller("site", **SITE)
    head = service.ledger.head()
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    given = site.post("/v1/doses", json=dose("R1", person=lan(), administered_at=tomorrow))
    born = site.post("/v1/doses", json=dose("R2", person=lan(birth_date=tomorrow)))
    assert given.status_code == 422 and locs(given) == [["body", "administered_at"]]
    assert given.json()["errors"][0]["msg"] == "is in the future"
    assert born.status_code == 422 and locs(born) == [["body", "person", "birth_date"]]
    assert service.ledger.head() == head  # nothing stored


def test_an_unknown_vaccine_is_refused_as_such(service):
    site = service.caller("site", **SITE)
    response = site.post("/v1/doses", json=dose("R1", person=lan(), vaccine="Snake Oil"))
    assert response.status_code == 422
    assert response.json()["type"].endswith("/unknown-vaccine")
    assert locs(response) == [["body", "vaccine"]]


def test_a_dose_for_a_person_who_does_not_exist_is_not_found(service):
    site = service.caller("site", **SITE)
    response = site.post("/v1/doses", json=dose("R1", person_id="6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e"))
    assert response.status_code == 404 and locs(response) == [["body", "person_id"]]


def test_a_dose_needs_a_person_id_or_a_person_but_not_both(service):
    site = service.caller("site", **SITE)
    neither = site.post("/v1/doses", json=dose("R1"))
    both = site.post(
        "/v1/doses", json=dose("R1", person=lan(), person_id="6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e")
    )
    assert neither.status_code == both.status_code == 422
    assert locs(neither) == locs(both) == [["body", "person_id"]]


def test_a_batch_stores_its_good_items_and_answers_each_one(service):
    site = service.caller("site", **SITE)
    person_id = site.post("/v1/persons", json=lan()).json()["person_id"]
    site.post("/v1/doses", json=dose("B0", person_id=person_id, administered_at="2021-06-01"))
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    response = site.post(
        "/v1/doses/batch",
        json={
            "doses": [
                dose("B1", person_id=person_id),
                dose("B2", person_id=person_id, vaccine="Snake Oil"),
                dose("B3", person_id=person_id, administered_at=20210901),
                "not an object",
                dose("B5", person_id=person_id, administered_at=tomorrow),
                dose("B6", person_id=person_id, administered_at="2021-09-01"),
                dose("B0", person_id=person_id, administered_at="2021-06-01"),
                dose("B0", person_id=person_id, administered_at="2021-06-02"),
            ]
        },
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "duplicate",
        "conflict",
    ]
    assert [r["index"] for r in results] == list(range(8))
    assert [r["errors"][0]["loc"] for r in results if r.get("errors")] == [
        ["body", "doses", 1, "vaccine"],
        ["body", "doses", 2, "administered_at"],
        ["body", "doses", 3],
        ["body", "doses", 4, "administered_at"],
        ["body", "doses", 7, "site_record_id"],
    ]
    assert results[7]["dose_id"] == results[6]["dose_id"]  # the conflict names the stored dose
    assert response.json()["counts"] == {"created": 2, "duplicate": 1, "conflict": 1, "rejected": 4}
    cert = certificate(site, person_id, results[5]["position"])
    assert [d["administered_at"] for d in cert["doses"]] == ["2021-06-01", "2021-08-01", "2021-09-01"]


def test_a_batch_holds_at_most_a_thousand_doses(service):
    site = service.caller("site", **SITE)
    response = site.post("/v1/doses/batch", json={"doses": [dose(f"B{i}") for i in range(1001)]})
    empty = site.post("/v1/doses/batch", json={"doses": []})
    assert response.status_code == empty.status_code == 422
    assert locs(response) == locs(empty) == [["body", "doses"]]


def test_an_amendment_changes_the_certificate_and_needs_a_reason(service):
    site = service.caller("site", **SITE)
    recorded = site.post("/v1/doses", json=dose("R1", person=lan())).json()
    url = f"/v1/doses/{recorded['dose_id']}/amend"
    no_reason = site.post(url, json={"lot": "FA1243"})
    no_change = site.post(url, json={"reason": "typo"})
    amended = site.post(url, json={"lot": "FA1243", "reason": "lot number mistyped"})
    assert no_reason.status_code == 422 and locs(no_reason) == [["body", "reason"]]
    assert no_change.status_code == 422 and locs(no_change) == [["body"]]
    assert amended.status_code == 200, amended.text
    assert amended.json()["person_id"] == recorded["person_id"]
    cert = certificate(site, recorded["person_id"], amended.json()["position"])
    assert cert["doses"][0]["lot"] == "FA1243"


def test_a_void_removes_the_dose_from_the_certificate_once(service):
    site = service.caller("site", **SITE)
    recorded = site.post("/v1/doses", json=dose("R1", person=lan())).json()
    url = f"/v1/doses/{recorded['dose_id']}/void"
    no_reason = site.post(url, json={})
    voided = site.post(url, json={"reason": "entered twice"})
    again = site.post(url, json={"reason": "entered twice"})
    assert no_reason.status_code == 422 and locs(no_reason) == [["body", "reason"]]
    assert voided.status_code == 200 and again.status_code == 409
    assert certificate(site, recorded["person_id"], voided.json()["position"])["doses"] == []


def test_amending_or_voiding_an_unknown_dose_is_not_found_and_a_bad_id_is_named(service):
    site = service.caller("site", **SITE)
    unknown = site.post("/v1/doses/2b8f8c1e-5d7a-5b6c-8e9f-0a1b2c3d4e5f/void", json={"reason": "x"})
    bad = site.post("/v1/doses/12345/amend", json={"lot": "x", "reason": "x"})
    assert unknown.status_code == 404 and locs(unknown) == [["path", "dose_id"]]
    assert bad.status_code == 422 and locs(bad) == [["path", "dose_id"]]
