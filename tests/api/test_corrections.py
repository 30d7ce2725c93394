"""Correction requests over HTTP: a citizen's claim is filed, linked, worked and answered, and the
citizen follows it with the request id and code alone."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from ledger.rules import now_ict
from ledger.values import Actor
from tests.api.conftest import dose, lan
from tests.api.test_doses import locs

PATH = "/v1/correction-requests"
SITE_HN, SITE_HCM = "01-TYT-001", "79-TYT-001"
MISSING = {"vaccine": "Pfizer", "administered_at": "2021-08-29", "site_id": SITE_HN}
OFFICIAL = Actor("tests", "admin")


def person_with_one_dose(service, **details) -> tuple[str, str]:
    """A person of Hà Nội with one dose from 01-TYT-001: their id and the dose's id."""
    site = service.caller("site", sites=[SITE_HN])
    recorded = site.post(
        "/v1/doses", json=dose(f"R-{details.get('full_name', 'lan')}", person=lan(**details))
    ).json()
    return recorded["person_id"], recorded["dose_id"]


def filed(caller, person_id: str, kind: str = "missing_dose", claim: dict | None = None, **extra):
    return caller.post(PATH, json={"person_id": person_id, "kind": kind, "claim": claim or MISSING, **extra})


def status(service, request_id: str, code: str):
    return service.anonymous().get(f"{PATH}/{request_id}/status", params={"code": code})


def test_the_whole_lifecycle_a_missing_dose_accepted_completes_the_certificate(service):
    person_id, _ = person_with_one_dose(service)
    portal, admin = service.caller("portal"), service.caller("admin")
    site = service.caller("site", sites=[SITE_HN])
    official = service.caller("province", provinces=["01"])

    answer = filed(portal, person_id, evidence_ref="card photo 8812", contact="0912345678")
    assert answer.status_code == 201, answer.text
    request = answer.json()
    assert request["linked"] is False and len(request["code"]) == 8 and request["age_days"] == 0
    assert status(service, request["request_id"], request["code"]).json()["status"] == "open"

    listed = official.get(PATH, params={"min_position": request["position"]}).json()
    (row,) = listed["requests"]
    assert (row["request_id"], row["person_id"], row["province"], row["site_id"], row["status"]) == (
        request["request_id"],
        person_id,
        "01",
        SITE_HN,
        "open",
    )
    assert row["claim"]["vaccine"] == "EU/1/20/1528" and row["contact"] == "0912345678"
    assert row["overdue"] is False and listed["overdue_after_days"] == 7

    assigned = admin.post(f"{PATH}/{request['request_id']}/assign", json={"site": SITE_HN})
    assert assigned.status_code == 200, assigned.text
    assert status(service, request["request_id"], request["code"]).json()["status"] == "assigned"
    resolved = site.post(
        f"{PATH}/{request['request_id']}/resolve",
        json={"outcome": "accepted", "reason": "the site's paper log shows the dose"},
    )
    assert resolved.status_code == 200, resolved.text

    certificate = official.get(
        f"/v1/certificates/{person_id}", params={"min_position": resolved.json()["position"]}
    ).json()
    assert certificate["status"] == "complete"
    assert [d["administered_at"] for d in certificate["doses"]] == ["2021-08-01", "2021-08-29"]
    answer = status(service, request["request_id"], request["code"].lower())
    assert answer.json() == {
        "request_id": request["request_id"],
        "status": "accepted",
        "kind": "missing_dose",
        "filed_at": request["filed_at"],
        "outcome": "accepted",
        "reason": "the site's paper log shows the dose",
        "repeats": 0,
    }
    (done,) = official.get(PATH, params={"status": "resolved"}).json()["requests"]
    assert done["resolved_at"] and done["outcome"] == "accepted"
    summary = official.get("/v1/stats/corrections").json()
    assert summary["resolved"] == {"accepted": 1, "rejected": 0} and summary["open"] == []
    assert summary["resolution_days"]["count"] == 1


def test_the_same_claim_filed_again_is_linked_to_the_open_request(service):
    person_id, _ = person_with_one_dose(service)
    first = filed(service.caller("portal"), person_id).json()
    again = filed(
        service.caller("site", sites=[SITE_HCM]),
        person_id,
        claim={**MISSING, "vaccine": "Comirnaty"},
        channel="hotline",
    )
    assert again.status_code == 200
    assert again.json()["linked"] is True and again.json()["code"] is None
    assert again.json()["request_id"] == first["request_id"]
    assert again.json()["filed_at"] == first["filed_at"] and again.json()["age_days"] >= 0
    rows = service.caller("admin").get(PATH, params={"min_position": again.json()["position"]}).json()
    assert [(r["request_id"], r["repeats"]) for r in rows["requests"]] == [(first["request_id"], 1)]
    assert status(service, first["request_id"], first["code"]).json()["repeats"] == 1


def test_a_rejected_claim_leaves_the_ledger_unchanged(service):
    person_id, dose_id = person_with_one_dose(service)
    admin = service.caller("admin")
    request = filed(
        service.caller("portal"), person_id, "wrong_dose", {"dose_id": dose_id, "not_given": True}
    ).json()
    before = admin.get(f"/v1/certificates/{person_id}", params={"min_position": request["position"]}).json()
    events_before = len(list(service.ledger.events.get(UUID(person_id))))

    resolved = admin.post(
        f"{PATH}/{request['request_id']}/resolve",
        json={"outcome": "rejected", "reason": "the site's log shows the dose was given"},
    )
    assert resolved.status_code == 200, resolved.text
    after = admin.get(f"/v1/certificates/{person_id}", params={"min_position": resolved.json()["position"]})
    assert after.json()["doses"] == before["doses"] and after.json()["status"] == "partial"
    added = [type(e).__name__ for e in service.ledger.events.get(UUID(person_id))][events_before:]
    assert events_before > 2 and added == ["CorrectionResolved"]  # nothing but the answer
    answer = status(service, request["request_id"], request["code"]).json()
    assert (answer["status"], answer["reason"]) == ("rejected", "the site's log shows the dose was given")
    again = admin.post(f"{PATH}/{request['request_id']}/resolve", json={"outcome": "accepted", "reason": "x"})
    assert again.status_code == 409


def test_a_wrong_code_is_refused_exactly_like_an_unknown_id(service):
    person_id, _ = person_with_one_dose(service)
    request = filed(service.caller("portal"), person_id).json()
    wrong_code = status(service, request["request_id"], "WRONG234")
    unknown_id = status(service, "6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e", request["code"])
    not_an_id = status(service, "not-an-id", request["code"])
    assert wrong_code.status_code == unknown_id.status_code == not_an_id.status_code == 404
    assert wrong_code.content == unknown_id.content == not_an_id.content
    assert request["request_id"] not in wrong_code.text
    assert status(service, request["request_id"], request["code"]).status_code == 200


def test_status_checks_are_limited_per_address_to_slow_guessing(service):
    person_id, _ = person_with_one_dose(service)
    request = filed(service.caller("portal"), person_id).json()
    answers = [status(service, request["request_id"], f"GUESS{n:03d}") for n in range(10)]
    assert [a.status_code for a in answers] == [404] * 10
    refused = status(service, request["request_id"], request["code"])  # even the right code, now
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # another address is not held back
    other = TestClient(service.app, client=("203.0.113.9", 50000), raise_server_exceptions=False)
    assert (
        other.get(f"{PATH}/{request['request_id']}/status", params={"code": request["code"]}).status_code
        == 200
    )


def test_the_status_answer_holds_no_personal_data(service):
    person_id, _ = person_with_one_dose(service)
    request = filed(
        service.caller("portal"), person_id, contact="0912345678", evidence_ref="card photo"
    ).json()
    answer = status(service, request["request_id"], request["code"])
    assert set(answer.json()) == {"request_id", "status", "kind", "filed_at", "outcome", "reason", "repeats"}
    for personal in ("Lan", "0912345678", "card photo", person_id, SITE_HN):
        assert personal not in answer.text


def test_scopes_each_official_works_only_what_is_theirs(service):
    person_id, _ = person_with_one_dose(service)  # a person of Hà Nội (01)
    admin = service.caller("admin")
    to_hn = filed(service.caller("portal"), person_id).json()
    to_hcm = filed(service.caller("portal"), person_id, claim={**MISSING, "site_id": SITE_HCM}).json()
    admin.post(f"{PATH}/{to_hn['request_id']}/assign", json={"site": SITE_HN})
    last = admin.post(f"{PATH}/{to_hcm['request_id']}/assign", json={"province": "79"}).json()["position"]

    hanoi, hcm = service.caller("province", provinces=["01"]), service.caller("province", provinces=["79"])
    assert {r["request_id"] for r in hanoi.get(PATH, params={"min_position": last}).json()["requests"]} == {
        to_hn["request_id"],
        to_hcm["request_id"],
    }  # its person's requests, wherever assigned
    assert [r["request_id"] for r in hcm.get(PATH).json()["requests"]] == [to_hcm["request_id"]]
    refused = hcm.get(PATH, params={"province": "01"})
    assert refused.status_code == 403 and locs(refused) == [["query", "province"]]

    reject = {"outcome": "rejected", "reason": "not in the log"}
    hcm_site = service.caller("site", sites=[SITE_HCM])
    assert hcm_site.post(f"{PATH}/{to_hn['request_id']}/resolve", json=reject).status_code == 403
    assert hanoi.post(f"{PATH}/{to_hcm['request_id']}/resolve", json=reject).status_code == 403
    # the holder may pass a request on: 79 hands it to its site, which answers it
    assert hcm.post(f"{PATH}/{to_hcm['request_id']}/assign", json={"site": SITE_HCM}).status_code == 200
    assert hcm_site.post(f"{PATH}/{to_hcm['request_id']}/resolve", json=reject).status_code == 200
    # Hà Nội's province answers for the Hà Nội site it oversees
    assert hanoi.post(f"{PATH}/{to_hn['request_id']}/resolve", json=reject).status_code == 200
    for role in ("auditor", "reporter", "portal"):
        assert (
            service.caller(role)
            .post(f"{PATH}/{to_hn['request_id']}/assign", json={"province": "01"})
            .status_code
            == 403
        )


def test_every_list_of_requests_is_in_the_access_log_with_no_personal_data(service):
    person_id, _ = person_with_one_dose(service)
    filed(service.caller("portal"), person_id, contact="0912345678")
    now = {"min_position": service.ledger.head()}
    for role, scope in (("province", {"provinces": ["01"]}), ("auditor", {}), ("admin", {})):
        assert len(service.caller(role, **scope).get(PATH, params=now).json()["requests"]) == 1
    reads = service.caller("admin").get("/v1/audit/access", params={"person_id": person_id}).json()["reads"]
    assert [(r["role"], r["what"], r["person_id"]) for r in reads] == [
        ("province", "corrections.list", person_id),
        ("auditor", "corrections.list", person_id),
        ("admin", "corrections.list", person_id),
    ]
    assert "0912345678" not in str(reads)


def seed_ages(service, person_id: str) -> dict[int, str]:
    """Requests filed 2, 9 and 30 days ago (a paper claim keeps its date); the 30-day one answered."""
    ids = {}
    for days in (2, 9, 30):
        when = (now_ict() - timedelta(days=days)).replace(microsecond=0).isoformat()
        ids[days] = str(
            service.ledger.request_correction(
                person_id,
                "missing_dose",
                {**MISSING, "administered_at": f"2021-09-{days:02d}"},
                filed_at=when,
                channel="paper",
                actor=OFFICIAL,
            ).request_id
        )
    service.ledger.resolve_correction(ids[30], "rejected", "no such dose in the log", actor=OFFICIAL)
    return ids


def test_the_overdue_list_holds_the_unanswered_requests_older_than_the_limit(service):
    person_id, _ = person_with_one_dose(service)
    ids = seed_ages(service, person_id)
    admin = service.caller("admin")
    now = {"min_position": service.ledger.head()}
    overdue = admin.get(PATH, params={"overdue": "true", **now}).json()["requests"]
    assert [(r["request_id"], r["overdue"]) for r in overdue] == [(ids[9], True)]
    assert overdue[0]["age_days"] == pytest.approx(9, abs=0.01)
    timely = admin.get(PATH, params={"overdue": "false"}).json()["requests"]
    assert [r["request_id"] for r in timely] == [ids[30], ids[2]]  # oldest first
    assert timely[0]["age_days"] == pytest.approx(30, abs=0.01)  # filing to answer
    unresolved = admin.get(PATH, params={"status": "unresolved"}).json()["requests"]
    assert [r["request_id"] for r in unresolved] == [ids[9], ids[2]]

    summary = admin.get("/v1/stats/corrections").json()
    assert summary["overdue"] == 1 and summary["resolved"] == {"accepted": 0, "rejected": 1}
    (group,) = summary["open"]
    assert (group["province"], group["site_id"], group["open"], group["overdue"]) == ("01", SITE_HN, 2, 1)
    assert group["oldest_age_days"] == pytest.approx(9, abs=0.01)
    assert summary["resolution_days"]["median"] == pytest.approx(30, abs=0.01)


def test_the_overdue_limit_is_a_setting(service, settings, monkeypatch):
    person_id, _ = person_with_one_dose(service)
    seed_ages(service, person_id)
    monkeypatch.setenv("DOSELEDGER_CORRECTION_OVERDUE_DAYS", "1.5")
    assert Settings().correction_overdue_days == 1.5
    app = create_app(
        Settings(database_url=settings.database_url, correction_overdue_days=1.5),
        ledger=service.ledger,
        views=service.app.state.views,
    )
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {service.token('admin')}"
        answer = client.get(PATH, params={"overdue": "true", "min_position": service.ledger.head()}).json()
    assert len(answer["requests"]) == 2 and answer["overdue_after_days"] == 1.5


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"kind": "complaint"}, ["body", "kind"]),
        ({"claim": {**MISSING, "vaccine": "Snake Oil"}}, ["body", "claim", "vaccine"]),
        ({"claim": {**MISSING, "administered_at": "2999-01-01"}}, ["body", "claim", "administered_at"]),
        ({"claim": {**MISSING, "colour": "red"}}, ["body", "claim", "colour"]),
        ({"claim": {}}, ["body", "claim"]),
        ({"person_id": "not-a-uuid"}, ["body", "person_id"]),
        ({"channel": "x" * 41}, ["body", "channel"]),
    ],
)
def test_a_malformed_request_is_refused_naming_the_field(service, body, loc):
    person_id, _ = person_with_one_dose(service)
    answer = service.caller("portal").post(
        PATH, json={"person_id": person_id, "kind": "missing_dose", "claim": MISSING, **body}
    )
    assert answer.status_code == 422, answer.text
    assert locs(answer)[0] == loc
    assert service.ledger.person(person_id).corrections == {}


def test_a_claim_about_nobody_is_not_found_and_bad_queries_name_the_field(service):
    admin = service.caller("admin")
    nobody = filed(service.caller("portal"), "6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e")
    assert nobody.status_code == 404 and locs(nobody) == [["body", "person_id"]]
    assert locs(admin.get(PATH, params={"status": "lost"})) == [["query", "status"]]
    assert locs(admin.get(PATH, params={"province": "00"}))[0] == ["query", "province"]
    unknown = admin.post(f"{PATH}/6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e/assign", json={"province": "01"})
    assert unknown.status_code == 404
    person_id, _ = person_with_one_dose(service)
    request = filed(service.caller("portal"), person_id).json()
    both = admin.post(f"{PATH}/{request['request_id']}/assign", json={"province": "01", "site": SITE_HN})
    assert both.status_code == 422 and locs(both) == [["body"]]
