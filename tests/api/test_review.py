"""The review queues over HTTP, on both stores: undo a merge, resolve a flag, the duplicates (side
by side too), flags and provisional sites paged, exported, logged and scoped."""

from __future__ import annotations

import base64
import csv
import io
import typing
from typing import Any
from uuid import uuid4

import api.listing
from api.review.models import FlagKind
from ledger.flags import FLAG_KINDS
from ledger.values import Actor
from tests.api.conftest import Caller, dose, lan
from usecases.principals import issue_token

SYSTEM = Actor("tests", "admin")
MISMATCH = "dose-number-mismatch"


def now(service: Any) -> dict[str, int]:
    return {"min_position": service.ledger.head()}


def twins(service: Any, n: int, province: str = "01", start: int = 0) -> list[list[str]]:
    """`n` groups of two people with one name and birth date each (a national id apiece)."""
    groups = []
    for i in range(start, start + n):
        pair = [
            str(
                service.ledger.register_person(
                    lan(
                        full_name=f"Người {i:03d}",
                        national_id=f"0{province}18500{i:03d}{k}",
                        province=province,
                    )
                ).person_id
            )
            for k in range(2)
        ]
        groups.append(sorted(pair))
    return groups


def problem(response: Any, status: int) -> list[Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()["errors"][0]["loc"]


def test_flag_kinds_on_the_wire_are_the_ledgers():
    assert set(typing.get_args(FlagKind)) == set(FLAG_KINDS)


def test_a_merge_undone_over_http_gives_each_certificate_its_own_doses(service):
    ledger = service.ledger
    admin = service.caller("admin")
    survivor = ledger.record_dose(actor=SYSTEM, person=lan(), **dose("R1")).person_id
    duplicate = ledger.record_dose(
        actor=SYSTEM,
        person=lan(national_id="001185099999", full_name="Nguyen Thi Lan"),
        **dose("R2", administered_at="2021-08-29"),
    ).person_id
    body = {"duplicate_person_id": str(duplicate), "reason": "same person"}
    assert admin.post(f"/v1/persons/{survivor}/merge", json=body).status_code == 200
    merged = admin.get(f"/v1/certificates/{survivor}", params=now(service)).json()
    assert len(merged["doses"]) == 2

    undone = admin.post(
        f"/v1/persons/{survivor}/unmerge", json={"duplicate_person_id": str(duplicate), "reason": "twins"}
    )
    assert undone.status_code == 200, undone.text
    assert undone.json()["person_id"] == str(survivor)
    position = {"min_position": undone.json()["position"]}
    kept = admin.get(f"/v1/certificates/{survivor}", params=position).json()
    back = admin.get(f"/v1/certificates/{duplicate}", params=position).json()
    assert [d["dose_number"] for d in kept["doses"]] == [1] and kept["version"] == merged["version"] + 1
    assert kept["superseded"][-1]["reason"] == "unmerged"
    assert [d["administered_at"][:10] for d in back["doses"]] == ["2021-08-29"]
    assert back["merged_into"] is None and back["certificate_id"] is not None
    history = admin.get(f"/v1/audit/persons/{duplicate}/history").json()["events"]
    assert history[-1]["type"] == "MergeUndone" and history[-1]["data"]["reason"] == "twins"


def test_an_unmerge_that_cannot_be_is_a_problem_naming_the_field_and_stores_nothing(service):
    ledger = service.ledger
    admin = service.caller("admin")
    survivor = ledger.register_person(lan()).person_id
    duplicate = ledger.register_person(lan(national_id=None)).person_id
    other = ledger.register_person(lan(national_id=None, full_name="Trần Văn Hùng")).person_id
    ledger.merge_persons(survivor, duplicate, "same person")
    for url, body, status, loc in (
        (
            f"/v1/persons/{uuid4()}/unmerge",
            {"duplicate_person_id": str(duplicate), "reason": "x"},
            404,
            ["path", "person_id"],
        ),
        (
            f"/v1/persons/{survivor}/unmerge",
            {"duplicate_person_id": str(uuid4()), "reason": "x"},
            404,
            ["body", "duplicate_person_id"],
        ),
        (
            f"/v1/persons/{survivor}/unmerge",
            {"duplicate_person_id": str(survivor), "reason": "x"},
            422,
            ["body", "duplicate_person_id"],
        ),
        (
            f"/v1/persons/{survivor}/unmerge",
            {"duplicate_person_id": str(other), "reason": "x"},
            422,
            ["body", "duplicate_person_id"],
        ),
        (f"/v1/persons/{survivor}/unmerge", {"duplicate_person_id": str(duplicate)}, 422, ["body", "reason"]),
        (
            f"/v1/persons/{survivor}/unmerge",
            {"duplicate_person_id": str(duplicate), "reason": " "},
            422,
            ["body", "reason"],
        ),
        (
            f"/v1/persons/{survivor}/unmerge",
            {"duplicate_person_id": "nope", "reason": "x"},
            422,
            ["body", "duplicate_person_id"],
        ),
        (
            f"/v1/persons/{duplicate}/unmerge",
            {"duplicate_person_id": str(survivor), "reason": "x"},
            409,
            ["path", "person_id"],
        ),
    ):
        head = ledger.head()
        assert problem(admin.post(url, json=body), status) == loc, (url, body)
        assert ledger.head() == head
    # Unmerged once, a second unmerge names the duplicate: it is not merged any more.
    body = {"duplicate_person_id": str(duplicate), "reason": "twins"}
    assert admin.post(f"/v1/persons/{survivor}/unmerge", json=body).status_code == 200
    assert problem(admin.post(f"/v1/persons/{survivor}/unmerge", json=body), 422) == [
        "body",
        "duplicate_person_id",
    ]


def test_a_resolved_flag_leaves_the_list_with_its_reason_in_the_history(service):
    ledger = service.ledger
    admin = service.caller("admin")
    official = service.caller("province", provinces=["01"])
    flagged = ledger.record_dose(actor=SYSTEM, person=lan(), **dose("R1", dose_number=3))
    listed = official.get("/v1/review/flags", params={"kind": MISMATCH, **now(service)}).json()["flags"]
    assert [(f["dose_id"], f["reported"], f["computed"]) for f in listed] == [(str(flagged.dose_id), 3, 1)]

    for body, status, loc in (
        ({"dose_id": str(uuid4()), "kind": MISMATCH, "reason": "x"}, 404, ["body", "dose_id"]),
        ({"dose_id": str(flagged.dose_id), "kind": "odd", "reason": "x"}, 422, ["body", "kind"]),
        (
            {"dose_id": str(flagged.dose_id), "kind": "interval-too-short", "reason": "x"},
            422,
            ["body", "kind"],
        ),
        ({"dose_id": str(flagged.dose_id), "kind": MISMATCH}, 422, ["body", "reason"]),
        ({"dose_id": str(flagged.dose_id), "kind": MISMATCH, "reason": ""}, 422, ["body", "reason"]),
    ):
        head = ledger.head()
        assert problem(official.post("/v1/review/flags/resolution", json=body), status) == loc, body
        assert ledger.head() == head
    outsider = service.caller("province", provinces=["79"])
    body = {"dose_id": str(flagged.dose_id), "kind": MISMATCH, "reason": "the register says 3: a typo"}
    assert problem(outsider.post("/v1/review/flags/resolution", json=body), 403) == ["body", "dose_id"]

    resolved = official.post("/v1/review/flags/resolution", json=body)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["person_id"] == str(flagged.person_id)
    params = {"kind": MISMATCH, "min_position": resolved.json()["position"]}
    assert official.get("/v1/review/flags", params=params).json()["flags"] == []
    assert problem(official.post("/v1/review/flags/resolution", json=body), 409) == ["body", "kind"]
    event = admin.get(f"/v1/audit/persons/{flagged.person_id}/history").json()["events"][-1]
    assert event["type"] == "FlagResolved" and event["data"]["reason"] == "the register says 3: a typo"
    assert problem(official.get("/v1/review/flags", params={"kind": "odd"}), 422) == ["query", "kind"]


def test_duplicates_page_by_cursor_export_and_every_person_shown_is_logged(service):
    groups = twins(service, 5)
    token, principal = issue_token(
        service.ledger, role="auditor", actor={"principal_id": "t", "role": "admin"}
    )
    auditor = Caller(service.client, token)
    walked = walk(auditor, "/v1/review/duplicates", limit=2, **now(service))
    # By name and birth date (twins() names its groups in turn), each group's people by id.
    assert [sorted(p["person_id"] for p in g["people"]) for g in walked] == [sorted(g) for g in groups]
    assert all(g["group_id"] == g["people"][0]["person_id"] for g in walked)
    assert {g["people"][0]["full_name"] for g in walked} == {f"Người {i:03d}" for i in range(5)}
    rows, _ = service.ledger.access_log.find(principal_id=str(principal.id), limit=1000)
    assert {r.person_id for r in rows} == {p for g in groups for p in g}
    assert {r.what for r in rows} == {"review.duplicates"}

    exported = auditor.get("/v1/review/duplicates", params={"format": "csv"})
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0] == ["Group", "Birth date", "People", "Person ids", "Full names", "Provinces", "Districts"]
    assert [row[3].split(";") for row in table[1:]] == [sorted(g) for g in groups]
    assert all(row[2] == "2" and row[5] == "01;01" for row in table[1:])


def walk(caller: Caller, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, following each page's cursor (none holds a name)."""
    key = {"duplicates": "groups", "flags": "flags", "sites": "sites"}[url.rsplit("/", 1)[-1]]
    items: list[dict[str, Any]] = []
    response = caller.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        items += response.json()[key]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            assert "link" not in response.headers
            return items
        assert "Người" not in base64.urlsafe_b64decode(cursor[3:] + "===").decode()
        response = caller.get(url, params={"limit": params["limit"], "cursor": cursor})


def test_a_province_reads_its_own_groups_the_others_in_them_by_id_and_province(service):
    [[ours, theirs]] = twins(service, 1)
    service.ledger.correct_details(theirs, {"province": "79"}, "moved", actor=SYSTEM)
    [[far, away]] = twins(service, 1, province="48", start=1)  # a group of another province
    official = service.caller("province", provinces=["01"])
    [group] = official.get("/v1/review/duplicates", params=now(service)).json()["groups"]
    people = {p["person_id"]: p for p in group["people"]}
    assert people[ours]["full_name"] == "Người 000"
    assert people[theirs] == {"person_id": theirs, "province": "79"}  # no name, birth date, district
    assert far not in people and away not in people
    compared = official.get("/v1/review/duplicates/compare", params={"a": ours, "b": theirs})
    assert problem(compared, 403) == ["query", "b"]


def test_a_group_shows_its_outside_members_name_and_birth_date_so_their_read_is_logged(service):
    inside = str(service.ledger.register_person(lan(national_id="001185000001")).person_id)
    outside = str(service.ledger.register_person(lan(national_id="079185000002", province="79")).person_id)
    official = service.caller("province", provinces=["01"])
    [group] = official.get("/v1/review/duplicates", params=now(service)).json()["groups"]
    shown = {p["person_id"]: p for p in group["people"]}
    # Masked to id and province, yet the group says "this name and this birth date" of them.
    assert shown[outside] == {"person_id": outside, "province": "79"}
    assert group["birth_date"] == "1985-03-14" and shown[inside]["full_name"] == "Nguyễn Thị Lan"
    assert "review.duplicates" in reads_of(service, inside)
    assert "review.duplicates" in reads_of(service, outside)


def reads_of(service: Any, person_id: str) -> list[str]:
    log = service.caller("admin").get("/v1/audit/access", params={"person_id": person_id}).json()
    return [entry["what"] for entry in log["reads"]]


def test_a_walk_of_the_duplicates_sees_each_group_once_though_a_merge_happens_meanwhile(service):
    groups = []
    for i in range(2):
        members = [
            str(
                service.ledger.register_person(
                    lan(full_name=f"Người {i:03d}", national_id=f"00118500{i:03d}{k}")
                ).person_id
            )
            for k in range(3)
        ]
        groups.append(sorted(members))
    admin = service.caller("admin")
    first = admin.get("/v1/review/duplicates", params={"limit": 1, **now(service)})
    assert first.status_code == 200, first.text
    [listed] = first.json()["groups"]
    members = next(g for g in groups if g[0] == listed["group_id"])
    # The group's first person (the id the cursor holds) is merged into another of the group.
    merged = admin.post(
        f"/v1/persons/{members[1]}/merge", json={"duplicate_person_id": members[0], "reason": "same person"}
    )
    assert merged.status_code == 200, merged.text
    cursor = first.json()["next_cursor"]
    people: list[str] = [p["person_id"] for p in listed["people"]]
    while cursor:
        page = admin.get(
            "/v1/review/duplicates",
            params={"limit": 1, "cursor": cursor, "min_position": service.ledger.head()},
        ).json()
        people += [p["person_id"] for g in page["groups"] for p in g["people"]]
        cursor = page["next_cursor"]
    assert len(people) == len(set(people)) == 6, f"people listed twice in one walk: {people}"


def test_review_exports_are_whole_when_they_outrun_the_access_logs_writer(service, monkeypatch):
    # The writer is held back and the pages made small, so the log's backlog fills as a long
    # export fills it: the export stores the backlog itself rather than stop partway.
    log = service.ledger.access_log
    assert log._thread is None  # no read yet: the writer starts with the settings below
    monkeypatch.setattr(log, "flush_seconds", 3600.0)
    monkeypatch.setattr(log, "flush_rows", 10**6)
    monkeypatch.setattr(log, "max_pending", 5)
    monkeypatch.setattr(api.listing, "EXPORT_PAGE", 2)
    groups = twins(service, 3)
    for i, pair in enumerate(groups):  # a dose numbered wrong each: a flag apiece
        service.ledger.record_dose(actor=SYSTEM, person_id=pair[0], **dose(f"W{i}", dose_number=7))
    admin = service.caller("admin")
    duplicates = admin.get("/v1/review/duplicates", params={"format": "csv", **now(service)})
    assert duplicates.status_code == 200
    rows = list(csv.reader(io.StringIO(duplicates.content.decode("utf-8-sig"))))[1:]
    assert [row[3].split(";") for row in rows] == [sorted(g) for g in groups]
    flagged = admin.get("/v1/review/flags", params={"format": "csv", "kind": MISMATCH})
    assert flagged.status_code == 200
    rows = list(csv.reader(io.StringIO(flagged.content.decode("utf-8-sig"))))[1:]
    assert sorted(row[0] for row in rows) == sorted(g[0] for g in groups)
    log.flush()
    found, _ = log.find(limit=1000)
    assert {r.person_id for r in found if r.what == "review.duplicates"} == {p for g in groups for p in g}
    assert {r.person_id for r in found if r.what == "review.flags"} == {g[0] for g in groups}


def test_two_records_side_by_side(service):
    ledger = service.ledger
    [[a, b]] = twins(service, 1)
    ledger.record_dose(actor=SYSTEM, person_id=a, **dose("R1", dose_number=2))
    voided = ledger.record_dose(actor=SYSTEM, person_id=b, **dose("R2", administered_at="2021-09-01"))
    ledger.void_dose(voided.dose_id, "entered twice", actor=SYSTEM)
    admin = service.caller("admin")
    compared = admin.get("/v1/review/duplicates/compare", params={"a": a, "b": b, **now(service)})
    assert compared.status_code == 200, compared.text
    first, second = compared.json()["people"]
    assert (first["person_id"], second["person_id"]) == (a, b)
    assert first["national_id"] == ledger.person(a).details["national_id"] and first["status"] == "partial"
    assert [(d["dose_number"], d["reported_dose_number"]) for d in first["doses"]] == [(1, 2)]
    assert [f["kind"] for f in first["flags"]] == [MISMATCH]
    assert second["status"] == "none" and [(d["voided"], d["dose_number"]) for d in second["doses"]] == [
        (True, None)
    ]
    rows, _ = ledger.access_log.find(limit=1000)
    assert {(r.person_id, r.what) for r in rows} >= {(a, "review.compare"), (b, "review.compare")}
    assert problem(admin.get("/v1/review/duplicates/compare", params={"a": a, "b": str(uuid4())}), 404) == [
        "query",
        "b",
    ]
    assert problem(admin.get("/v1/review/duplicates/compare", params={"a": a, "b": a}), 422) == ["query", "b"]
    assert problem(admin.get("/v1/review/duplicates/compare", params={"a": a}), 422) == ["query", "b"]


def test_provisional_sites_to_review_page_and_export(service):
    ledger = service.ledger
    for i in range(5):
        ledger.record_dose(
            actor=SYSTEM,
            person=lan(national_id=None, full_name=f"Người {i}"),
            **dose(f"S{i}", site_id=f"01-NEW-{i}"),
        )
    ledger.register_site("01-TYT-009", name="Trạm 9", kind="official", province="01", actor=SYSTEM)
    ledger.review_site("01-NEW-0", "approved", kind="mobile", name="Đội lưu động", actor=SYSTEM)
    official = service.caller("province", provinces=["01"])
    pending = walk(official, "/v1/review/sites", limit=2, **now(service))
    assert [s["site_id"] for s in pending] == [f"01-NEW-{i}" for i in range(1, 5)]
    assert {(s["status"], s["review_status"]) for s in pending} == {("provisional", "pending")}
    exported = official.get("/v1/review/sites", params={"format": "csv"})
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [row[0] for row in table[1:]] == [s["site_id"] for s in pending]
    assert walk(service.caller("province", provinces=["79"]), "/v1/review/sites", limit=2) == []
    assert problem(official.get("/v1/review/sites", params={"status": "odd"}), 422) == ["query", "status"]


def test_flags_page_by_cursor_and_export_every_one_once(service):
    ledger = service.ledger
    expected = set()
    for i in range(3):
        person = ledger.register_person(lan(national_id=None, full_name=f"Người {i}")).person_id
        for n, day in enumerate(("2021-08-01", "2021-08-05")):  # a wrong number each, the second too soon
            given = ledger.record_dose(
                actor=SYSTEM, person_id=person, **dose(f"F{i}-{n}", administered_at=day, dose_number=7)
            )
            expected.add((str(person), str(given.dose_id), MISMATCH))
            if n:
                expected.add((str(person), str(given.dose_id), "interval-too-short"))
    auditor = service.caller("auditor")
    walked = walk(auditor, "/v1/review/flags", limit=2, **now(service))
    keys = [(f["person_id"], f["dose_id"], f["kind"]) for f in walked]
    assert keys == sorted(expected) and len(keys) == 9
    exported = auditor.get("/v1/review/flags", headers={"Accept": "text/csv"})
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [(row[0], row[2], row[3]) for row in table[1:]] == keys
    assert {row[4] for row in table[1:] if row[3] == MISMATCH} == {"7"}
    rows, _ = ledger.access_log.find(limit=1000)
    assert {r.person_id for r in rows if r.what == "review.flags"} == {k[0] for k in keys}


def test_a_province_official_merges_and_unmerges_people_of_its_provinces(service):
    ledger = service.ledger
    official = service.caller("province", provinces=["01", "79"])
    survivor = ledger.record_dose(actor=SYSTEM, person=lan(), **dose("P1")).person_id
    duplicate = ledger.record_dose(
        actor=SYSTEM,
        person=lan(national_id=None, province="79"),
        **dose("P2", administered_at="2021-08-29"),
    ).person_id
    body = {"duplicate_person_id": str(duplicate), "reason": "same person"}
    merged = official.post(f"/v1/persons/{survivor}/merge", json=body)
    assert merged.status_code == 200, merged.text
    assert len(ledger.person(survivor).doses) == 2 and ledger.person(duplicate).merged_into == survivor

    undone = official.post(
        f"/v1/persons/{survivor}/unmerge", json={"duplicate_person_id": str(duplicate), "reason": "twins"}
    )
    assert undone.status_code == 200, undone.text
    assert ledger.person(duplicate).merged_into is None
    assert [d["administered_at"][:10] for d in ledger.person(duplicate).doses.values()] == ["2021-08-29"]
    assert len(ledger.person(survivor).doses) == 1
    history = service.caller("admin").get(f"/v1/audit/persons/{duplicate}/history").json()["events"]
    assert history[-1]["type"] == "MergeUndone" and history[-1]["actor"]["role"] == "province"


def test_a_province_official_may_not_merge_or_unmerge_someone_outside_its_provinces(service):
    ledger = service.ledger
    official = service.caller("province", provinces=["01"])
    ours = ledger.register_person(lan()).person_id
    theirs = ledger.register_person(lan(national_id=None, province="79")).person_id
    # Merged by an admin: a survivor of 01 with a duplicate of 79, and one of 79 with one of 01.
    kept, gone = ledger.register_person(lan(national_id=None)).person_id, theirs_gone(ledger)
    ledger.merge_persons(kept, gone, "same person")
    kept_79, gone_01 = theirs_gone(ledger), ledger.register_person(lan(national_id=None)).person_id
    ledger.merge_persons(kept_79, gone_01, "same person")
    for url, duplicate, loc in (
        (f"/v1/persons/{ours}/merge", theirs, ["body", "duplicate_person_id"]),
        (f"/v1/persons/{theirs}/merge", ours, ["path", "person_id"]),
        (f"/v1/persons/{kept}/unmerge", gone, ["body", "duplicate_person_id"]),
        (f"/v1/persons/{kept_79}/unmerge", gone_01, ["path", "person_id"]),
    ):
        head = ledger.head()
        body = {"duplicate_person_id": str(duplicate), "reason": "same person"}
        refused = official.post(url, json=body)
        assert problem(refused, 403) == loc, url
        assert "'79'" in refused.json()["detail"]
        assert ledger.head() == head
    assert ledger.person(theirs).merged_into is None and ledger.person(ours).merged_into is None
    assert ledger.person(gone).merged_into == kept and ledger.person(gone_01).merged_into == kept_79


def theirs_gone(ledger: Any) -> Any:
    """A fresh person of province 79 (no national id: any number of them)."""
    return ledger.register_person(lan(national_id=None, province="79")).person_id
