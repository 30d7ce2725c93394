"""What each role reads on the console: no more than the API gives the same token (a person's
page, the dashboard's correction figures). Both stores."""

from __future__ import annotations

import re

import api.pages.review
from tests.api.conftest import dose, lan
from tests.api.pages import sign_in
from tests.api.test_corrections import MISSING, PATH, filed, person_with_one_dose
from tests.api.test_pages_queues import caught_up

PRIVATE = (
    "001185012345",
    "12 Phố Huế",
    "0912345678",
    "1985-03-14",
)  # national id, address, phone, birth date


def test_site_staff_see_no_more_of_a_person_on_the_console_than_the_api_gives_them(service):
    # Registered by one site (national id, address); a dose at another site later.
    first = service.caller("site", sites=["01-TYT-001"]).post("/v1/doses", json=dose("S1", person=lan()))
    assert first.status_code == 201, first.text
    person_id = first.json()["person_id"]
    other = service.caller("site", sites=["01-TYT-002"])
    second = other.post("/v1/doses", json=dose("S2", person_id=person_id, site_id="01-TYT-002"))
    assert second.status_code == 201, second.text
    caught_up(service, second.json()["position"])
    # The API answers a site token the minimum (SitePersonList: name, birth year, status, doses).
    looked_up = other.get("/v1/persons", params={"national_id": "001185012345"}).json()
    assert not [v for v in PRIVATE if v in str(looked_up)]
    # The console's person page, for the same site staff: the same minimum, and no history.
    sign_in(service.client, other.token)
    page = service.client.get(f"/console/persons/{person_id}", params={"lang": "en"})
    assert page.status_code == 200
    shown = [v for v in PRIVATE if v in page.text]
    assert not shown, f"national id, address, phone or birth date shown to site staff: {shown}"
    assert "Nguyễn Thị Lan" in page.text and "1985" in page.text
    assert 'id="doses"' in page.text and 'id="history-h"' not in page.text


def test_only_the_roles_the_audit_api_serves_see_a_persons_history_on_the_console(service):
    written = service.caller("site", sites=["01-TYT-001"]).post("/v1/doses", json=dose("H1", person=lan()))
    assert written.status_code == 201, written.text
    person_id = written.json()["person_id"]
    sign_in(service.client, service.token("province", provinces=["01"]))
    official = service.client.get(f"/console/persons/{person_id}")
    assert official.status_code == 200 and "1985-03-14" in official.text  # the PersonList's details
    assert 'id="history-h"' not in official.text and "001185012345" not in official.text
    service.client.cookies.clear()
    sign_in(service.client, service.token("admin"))
    admin = service.client.get(f"/console/persons/{person_id}")
    assert admin.status_code == 200 and 'id="history-h"' in admin.text


def test_a_sites_dashboard_counts_only_its_own_answered_correction_requests(service):
    # A request in Hồ Chí Minh City, rejected there: nothing of a Hà Nội site's.
    site_hcm = service.caller("site", sites=["79-TYT-001"])
    written = site_hcm.post(
        "/v1/doses", json=dose("H1", person=lan(province="79"), site_id="79-TYT-001")
    ).json()
    request = filed(service.caller("portal"), written["person_id"]).json()
    answered = service.caller("admin").post(
        f"{PATH}/{request['request_id']}/resolve", json={"outcome": "rejected", "reason": "no record"}
    )
    assert answered.status_code == 200, answered.text
    national = service.caller("admin").get(
        "/v1/stats/corrections", params={"min_position": answered.json()["position"]}
    )
    assert national.json()["resolved"] == {"accepted": 0, "rejected": 1}, national.text
    sign_in(service.client, service.token("site", sites=["01-TYT-001"]))
    page = service.client.get("/console/?lang=en").text
    assert "Figures of your sites: 01-TYT-001." in page
    shown = re.findall(r"Accepted: \d+, rejected: \d+", page)
    assert shown == ["Accepted: 0, rejected: 0"], f"the nation's answered requests shown to a site: {shown}"
    # A request given to a site to answer, and answered there, is that site's.
    other = filed(service.caller("portal"), written["person_id"], claim={**MISSING, "site_id": "79-TYT-001"})
    assert other.status_code == 201, other.text
    other_id = other.json()["request_id"]
    given = service.caller("admin").post(f"{PATH}/{other_id}/assign", json={"site": "79-TYT-001"})
    assert given.status_code == 200, given.text
    rejected = site_hcm.post(
        f"{PATH}/{other_id}/resolve", json={"outcome": "rejected", "reason": "no record"}
    )
    assert rejected.status_code == 200, rejected.text
    caught_up(service, rejected.json()["position"])
    service.client.cookies.clear()
    sign_in(service.client, service.token("site", sites=["79-TYT-001"]))
    own = re.findall(r"Accepted: \d+, rejected: \d+", service.client.get("/console/?lang=en").text)
    assert own == ["Accepted: 0, rejected: 1"], own
    service.client.cookies.clear()
    sign_in(service.client, service.token("site", sites=["01-TYT-001"]))
    again = re.findall(r"Accepted: \d+, rejected: \d+", service.client.get("/console/?lang=en").text)
    assert again == ["Accepted: 0, rejected: 0"], again


def test_the_corrections_queue_says_how_many_wait_and_reads_a_sites_own_by_site(service, monkeypatch):
    monkeypatch.setattr(api.pages.review, "QUEUE_PAGE", 2)
    portal, admin = service.caller("portal"), service.caller("admin")
    person_id, _ = person_with_one_dose(service)
    ids = []
    for day in range(1, 4):
        answer = filed(portal, person_id, claim={**MISSING, "administered_at": f"2021-09-0{day}"})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["request_id"])
    given = admin.post(f"{PATH}/{ids[2]}/assign", json={"site": "01-TYT-002"})
    assert given.status_code == 200, given.text
    caught_up(service, given.json()["position"])
    sign_in(service.client, service.token("admin"))
    queue = service.client.get("/console/corrections", params={"lang": "en"}).text
    assert "The oldest 2 of 3 unanswered requests are shown" in queue
    assert sum(i in queue for i in ids) == 2  # filed within a second: which two is not fixed
    # Site staff: the requests given to their site, the newest of the three included.
    service.client.cookies.clear()
    sign_in(service.client, service.token("site", sites=["01-TYT-002"]))
    own = service.client.get("/console/corrections", params={"lang": "en"}).text
    assert ids[2] in own and ids[0] not in own and "unanswered requests are shown" not in own
