"""Audit over HTTP: a person's history, state as of a point, diffs, the certificate explained and
verified, on each store. The answers are replay's own (tests/test_replay.py checks their
content in depth); here: that the wire carries them, errors name the query field, and a view
that is merely late is not reported as a difference."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from tests.api.conftest import dose, lan
from tests.api.test_doses import SITE, locs
from tests.stored_rows import StoredRows

UNKNOWN = "6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e"


def lan_with_a_corrected_lot(service) -> tuple[str, str]:
    """Through the API: Lan's two doses, the first one's lot corrected. (person id, dose id)"""
    site = service.caller("site", **SITE)
    first = site.post("/v1/doses", json=dose("A1", person=lan())).json()
    site.post("/v1/doses", json=dose("A2", person_id=first["person_id"], administered_at="2021-08-29"))
    site.post(f"/v1/doses/{first['dose_id']}/amend", json={"lot": "FB9999", "reason": "misread"})
    return first["person_id"], first["dose_id"]


def test_the_history_lists_every_event_with_who_through_what_and_the_state_after(service):
    person_id, dose_id = lan_with_a_corrected_lot(service)
    response = service.caller("auditor").get(f"/v1/audit/persons/{person_id}/history")
    assert response.status_code == 200
    body = response.json()
    assert body["person_id"] == person_id
    events = body["events"]
    assert [(e["version"], e["type"]) for e in events] == [
        (1, "Registered"),
        (2, "DoseRecorded"),
        (3, "DoseRecorded"),
        (4, "DoseAmended"),
    ]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and all(isinstance(p, int) for p in positions)
    amended = events[-1]
    assert amended["actor"]["role"] == "site"
    assert amended["source"] == {"kind": "api"}
    assert amended["data"] == {"dose_id": dose_id, "changes": {"lot": "FB9999"}, "reason": "misread"}
    assert datetime.fromisoformat(amended["recorded_at"]).tzinfo is not None
    assert [e["state"]["status"] for e in events] == ["none", "partial", "complete", "complete"]
    assert [d["lot"] for d in amended["state"]["doses"]] == ["FB9999", "FA1234"]


def test_the_state_as_of_a_version_or_a_time_is_what_was_known_then(service):
    person_id, _ = lan_with_a_corrected_lot(service)
    auditor = service.caller("auditor")
    url = f"/v1/audit/persons/{person_id}/state"
    after_one_dose = auditor.get(url, params={"as_of": "2"}).json()
    now = auditor.get(url).json()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    before_anything = auditor.get(url, params={"as_of": yesterday}).json()
    assert after_one_dose["as_of"]["version"] == 2 and after_one_dose["state"]["status"] == "partial"
    assert now["as_of"]["version"] == 4 and now["state"]["doses"][0]["lot"] == "FB9999"
    assert before_anything == {
        "person_id": person_id,
        "as_of": {"version": 0, "position": None, "recorded_at": None},
        "state": None,
    }


def test_a_bad_point_in_time_names_the_query_field(service):
    person_id, _ = lan_with_a_corrected_lot(service)
    auditor = service.caller("auditor")
    not_a_time = auditor.get(f"/v1/audit/persons/{person_id}/state", params={"as_of": "last week"})
    past_the_end = auditor.get(f"/v1/audit/persons/{person_id}/state", params={"as_of": "9"})
    bad_from = auditor.get(f"/v1/audit/persons/{person_id}/diff", params={"from": "-1"})
    backwards = auditor.get(f"/v1/audit/persons/{person_id}/diff", params={"from": "3", "to": "1"})
    assert [r.status_code for r in (not_a_time, past_the_end, bad_from, backwards)] == [422] * 4
    assert locs(not_a_time) == locs(past_the_end) == [["query", "as_of"]]
    assert "versions 0 to 4" in past_the_end.json()["detail"]
    assert locs(bad_from) == locs(backwards) == [["query", "from"]]
    assert not_a_time.headers["content-type"] == "application/problem+json"


def test_an_unknown_person_is_404_and_a_malformed_id_422_naming_the_path(service):
    auditor = service.caller("auditor")
    for what in ("history", "state", "diff", "explain", "verify"):
        unknown = auditor.get(f"/v1/audit/persons/{UNKNOWN}/{what}")
        malformed = auditor.get(f"/v1/audit/persons/not-an-id/{what}")
        assert (unknown.status_code, locs(unknown)) == (404, [["path", "person_id"]]), what
        assert (malformed.status_code, locs(malformed)) == (422, [["path", "person_id"]]), what


def test_a_diff_shows_what_changed_between_two_versions_and_the_events_that_did_it(service):
    person_id, dose_id = lan_with_a_corrected_lot(service)
    diff = (
        service.caller("auditor")
        .get(f"/v1/audit/persons/{person_id}/diff", params={"from": "3", "to": "4"})
        .json()
    )
    assert diff["changes"]["doses"]["changed"] == [
        {"dose_id": dose_id, "fields": {"lot": {"from": "FA1234", "to": "FB9999"}}}
    ]
    assert [e["type"] for e in diff["events"]] == ["DoseAmended"]
    everything = service.caller("auditor").get(f"/v1/audit/persons/{person_id}/diff").json()
    assert everything["from"]["version"] == 0 and everything["to"]["version"] == 4
    assert len(everything["changes"]["doses"]["added"]) == 2


def test_explain_traces_each_certificate_line_and_the_voided_ones(service):
    person_id, dose_id = lan_with_a_corrected_lot(service)
    site = service.caller("site", **SITE)
    second = site.post("/v1/doses", json=dose("A2", person_id=person_id, administered_at="2021-08-29"))
    site.post(f"/v1/doses/{second.json()['dose_id']}/void", json={"reason": "entered twice"})
    explained = service.caller("auditor").get(f"/v1/audit/persons/{person_id}/explain").json()
    assert [line["dose_id"] for line in explained["lines"]] == [dose_id]
    assert [e["role"] for e in explained["lines"][0]["events"]] == ["recorded", "amended"]
    assert [e["role"] for e in explained["removed"][0]["events"]] == ["recorded", "voided"]
    assert explained["status"] == "partial"


def test_verify_waits_for_the_view_so_a_fresh_write_is_consistent(service):
    person_id, _ = lan_with_a_corrected_lot(service)
    verdict = service.caller("auditor").get(f"/v1/audit/persons/{person_id}/verify")
    assert verdict.status_code == 200, verdict.text
    body = verdict.json()
    assert body["consistent"] is True and body["differences"] == []
    assert "certificate" in body["checked"]


def test_verify_reports_an_event_edited_in_the_database_behind_the_ledgers_back(service, store_url):
    person_id, _ = lan_with_a_corrected_lot(service)
    rows = StoredRows(store_url)
    try:
        rows.edit(UUID(person_id), 2, lot="FORGED")
    finally:
        rows.close()
    body = service.caller("auditor").get(f"/v1/audit/persons/{person_id}/verify").json()
    assert body["consistent"] is False
    assert {"kind": "integrity", "finding": "altered", "version": 2} in [
        {k: d.get(k) for k in ("kind", "finding", "version")} for d in body["differences"]
    ]


def test_verify_answers_503_when_the_view_does_not_catch_up(service, monkeypatch):
    person_id, _ = lan_with_a_corrected_lot(service)
    monkeypatch.setattr(service.app.state.views, "wait", lambda position, timeout: False)
    response = service.caller("auditor").get(f"/v1/audit/persons/{person_id}/verify")
    assert response.status_code == 503 and response.headers["retry-after"]


def test_an_auditor_reading_a_certificate_gets_links_to_the_audit_page_others_do_not(service):
    person_id, _ = lan_with_a_corrected_lot(service)
    position = service.ledger.head()
    auditor = (
        service.caller("auditor")
        .get(f"/v1/certificates/{person_id}", params={"min_position": position})
        .json()
    )
    site = service.caller("site", **SITE).get(f"/v1/certificates/{person_id}").json()
    assert auditor["links"] == {
        "audit": f"/audit/persons/{person_id}",
        "history": f"/v1/audit/persons/{person_id}/history",
    }
    assert site["links"] is None
    assert {k: v for k, v in auditor.items() if k != "links"} == {
        k: v for k, v in site.items() if k != "links"
    }


def test_no_personal_data_reaches_the_logs_while_auditing(service, caplog):
    caplog.set_level(logging.DEBUG)
    person_id, _ = lan_with_a_corrected_lot(service)
    auditor = service.caller("auditor")
    for what in ("history", "state", "diff", "explain", "verify"):
        assert auditor.get(f"/v1/audit/persons/{person_id}/{what}").status_code == 200
    auditor.get(f"/v1/certificates/{person_id}")
    details = lan()
    for personal in (details["full_name"], details["national_id"], details["phone"], details["address"]):
        assert personal not in caplog.text
