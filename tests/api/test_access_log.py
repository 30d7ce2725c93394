"""The access log: every read of a person's record by an auditor or a province official is an
event in the store (never in the person's stream), and admins can query it."""

from __future__ import annotations

from datetime import datetime, timedelta

from ledger.access import TOPIC
from ledger.rules import ICT
from tests.api.conftest import dose, lan
from tests.api.test_doses import SITE, locs


def registered(service, record: str = "A1", **details) -> str:
    site = service.caller("site", **SITE)
    return site.post("/v1/doses", json=dose(record, person=lan(**details))).json()["person_id"]


def log(service, **params) -> list[dict]:
    response = service.caller("admin").get("/v1/audit/access-log", params=params)
    assert response.status_code == 200, response.text
    return response.json()["reads"]


def test_reads_by_an_auditor_and_a_province_official_are_recorded_and_others_are_not(service):
    person_id = registered(service)
    now = {"min_position": service.ledger.head()}
    auditor, official = service.caller("auditor"), service.caller("province", provinces=["01"])
    service.caller("site", **SITE).get(f"/v1/certificates/{person_id}", params=now)
    service.caller("admin").get(f"/v1/audit/persons/{person_id}/history")
    auditor.get(f"/v1/audit/persons/{person_id}/history")
    auditor.get(f"/v1/certificates/{person_id}", params=now)
    official.get(f"/v1/certificates/{person_id}", params=now)
    official.get("/v1/persons", params={"phone": "0912345678", **now})

    reads = log(service, person_id=person_id)
    assert [(r["role"], r["what"]) for r in reads] == [
        ("auditor", "audit.history"),
        ("auditor", "certificate"),
        ("province", "certificate"),
        ("province", "persons.look_up"),
    ]
    assert all(r["person_ids"] == [person_id] for r in reads)
    assert len({r["principal_id"] for r in reads}) == 2


def test_a_read_never_touches_the_persons_own_stream(service):
    person_id = registered(service)
    version = service.ledger.person(person_id).version
    service.caller("auditor").get(f"/v1/audit/persons/{person_id}/history")
    assert service.ledger.person(person_id).version == version
    assert len(log(service, person_id=person_id)) == 1


def test_an_admin_finds_reads_by_principal_person_and_time_page_by_page(service):
    lan_id = registered(service)
    nam_id = registered(service, "B1", full_name="Lê Văn Nam", national_id="001190000002")
    first, second = service.caller("auditor"), service.caller("auditor")
    for caller, person in ((first, lan_id), (first, nam_id), (second, lan_id)):
        caller.get(f"/v1/audit/persons/{person}/explain")
    everyone = log(service)
    first_id = everyone[0]["principal_id"]
    today = datetime.now(ICT).date()
    assert [r["person_ids"] for r in log(service, principal=first_id)] == [[lan_id], [nam_id]]
    assert len(log(service, person_id=lan_id)) == 2
    assert len(log(service, **{"from": today.isoformat(), "to": today.isoformat()})) == 3
    assert log(service, to=(today - timedelta(days=1)).isoformat()) == []
    assert log(service, **{"from": (datetime.now(ICT) + timedelta(minutes=5)).isoformat()}) == []

    page = service.caller("admin").get("/v1/audit/access-log", params={"limit": 2}).json()
    rest = (
        service.caller("admin")
        .get("/v1/audit/access-log", params={"limit": 2, "after": page["next_after"]})
        .json()
    )
    assert page["reads"] + rest["reads"] == everyone and rest["next_after"] is None


def test_a_page_after_the_last_possible_position_is_empty_not_an_error(service):
    # Found by the OpenAPI fuzz: `after` at the 64-bit limit overflowed SQLite's integer.
    answer = service.caller("admin").get("/v1/audit/access-log", params={"after": 2**63 - 1})
    assert answer.status_code == 200
    assert answer.json() == {"reads": [], "next_after": None}


def test_a_bad_time_or_a_reversed_range_names_the_query_field(service):
    admin = service.caller("admin")
    not_a_time = admin.get("/v1/audit/access-log", params={"from": "monday"})
    a_version = admin.get("/v1/audit/access-log", params={"to": "12"})
    reversed_range = admin.get("/v1/audit/access-log", params={"from": "2021-09-02", "to": "2021-09-01"})
    assert [r.status_code for r in (not_a_time, a_version, reversed_range)] == [422] * 3
    assert locs(not_a_time) == locs(reversed_range) == [["query", "from"]]
    assert locs(a_version) == [["query", "to"]]


def test_the_log_holds_ids_only_never_a_name_a_national_id_or_a_phone(service):
    person_id = registered(service)
    official = service.caller("province", provinces=["01"])
    official.get("/v1/persons", params={"phone": "0912345678", "min_position": service.ledger.head()})
    official.get(f"/v1/certificates/{person_id}")
    stored = service.ledger.recorder.select_notifications(start=1, limit=1000, topics=[TOPIC])
    assert len(stored) == 2
    details = lan()
    for notification in stored:
        state = bytes(notification.state).decode()
        for personal in (details["full_name"], details["national_id"], details["phone"]):
            assert personal not in state
