"""An auditor's questions, answered from the stored events alone, on each store."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from ledger.errors import InvalidValue, PersonNotFound
from ledger.keys import site_key
from ledger.values import Actor
from replay import diff, explain_certificate, history, parse_as_of, state_as_of, verify
from tests.stored_rows import StoredRows
from tests.test_ledger import SITE, dose, lan

ADMIN = Actor("auditor-desk", "admin")


@pytest.fixture
def lan_record(ledger):
    """Lan's second dose is recorded first (sites send late); then a lot fix, then a void."""
    pid = ledger.register_person(lan(), actor=SITE, channel="site").person_id
    second = dose(ledger, pid, "R2", administered_at="2021-08-29", lot="FB9999")
    first = dose(ledger, pid, "R1", administered_at="2021-08-01")
    ledger.amend_dose(second.dose_id, {"lot": "FB1000"}, "lot mistyped", actor=ADMIN)
    ledger.void_dose(first.dose_id, "entered in error", actor=ADMIN)
    return pid, str(first.dose_id), str(second.dose_id)


def test_history_shows_every_event_in_order_with_who_and_the_state_after(ledger, lan_record):
    pid, first, second = lan_record
    events = history(ledger, pid)["events"]
    assert [(e["version"], e["type"]) for e in events] == [
        (1, "Registered"),
        (2, "DoseRecorded"),
        (3, "DoseRecorded"),
        (4, "DoseAmended"),
        (5, "DoseVoided"),
    ]
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert events[1]["actor"] == {"principal_id": "site-token-1", "role": "site"}
    assert events[1]["source"] == {"kind": "site", "site_id": "HN-001", "site_record_id": "R2"}
    assert events[3]["actor"]["role"] == "admin" and events[3]["data"]["reason"] == "lot mistyped"
    # numbers are computed in administered order: the dose recorded second is dose 1
    after_both = {d["dose_id"]: d["dose_number"] for d in events[2]["state"]["doses"]}
    assert after_both == {first: 1, second: 2} and events[2]["state"]["status"] == "complete"
    # the void takes the first dose off: the other becomes dose 1, the series is partial again
    last = events[4]
    assert last["changes"]["status"] == {"from": "complete", "to": "partial"}
    changed = {c["dose_id"]: c["fields"] for c in last["changes"]["doses"]["changed"]}
    assert changed[first]["voided"] == {"from": False, "to": True}
    assert changed[second]["dose_number"] == {"from": 2, "to": 1}
    json.dumps(events)  # ready for an HTTP response as it is


def test_history_positions_are_the_events_places_in_the_application_log(ledger, lan_record):
    pid = lan_record[0]
    logged = {
        (n.originator_id, n.originator_version): n.id for n in ledger.recorder.select_notifications(1, 1000)
    }
    assert [(e["version"], e["position"]) for e in history(ledger, pid)["events"]] == [
        (v, logged[(pid, v)]) for v in range(1, 6)
    ]


def test_audit_reads_the_same_rows_the_library_stores(ledger, lan_record):
    pid = lan_record[0]

    def stored(events):
        return [(e.originator_id, e.originator_version, e.topic, e.state) for e in events]

    assert stored(ledger.recorder.select_streams([pid])) == stored(ledger.recorder.select_events(pid))
    scanned = [r.position for r in ledger.recorder.scan_streams(chunk=3)]
    assert sorted(scanned) == [n.id for n in ledger.recorder.select_notifications(1, 1000)]


def test_the_state_as_of_a_version_is_the_record_as_it_stood_then(ledger, lan_record):
    pid, first, second = lan_record
    then = state_as_of(ledger, pid, version=3)
    assert then["as_of"]["version"] == 3
    assert {d["dose_id"]: d["lot"] for d in then["state"]["doses"]} == {first: "FA1234", second: "FB9999"}
    assert state_as_of(ledger, pid, version=0)["state"] is None
    assert state_as_of(ledger, pid)["state"]["status"] == "partial"


def test_the_state_as_of_a_recorded_time_is_what_was_known_then(ledger, lan_record):
    pid = lan_record[0]
    events = history(ledger, pid)["events"]
    amended_at = parse_as_of(events[3]["recorded_at"]).recorded_at
    known = state_as_of(ledger, pid, recorded_at=amended_at - timedelta(microseconds=1))
    assert known["as_of"]["version"] == 3
    assert state_as_of(ledger, pid, recorded_at=events[3]["recorded_at"])["as_of"]["version"] == 4
    assert state_as_of(ledger, pid, recorded_at="2021-09-01")["state"] is None  # before the ledger knew her


def test_as_of_reads_a_version_a_time_or_a_date():
    assert parse_as_of("7").version == 7
    assert parse_as_of("2021-09-01T08:00:00").recorded_at.utcoffset() == timedelta(hours=7)  # Vietnam time
    end_of_day = parse_as_of("2021-09-01").recorded_at
    assert (end_of_day.date().isoformat(), end_of_day.hour) == ("2021-09-01", 23)
    with pytest.raises(InvalidValue) as caught:
        parse_as_of("last tuesday")
    assert caught.value.field == "as_of"


def test_points_outside_the_record_are_refused_naming_the_field(ledger, lan_record):
    pid = lan_record[0]
    with pytest.raises(InvalidValue) as caught:
        state_as_of(ledger, pid, version=6)
    assert caught.value.field == "version"
    with pytest.raises(InvalidValue) as caught:
        state_as_of(ledger, pid, version=2, recorded_at="2021-09-01")
    assert caught.value.field == "as_of"
    with pytest.raises(InvalidValue) as caught:
        diff(ledger, pid, 4, 2)
    assert caught.value.field == "from"


def test_only_a_person_has_a_history(ledger, lan_record):
    with pytest.raises(PersonNotFound):
        history(ledger, uuid.uuid4())
    with pytest.raises(PersonNotFound):
        history(ledger, site_key("HN-001"))  # a site's stream is no person's
    with pytest.raises(InvalidValue) as caught:
        history(ledger, "not-a-uuid")
    assert caught.value.field == "person_id"


def test_a_diff_names_what_changed_and_the_events_that_changed_it(ledger, lan_record):
    pid, first, second = lan_record
    between = diff(ledger, pid, "3", 5)
    assert (between["from"]["version"], between["to"]["version"]) == (3, 5)
    assert [e["type"] for e in between["events"]] == ["DoseAmended", "DoseVoided"]
    changed = {c["dose_id"]: c["fields"] for c in between["changes"]["doses"]["changed"]}
    assert changed[second]["lot"] == {"from": "FB9999", "to": "FB1000"}
    assert between["changes"]["status"] == {"from": "complete", "to": "partial"}
    assert between["changes"]["details"] == {}
    from_nothing = diff(ledger, pid, 0, 2)
    assert from_nothing["changes"]["details"]["full_name"] == {"from": None, "to": "Nguyễn Thị Lan"}
    assert [d["dose_id"] for d in from_nothing["changes"]["doses"]["added"]] == [second]


def test_each_certificate_line_is_traced_to_the_events_that_made_it(ledger, lan_record):
    pid, first, second = lan_record
    explained = explain_certificate(ledger, pid)
    assert explained["status"] == "partial"
    [line] = explained["lines"]
    assert (line["dose_id"], line["dose_number"], line["lot"]) == (second, 1, "FB1000")
    assert [(e["role"], e["version"], e["actor"]["role"]) for e in line["events"]] == [
        ("recorded", 2, "site"),
        ("amended", 4, "admin"),
    ]
    assert line["events"][1]["changes"] == {"lot": "FB1000"}
    [removed] = explained["removed"]
    assert removed["dose_id"] == first
    assert [(e["role"], e["version"]) for e in removed["events"]] == [("recorded", 3), ("voided", 5)]
    assert removed["events"][1]["reason"] == "entered in error"


def test_a_dose_brought_by_a_merge_is_traced_into_the_duplicates_stream(ledger, lan_record):
    survivor = lan_record[0]
    duplicate = ledger.register_person(lan(national_id=None, full_name="Nguyen Thi Lan")).person_id
    moved = dose(ledger, duplicate, "D1", administered_at="2021-12-01", lot="X")
    ledger.amend_dose(moved.dose_id, {"lot": "X2"}, "lot mistyped", actor=ADMIN)
    ledger.merge_persons(survivor, duplicate, "same person registered twice", actor=ADMIN)
    line = {entry["dose_id"]: entry for entry in explain_certificate(ledger, survivor)["lines"]}[
        str(moved.dose_id)
    ]
    assert line["dose_number"] == 2
    assert [(e["role"], e["person_id"], e["version"]) for e in line["events"]] == [
        ("recorded", str(duplicate), 2),
        ("amended", str(duplicate), 3),
        ("merged", str(survivor), 6),
    ]
    assert line["events"][2]["from_person_id"] == str(duplicate)
    closed = explain_certificate(ledger, duplicate)
    assert (closed["merged_into"], closed["lines"], closed["status"]) == (str(survivor), [], None)


def test_a_dose_added_by_an_accepted_correction_request_is_traced_to_the_request(ledger, lan_record):
    pid, first, second = lan_record
    filed = ledger.request_correction(
        pid,
        "missing_dose",
        {"vaccine": "Pfizer", "administered_at": "2021-12-20", "site_id": "HN-001"},
        contact="0912345678",
        actor=Actor("portal", "portal"),
    )
    ledger.resolve_correction(filed.request_id, "accepted", "card matches the paper log", actor=ADMIN)
    events = history(ledger, pid)["events"]
    assert [e["type"] for e in events[5:]] == ["CorrectionRequested", "DoseRecorded", "CorrectionResolved"]
    assert events[5]["data"]["code_digest"] == "(redacted)"  # the citizen's code stays theirs
    [request] = events[-1]["state"]["corrections"]
    assert (request["status"], request["reason"]) == ("accepted", "card matches the paper log")
    assert "code_digest" not in request
    assert events[-1]["changes"]["corrections"] == [
        {
            "request_id": str(filed.request_id),
            "fields": {
                "outcome": {"from": None, "to": "accepted"},
                "reason": {"from": None, "to": "card matches the paper log"},
                "status": {"from": "open", "to": "accepted"},
            },
        }
    ]
    line = [entry for entry in explain_certificate(ledger, pid)["lines"] if entry["dose_number"] == 2][0]
    assert line["events"][0]["source"] == {"kind": "correction_request", "request_id": str(filed.request_id)}


class Certificates:
    """The certificate view's documented shape: views.certificates.certificate(person_id)."""

    def __init__(self, documents):
        self.certificates = self
        self.documents = documents

    def certificate(self, person_id):
        return self.documents.get(person_id)


def test_an_untouched_person_verifies_consistent(ledger, lan_record):
    pid, first, second = lan_record
    checked = verify(ledger, pid)
    assert (checked["consistent"], checked["differences"]) == (True, [])
    assert checked["checked"] == ["integrity", "fold", "ledger"]
    assert checked["head_position"] == history(ledger, pid)["events"][-1]["position"]


def test_verify_compares_the_certificate_view_with_a_fresh_fold(ledger, lan_record):
    pid, first, second = lan_record
    right = {"status": "partial", "doses": [{"dose_id": second, "dose_number": 1, "lot": "FB1000"}]}
    assert verify(ledger, pid, Certificates({pid: right}))["consistent"]

    lagging = {
        "status": "complete",
        "doses": [
            {"dose_id": first, "dose_number": 1},
            {"dose_id": second, "dose_number": 2, "lot": "FB9999"},
        ],
    }
    differences = verify(ledger, pid, Certificates({pid: lagging}))["differences"]
    assert sorted((d["field"], d.get("dose_id"), d["expected"], d["found"]) for d in differences) == [
        ("dose_number", second, 1, 2),
        ("doses", first, None, 1),
        ("lot", second, "FB1000", "FB9999"),
        ("status", None, "partial", "complete"),
    ]
    missing = verify(ledger, pid, Certificates({}))
    assert not missing["consistent"] and missing["differences"][0]["field"] is None


def test_an_edit_behind_the_ledgers_back_shows_in_verify(ledger, lan_record, store_url):
    pid, first, second = lan_record
    ledger.person(pid)  # the application holds Lan in memory
    rows = StoredRows(store_url)
    rows.edit(pid, 4, changes={"lot": "TAMPERED"})
    rows.close()
    differences = verify(ledger, pid)["differences"]
    assert [(d["kind"], d.get("finding"), d.get("version")) for d in differences] == [
        ("integrity", "altered", 4),
        ("ledger", None, None),
    ]
    # the fold shows the tampered lot; the application still remembers the stored one
    assert differences[1]["changes"]["doses"]["changed"] == [
        {"dose_id": second, "fields": {"lot": {"from": "TAMPERED", "to": "FB1000"}}}
    ]


def test_the_history_of_a_damaged_record_still_shows_every_row(ledger, lan_record, store_url):
    pid = lan_record[0]
    rows = StoredRows(store_url)
    rows.put_state(pid, 3, b"garbage")
    rows.close()
    events = history(ledger, pid)["events"]
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5]
    assert "cannot be read" in events[2]["problem"] and events[2]["data"] is None
    assert events[2]["state"] == events[1]["state"]
