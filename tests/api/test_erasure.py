"""Erasing a person over HTTP: admin only, problem+json naming the field, and afterwards no
answer (certificate, look-up, audit history) shows the person's personal data."""

from __future__ import annotations

from uuid import UUID, uuid4

from tests.api.conftest import dose, lan
from tests.api.test_doses import SITE, certificate, locs
from tests.test_erasure import PERSONAL, delete_key_behind_the_ledgers_back


def test_an_admin_erases_a_person_and_no_answer_shows_their_data_after(service):
    site = service.caller("site", **SITE)
    admin = service.caller("admin")
    auditor = service.caller("auditor")
    person = site.post("/v1/persons", json=lan()).json()
    pid = person["person_id"]
    recorded = site.post("/v1/doses", json=dose("R1", person_id=pid))
    assert recorded.status_code == 201, recorded.text
    assert certificate(site, pid, recorded.json()["position"])["status"] == "partial"
    service.ledger.request_correction(
        pid, "wrong_details", {"changes": {"address": "12 Phố Huế, Hà Nội"}}, contact="0912345678"
    )

    erased = admin.post(f"/v1/persons/{pid}/erasure", json={"reason": "the citizen's request"})
    assert erased.status_code == 200, erased.text
    position = erased.json()["position"]
    assert erased.json()["person_id"] == pid

    shown = certificate(site, pid, position)
    assert shown["erased"] is True and shown["status"] == "partial" and len(shown["doses"]) == 1
    found = site.get("/v1/persons", params={"phone": "0912345678", "min_position": position})
    assert found.status_code == 200 and found.json()["persons"] == []
    answers = [
        shown,
        found.json(),
        auditor.get(f"/v1/audit/persons/{pid}/history").json(),
        auditor.get(f"/v1/audit/persons/{pid}/state").json(),
        auditor.get(f"/v1/audit/persons/{pid}/verify", params={"min_position": position}).json(),
    ]
    requests = admin.get("/v1/correction-requests", params={"min_position": position})
    assert requests.status_code == 200, requests.text
    assert [(r["claim"], r["contact"]) for r in requests.json()["requests"]] == [(None, None)]
    answers.append(requests.json())
    service.client.post(
        "/audit/login", data={"token": service.token("auditor"), "next": "/audit/"}, follow_redirects=False
    )
    page = service.client.get(f"/audit/persons/{pid}")
    assert page.status_code == 200 and "Dose recorded" in page.text
    answers.append(page.text)
    text = str(answers)
    assert [p for p in PERSONAL if p in text] == []
    assert answers[4]["consistent"] is True


def test_an_erasure_is_refused_naming_the_field_and_writes_nothing(service):
    site = service.caller("site", **SITE)
    admin = service.caller("admin")
    pid = site.post("/v1/persons", json=lan()).json()["person_id"]
    head = service.ledger.head()

    not_admin = site.post(f"/v1/persons/{pid}/erasure", json={"reason": "asked"})
    unknown = admin.post(f"/v1/persons/{uuid4()}/erasure", json={"reason": "asked"})
    no_reason = admin.post(f"/v1/persons/{pid}/erasure", json={})
    blank = admin.post(f"/v1/persons/{pid}/erasure", json={"reason": " "})
    extra = admin.post(f"/v1/persons/{pid}/erasure", json={"reason": "asked", "full_name": "x"})
    assert service.ledger.head() == head
    assert not_admin.status_code == 403
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert locs(unknown) == [["path", "person_id"]]
    assert no_reason.status_code == 422 and locs(no_reason) == [["body", "reason"]]
    assert blank.status_code == 422 and locs(blank) == [["body", "reason"]]
    assert extra.status_code == 422

    first = admin.post(f"/v1/persons/{pid}/erasure", json={"reason": "asked"})
    second = admin.post(f"/v1/persons/{pid}/erasure", json={"reason": "asked"})
    assert first.status_code == 200
    assert second.status_code == 409 and second.json()["type"].endswith("/conflict")
    assert locs(second) == [["path", "person_id"]]
    assert "already erased" in second.json()["detail"]


def test_a_missing_key_for_a_person_not_erased_is_a_problem_naming_the_person_only(service, store_url):
    site = service.caller("site", **SITE)
    pid = site.post("/v1/persons", json=lan()).json()["person_id"]
    delete_key_behind_the_ledgers_back(store_url, UUID(pid))
    # As a server that does not hold the person in memory: its aggregates and keys forgotten.
    service.ledger.repository.cache.clear()
    service.ledger.data_keys._cache.clear()
    head = service.ledger.head()
    response = site.post("/v1/doses", json=dose("R9", person_id=pid))
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["type"].endswith("/data-key-missing") and pid in body["detail"]
    assert [p for p in PERSONAL if p in response.text] == []
    assert service.ledger.head() == head  # nothing written
