"""Reading the projections over HTTP: certificates, statistics, sites, projection status."""

from __future__ import annotations

from tests.api.conftest import dose, lan
from tests.api.test_doses import SITE, locs


def seed(service) -> int:
    """Two people in Hà Nội (01), one in Hồ Chí Minh (79); four doses. Returns the last position."""
    site = service.caller("site", sites=["01-TYT-001", "79-TYT-001"])
    site.post("/v1/doses", json=dose("A1", person=lan()))
    site.post("/v1/doses", json=dose("A2", person=lan(), administered_at="2021-08-29"))
    site.post(
        "/v1/doses",
        json=dose("B1", vaccine="Vero Cell", person=lan(full_name="Lê Văn Nam", national_id="001190000002")),
    )
    last = site.post(
        "/v1/doses",
        json=dose(
            "C1",
            site_id="79-TYT-001",
            administered_at="2021-09-02",
            person=lan(full_name="Võ Thị Hạnh", province="79", national_id="079190000003"),
        ),
    )
    return last.json()["position"]


def test_an_unknown_persons_certificate_is_not_found(service):
    response = service.caller("auditor").get("/v1/certificates/6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e")
    assert response.status_code == 404 and locs(response) == [["path", "person_id"]]


def test_a_read_asked_to_wait_for_a_position_not_yet_written_gives_up_with_503(service):
    service.app.state.settings = service.app.state.settings.model_copy(update={"read_wait_seconds": 0.2})
    site = service.caller("site", **SITE)
    person = site.post("/v1/persons", json=lan()).json()
    response = site.get(
        f"/v1/certificates/{person['person_id']}", params={"min_position": person["position"] + 1000}
    )
    assert response.status_code == 503 and response.headers["retry-after"]


def test_dose_counts_group_by_what_is_asked_and_stay_within_the_dates(service):
    position = seed(service)
    reporter = service.caller("reporter")
    by_province = reporter.get(
        "/v1/stats/doses", params={"group_by": "province", "min_position": position}
    ).json()
    by_vaccine = reporter.get(
        "/v1/stats/doses",
        params={"group_by": "vaccine,dose_number", "from": "2021-08-02", "to": "2021-12-31"},
    )
    assert by_province == {
        "rows": [{"province": "01", "doses": 3}, {"province": "79", "doses": 1}],
        "total": 4,
    }
    assert by_vaccine.json()["rows"] == [
        {"vaccine": "EU/1/20/1528", "dose_number": 1, "doses": 1},
        {"vaccine": "EU/1/20/1528", "dose_number": 2, "doses": 1},
    ]


def test_a_province_official_counts_only_their_province(service):
    position = seed(service)
    official = service.caller("province", provinces=["79"])
    counts = official.get("/v1/stats/doses", params={"group_by": "province", "min_position": position})
    coverage = official.get("/v1/stats/coverage")
    assert counts.json()["rows"] == [{"province": "79", "doses": 1}]
    assert coverage.json() == {"rows": [{"province": "79", "status": "partial", "people": 1}], "total": 1}


def test_statistics_refuse_unknown_groups_reversed_dates_and_bad_provinces(service):
    reporter = service.caller("reporter")
    group = reporter.get("/v1/stats/doses", params={"group_by": "colour"})
    dates = reporter.get("/v1/stats/doses", params={"from": "2021-09-01", "to": "2021-08-01"})
    not_a_date = reporter.get("/v1/stats/doses", params={"from": "yesterday"})
    province = reporter.get("/v1/stats/coverage", params={"province": "99"})
    assert [r.status_code for r in (group, dates, not_a_date, province)] == [422] * 4
    assert locs(group) == [["query", "group_by"]] and locs(dates) == [["query", "from"]]
    assert locs(not_a_date) == [["query", "from"]] and locs(province) == [["query", "province"]]


def test_coverage_counts_people_by_status(service):
    position = seed(service)
    response = service.caller("reporter").get("/v1/stats/coverage", params={"min_position": position})
    assert response.json()["rows"] == [
        {"province": "01", "status": "complete", "people": 1},
        {"province": "01", "status": "partial", "people": 1},
        {"province": "79", "status": "partial", "people": 1},
    ]


def test_a_dose_at_an_unlisted_site_puts_the_site_in_the_review_queue(service):
    site = service.caller("site", sites=["01-MOBILE-7"])
    position = site.post("/v1/doses", json=dose("M1", site_id="01-MOBILE-7", person=lan())).json()["position"]
    official = service.caller("province", provinces=["01"])
    queue = official.get("/v1/sites", params={"status": "provisional", "min_position": position}).json()[
        "sites"
    ]
    assert [(s["site_id"], s["province"]) for s in queue] == [("01-MOBILE-7", "01")]
    approved = official.post(
        "/v1/sites/01-MOBILE-7/review",
        json={"decision": "approved", "kind": "mobile", "name": "Đội lưu động 7"},
    )
    assert approved.status_code == 200, approved.text
    seen = {"min_position": approved.json()["position"]}
    assert official.get("/v1/sites", params={"status": "provisional", **seen}).json()["sites"] == []
    mobile = official.get("/v1/sites", params={"status": "mobile", **seen}).json()["sites"]
    assert [(s["name"], s["review_status"]) for s in mobile] == [("Đội lưu động 7", "approved")]


def test_a_site_is_added_once_and_a_review_names_what_is_wrong(service):
    admin = service.caller("admin")
    new = {"site_id": "01-TYT-042", "name": "Trạm Y tế Kim Mã", "kind": "official", "province": "01"}
    added = admin.post("/v1/sites", json=new)
    again = admin.post("/v1/sites", json=new)
    unknown = admin.post("/v1/sites/NOPE/review", json={"decision": "approved"})
    no_reason = admin.post("/v1/sites/01-TYT-042/review", json={"decision": "rejected"})
    bad_kind = admin.post("/v1/sites", json={**new, "kind": "provisional"})
    assert added.status_code == 201 and again.status_code == 409
    assert unknown.status_code == 404 and locs(unknown) == [["path", "site_id"]]
    assert no_reason.status_code == 422 and locs(no_reason) == [["body", "reason"]]
    assert bad_kind.status_code == 422 and locs(bad_kind) == [["body", "kind"]]


def test_projection_status_shows_position_head_and_lag(service):
    response = service.caller("reporter").get("/v1/projections")
    assert response.status_code == 200
    for projection in response.json()["projections"]:
        assert {"name", "position", "head", "lag_events", "lag_seconds", "state"} <= set(projection)
