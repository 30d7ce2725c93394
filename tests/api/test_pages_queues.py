"""The console's pages over plain HTTP on both stores: the dashboard's numbers are the
statistics API's; the review queues' forms act through the same use cases, name bad input beside
its field in the page's language and store nothing then; a person's page is a recorded read."""

from __future__ import annotations

import re

from tests.api.conftest import dose, lan
from tests.api.pages import csrf_of, sign_in
from tests.api.test_corrections import MISSING, PATH, filed, person_with_one_dose

UNLISTED = "01-UNLISTED-417"


def caught_up(service, position: int) -> None:
    """The views have applied the ledger up to `position` (a page has no min_position)."""
    assert service.app.state.views.wait(position, 10)


def numbers(html: str, attribute: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(rf'data-{attribute}="([^"]+)">(\d+)<', html)}


def test_the_dashboards_numbers_are_the_statistics_apis(service):
    site = service.caller("site", sites=["01-TYT-001", "79-TYT-001"])
    for n, (day, where) in enumerate(
        [("2021-08-01", "01-TYT-001"), ("2021-08-01", "01-TYT-001"), ("2021-08-03", "79-TYT-001")]
    ):
        person = lan(national_id=f"00118501234{n}", phone=f"091234567{n}", province=where[:2])
        written = site.post(
            "/v1/doses", json=dose(f"D{n}", person=person, administered_at=day, site_id=where)
        )
        assert written.status_code == 201, written.text
    caught_up(service, written.json()["position"])
    official = service.caller("province", provinces=["01"])
    sign_in(service.client, official.token)
    page = service.client.get("/console/").text
    api_days = official.get("/v1/stats/doses", params={"group_by": "date"}).json()
    assert (
        numbers(page, "day") == {row["date"]: row["doses"] for row in api_days["rows"]} == {"2021-08-01": 2}
    )
    api_coverage = official.get("/v1/stats/coverage").json()["rows"]
    assert numbers(page, "coverage") == {f"{r['province']}-{r['status']}": r["people"] for r in api_coverage}
    assert "<svg" in page and "<title" in page and "Hà Nội" in page
    # An admin sees every province, or the one picked; a code not in the list is named beside the field.
    service.client.cookies.clear()
    sign_in(service.client, service.token("admin"))
    everything = service.client.get("/console/").text
    assert numbers(everything, "day") == {"2021-08-01": 2, "2021-08-03": 1}
    assert numbers(service.client.get("/console/?province=79").text, "day") == {"2021-08-03": 1}
    wrong = service.client.get("/console/?province=99&lang=en").text
    assert 'id="province-error"' in wrong and "Choose a province from the list." in wrong
    # Site staff see their sites' doses only.
    service.client.cookies.clear()
    sign_in(service.client, service.token("site", sites=["79-TYT-001"]))
    assert numbers(service.client.get("/console/").text, "day") == {"2021-08-03": 1}


def test_a_province_official_reviews_a_provisional_site_and_bad_input_is_named_beside_its_field(service):
    site = service.caller("site", sites=[UNLISTED])
    written = site.post("/v1/doses", json=dose("P1", person=lan(), site_id=UNLISTED))
    assert written.status_code == 201, written.text
    caught_up(service, written.json()["position"])
    sign_in(service.client, service.token("province", provinces=["01"]))
    queue = service.client.get("/console/sites")
    assert UNLISTED in queue.text
    csrf = csrf_of(queue.text)
    url = f"/console/sites/{UNLISTED}/review"
    head = service.ledger.head()
    no_reason = service.client.post(url, data={"csrf": csrf, "decision": "rejected"}, follow_redirects=False)
    assert no_reason.status_code == 422
    assert (
        f'id="reason-error-{UNLISTED}"' in no_reason.text and "Hãy nêu lý do từ chối cơ sở." in no_reason.text
    )
    no_kind = service.client.post(
        url + "?lang=en", data={"csrf": csrf, "decision": "approved"}, follow_redirects=False
    )
    assert "Choose whether the site is official or mobile." in no_kind.text
    assert service.ledger.head() == head  # nothing stored
    approved = service.client.post(
        url,
        data={"csrf": csrf, "decision": "approved", "kind": "mobile", "name": "Đội lưu động"},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    reviewed = service.ledger.site(UNLISTED)
    assert (reviewed.kind, reviewed.name) == ("mobile", "Đội lưu động")
    # Another province's official may not.
    service.client.cookies.clear()
    sign_in(service.client, service.token("province", provinces=["79"]))
    csrf = csrf_of(service.client.get("/console/sites").text)
    other = service.client.post(
        url, data={"csrf": csrf, "decision": "rejected", "reason": "x"}, follow_redirects=False
    )
    assert other.status_code == 403


def test_site_staff_have_no_site_review_queue(service):
    sign_in(service.client, service.token("site", sites=["01-TYT-001"]))
    assert service.client.get("/console/sites").status_code == 403


def test_a_correction_request_is_assigned_and_answered_from_its_page(service):
    person_id, _ = person_with_one_dose(service)
    request = filed(service.caller("portal"), person_id).json()
    caught_up(service, request["position"])
    sign_in(service.client, service.token("admin"))
    queue = service.client.get("/console/corrections")
    assert request["request_id"] in queue.text
    csrf = csrf_of(queue.text)
    base = f"/console/corrections/{request['request_id']}"
    head = service.ledger.head()
    nowhere = service.client.post(base + "/assign", data={"csrf": csrf, "to": "province", "assignee": "99"})
    assert nowhere.status_code == 422 and "Không phải mã tỉnh" in nowhere.text
    assert f'id="assignee-error-{request["request_id"]}"' in nowhere.text
    assert service.ledger.head() == head
    assigned = service.client.post(
        base + "/assign", data={"csrf": csrf, "to": "province", "assignee": "01"}, follow_redirects=False
    )
    assert assigned.status_code == 303, assigned.text
    assert service.ledger.correction(request["request_id"])["assignee"] == {"province": "01"}
    # The province official it was assigned to answers it, once the views know who holds it.
    caught_up(service, service.ledger.head())
    service.client.cookies.clear()
    sign_in(service.client, service.token("province", provinces=["01"]))
    csrf = csrf_of(service.client.get("/console/corrections").text)
    no_reason = service.client.post(base + "/resolve?lang=en", data={"csrf": csrf, "outcome": "accepted"})
    assert no_reason.status_code == 422 and "Give the reason; the citizen is told it" in no_reason.text
    assert service.ledger.correction(request["request_id"])["status"] == "assigned"
    answered = service.client.post(
        base + "/resolve",
        data={"csrf": csrf, "outcome": "accepted", "reason": "the site's log confirms it"},
        follow_redirects=False,
    )
    assert answered.status_code == 303, answered.text
    assert service.ledger.correction(request["request_id"])["status"] == "accepted"
    doses = service.caller("admin").get("/v1/fhir/Immunization", params={"patient": person_id}).json()
    assert any(MISSING["administered_at"] in str(e) for e in doses.get("entry", []))
    again = service.client.post(
        base + "/resolve",
        data={"csrf": csrf, "outcome": "rejected", "reason": "again"},
        follow_redirects=False,
    )
    assert again.status_code == 422 and "This request was answered already." in again.text  # kept: English
    assert PATH  # the API's path, which the same use cases serve


def test_a_persons_page_shows_the_record_and_is_a_recorded_read(service):
    person_id, _ = person_with_one_dose(service)
    official = service.caller("province", provinces=["01"])
    sign_in(service.client, official.token)
    page = service.client.get(f"/console/persons/{person_id}")
    assert page.status_code == 200
    assert "Nguyễn Thị Lan" in page.text and "1985-03-14" in page.text and "01-TYT-001" in page.text
    admin = service.caller("admin")
    log = admin.get("/v1/audit/access", params={"person_id": person_id}).json()
    assert any(entry["what"] == "pages.person" for entry in log["reads"]), log
    # Outside the official's provinces: refused, and not read.
    service.client.cookies.clear()
    sign_in(service.client, service.token("province", provinces=["79"]))
    assert service.client.get(f"/console/persons/{person_id}").status_code == 403
    bad = service.client.get("/console/persons", params={"person_id": "not-an-id"})
    assert bad.status_code == 422 and 'id="person_id-error"' in bad.text
