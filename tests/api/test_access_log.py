"""The access log: every read of a person's data, by every role, is a row of a table beside the
events (never an event); auditors and admins query it by person or principal, and make a person's
own access report. Which endpoints log is proven one by one in tests/security/test_reads_logged.py."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.access import PersonDataRead
from store.access_log import AccessQuery
from tests.api.conftest import dose, lan
from tests.api.test_doses import SITE, locs
from usecases.access_log import AccessLog
from usecases.application import DoseLedger


def registered(service, record: str = "A1", **details) -> str:
    site = service.caller("site", **SITE)
    return site.post("/v1/doses", json=dose(record, person=lan(**details))).json()["person_id"]


def log(service, caller=None, **params) -> dict:
    response = (caller or service.caller("admin")).get("/v1/audit/access", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def reads(service, **params) -> list[dict]:
    return log(service, **params)["reads"]


def test_reads_by_every_role_are_logged_with_principal_person_and_client(service):
    person_id = registered(service)
    now = {"min_position": service.ledger.head()}
    site = service.caller("site", **SITE)
    site.get(f"/v1/certificates/{person_id}", params=now)
    service.caller("admin").get(f"/v1/audit/persons/{person_id}/history")
    service.caller("auditor").get(f"/v1/certificates/{person_id}", params=now)
    service.caller("province", provinces=["01"]).get("/v1/persons", params={"phone": "0912345678", **now})

    found = reads(service, person_id=person_id)
    assert [(r["role"], r["what"]) for r in found] == [
        ("site", "certificate"),
        ("admin", "audit.history"),
        ("auditor", "certificate"),
        ("province", "persons.look_up"),
    ]
    assert all(r["person_id"] == person_id and r["client"] == "testclient" for r in found)
    assert len({r["principal_id"] for r in found}) == 4
    assert [r["position"] for r in found] == sorted(r["position"] for r in found)


def test_a_read_writes_no_event_and_never_touches_the_persons_stream(service):
    person_id = registered(service)
    auditor, site = service.caller("auditor"), service.caller("site", **SITE)  # tokens are events
    head = service.ledger.head()
    version = service.ledger.person(person_id).version
    auditor.get(f"/v1/audit/persons/{person_id}/history")
    site.get(f"/v1/certificates/{person_id}", params={"min_position": head})
    assert service.ledger.head() == head
    assert service.ledger.person(person_id).version == version
    assert len(reads(service, person_id=person_id)) == 2


def test_a_phone_look_up_logs_a_row_per_person_found_and_never_the_phone(service):
    lan_id = registered(service)
    twin_id = registered(service, "B1", full_name="Lê Văn Nam", national_id="001190000002")
    official = service.caller("province", provinces=["01"])
    found = official.get("/v1/persons", params={"phone": "0912345678", "min_position": service.ledger.head()})
    assert {p["person_id"] for p in found.json()["persons"]} == {lan_id, twin_id}
    assert [r["what"] for r in reads(service, person_id=lan_id)] == ["persons.look_up"]
    assert [r["what"] for r in reads(service, person_id=twin_id)] == ["persons.look_up"]
    service.ledger.access_log.flush()
    stored = service.ledger.access_log.table().select(AccessQuery(limit=1000))
    text = repr(stored)
    for personal in (
        "Nguyễn Thị Lan",
        "Lê Văn Nam",
        "001185012345",
        "001190000002",
        "0912345678",
        "1985-03-14",
    ):
        assert personal not in text


def test_queries_by_person_or_principal_page_oldest_first(service):
    lan_id = registered(service)
    nam_id = registered(service, "B1", full_name="Lê Văn Nam", national_id="001190000002")
    first, second = service.caller("auditor"), service.caller("auditor")
    for caller, person in ((first, lan_id), (first, nam_id), (second, lan_id)):
        caller.get(f"/v1/audit/persons/{person}/explain")
    first_id = reads(service, person_id=nam_id)[0]["principal_id"]
    assert [r["person_id"] for r in reads(service, principal_id=first_id)] == [lan_id, nam_id]
    explained = [r for r in reads(service, person_id=lan_id) if r["what"] == "audit.explain"]
    assert len(explained) == 2  # the rest: this test's own reads of the log, by an admin
    assert [r["person_id"] for r in reads(service, principal_id=first_id, person_id=lan_id)] == [lan_id]

    auditor = service.caller("auditor")  # reading the log is a read: one page from a fresh caller
    page = log(service, auditor, principal_id=first_id, limit=1)
    rest = log(service, auditor, principal_id=first_id, limit=1, since_position=page["next_since_position"])
    assert [r["person_id"] for r in page["reads"] + rest["reads"]] == [lan_id, nam_id]
    assert rest["next_since_position"] is None


def test_paging_through_ones_own_reads_ends_where_the_paging_began(service):
    """Each page logs a read of the people on it, under the reader: without an end fixed at the
    first page, a reader paging through its own reads would be handed its last page's read forever."""
    person_id = registered(service)
    auditor = service.caller("auditor")
    for _ in range(2):
        auditor.get(f"/v1/audit/persons/{person_id}/explain")
    page = log(service, auditor, person_id=person_id, limit=1)
    pages = [page]
    while page["next_since_position"] is not None:
        assert len(pages) < 10, "paging never ends"
        page = log(
            service,
            auditor,
            person_id=person_id,
            limit=1,
            since_position=page["next_since_position"],
            until_position=pages[0]["until_position"],
        )
        pages.append(page)
    assert [r["what"] for p in pages for r in p["reads"]] == ["audit.explain", "audit.explain"]
    assert [r["what"] for r in reads(service, person_id=person_id)][2:] == ["access.log", "access.log"]


def test_reading_the_log_and_the_report_is_itself_logged(service):
    person_id = registered(service)
    auditor = service.caller("auditor")
    log(service, auditor, person_id=person_id)
    assert auditor.get("/v1/audit/access/report", params={"person_id": person_id}).status_code == 200
    assert [r["what"] for r in reads(service, person_id=person_id)] == ["access.log", "access.report"]
    again = [r["what"] for r in reads(service, person_id=person_id)]
    assert again == ["access.log", "access.report", "access.log"]  # the admin's query just before


def test_a_query_without_a_person_or_a_principal_names_both_fields(service):
    answer = service.caller("auditor").get("/v1/audit/access")
    assert answer.status_code == 422
    assert locs(answer) == [["query", "person_id"], ["query", "principal_id"]]
    bad = service.caller("auditor").get("/v1/audit/access", params={"person_id": "not-a-uuid"})
    assert bad.status_code == 422 and locs(bad) == [["query", "person_id"]]


def test_a_page_after_the_last_possible_position_is_empty_not_an_error(service):
    last = log(service, principal_id="anyone", since_position=2**63 - 1)
    assert last["reads"] == [] and last["next_since_position"] is None
    beyond = service.caller("admin").get(
        "/v1/audit/access", params={"principal_id": "x", "since_position": 2**63}
    )
    assert beyond.status_code == 422


def test_the_report_names_who_read_and_never_another_person(service):
    lan_id = registered(service)
    nam_id = registered(service, "B1", full_name="Lê Văn Nam", national_id="001190000002")
    official = service.caller("province", provinces=["01"])
    official.get("/v1/persons", params={"phone": "0912345678", "min_position": service.ledger.head()})
    official.get(f"/v1/certificates/{lan_id}")
    report = service.caller("admin").get("/v1/audit/access/report", params={"person_id": lan_id})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["person_id"] == lan_id
    assert [(r["role"], r["what"]) for r in body["reads"]] == [
        ("province", "persons.look_up"),
        ("province", "certificate"),
    ]
    assert [(r["role"], r["reads"]) for r in body["readers"]] == [("province", 2)]
    assert nam_id not in report.text and "client" not in report.text


def test_reads_stored_as_events_by_an_older_version_are_copied_once_and_queryable(store_url):
    old = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    person_id = old.register_person(lan()).person_id
    old.save(PersonDataRead.record("auditor-1", "auditor", [person_id], "audit.history"))
    old.close()
    for _ in range(2):  # a second process opening the store copies nothing twice
        ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
        rows, _ = ledger.access_log.find(person_id=str(person_id))
        assert [(r.principal_id, r.role, r.what) for r in rows] == [("auditor-1", "auditor", "audit.history")]
        assert rows[0].event_position is not None
        ledger.close()


def test_a_clean_close_stores_every_waiting_read_and_the_writer_stores_them_unasked(store_url):
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    ledger.access_log.flush_seconds = 3600  # the writer thread waits an hour: only close can store them
    ledger.access_log.record("p-1", "site", ["a", "b"], "certificate")
    ledger.close()
    reopened = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        assert [r.person_id for r in reopened.access_log.find(principal_id="p-1")[0]] == ["a", "b"]
        reopened.access_log.record("p-2", "site", ["c"], "certificate")
        table = reopened.access_log.table()
        deadline = time.monotonic() + 5
        while not table.select(AccessQuery(principal_id="p-2")) and time.monotonic() < deadline:
            time.sleep(0.02)  # the writer thread, every 0.1 s
        assert [r.person_id for r in table.select(AccessQuery(principal_id="p-2"))] == ["c"]
    finally:
        reopened.close()


def test_reads_are_refused_with_503_rather_than_served_unlogged_when_the_log_is_behind(service):
    person_id = registered(service)
    ledger = service.ledger
    ledger.access_log.flush()
    full = AccessLog(ledger, max_pending=1, flush_seconds=3600)
    full.record("someone", "site", ["x"], "certificate")  # one waiting: the buffer is full
    real, ledger.access_log = ledger.access_log, full
    try:
        now = {"min_position": ledger.head()}
        answer = service.caller("site", **SITE).get(f"/v1/certificates/{person_id}", params=now)
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    finally:
        ledger.access_log = real
        full.close()


def test_the_server_copies_an_older_stores_reads_as_it_starts(store_url, settings):
    old = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    person_id = old.register_person(lan()).person_id
    old.save(PersonDataRead.record("official-9", "province", [person_id], "certificate"))
    old.close()
    ledger = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    try:
        with TestClient(create_app(settings, ledger=ledger, views=object())):
            rows = ledger.access_log._table.select(AccessQuery(person_id=str(person_id)))  # no query made
        assert [(r.principal_id, r.what) for r in rows] == [("official-9", "certificate")]
    finally:
        ledger.close()
