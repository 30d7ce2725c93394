"""The lists over HTTP, on both stores: a locality's people (paged, exported, logged, scoped), the
site directory and the tokens, each walked by cursor and read back from CSV and XLSX."""

from __future__ import annotations

import base64
import csv
import io
import threading
from typing import Any

import orjson
from openpyxl import load_workbook

from api.listing import XLSX_TYPE
from ledger.values import Actor
from tests.api.conftest import Caller, dose, lan
from usecases.principals import issue_token

SYSTEM = Actor("tests", "admin")
DISTRICTS = ("Ba Đình", "Hoàn Kiếm", None)


def register(service: Any, n: int, province: str = "01", start: int = 0) -> list[str]:
    """`n` people of the province (districts in turn, one in three with a dose); their ids."""
    ids = []
    for i in range(start, start + n):
        details = lan(
            full_name=f"Người {i:04d}",
            national_id=f"0{province}1900{i:05d}",
            phone=None,
            province=province,
            district=DISTRICTS[i % 3],
        )
        if i % 3 == 0:
            site = f"{province}-TYT-001"
            person = service.ledger.record_dose(actor=SYSTEM, person=details, **dose(f"L{i}", site_id=site))
            ids.append(str(person.person_id))
        else:
            ids.append(str(service.ledger.register_person(details).person_id))
    return ids


def walk(caller: Caller, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, following each page's Link."""
    items: list[dict[str, Any]] = []
    response = caller.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body.get("items", body.get("sites", body.get("tokens")))
        if body.get("next_cursor") is None:
            assert "link" not in response.headers
            return items
        link = response.headers["link"]
        response = caller.get(link[1 : link.index(">")].replace("http://testserver", ""))


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    return [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]


def now(service: Any) -> dict[str, int]:
    return {"min_position": service.ledger.head()}


def test_a_provinces_people_walk_by_cursor_once_each_in_district_order(service):
    ids = register(service, 25)
    register(service, 2, province="79")
    auditor = service.caller("auditor")
    walked = walk(auditor, "/v1/localities/01/people", limit=4, **now(service))
    assert sorted(p["person_id"] for p in walked) == sorted(ids)
    keys = [(p["district"] or "", p["person_id"]) for p in walked]
    assert keys == sorted(keys)
    assert {p["province"] for p in walked} == {"01"}
    first = auditor.get("/v1/localities/01/people", params={"limit": 4}).json()
    assert set(first["items"][0]) == {
        "person_id",
        "full_name",
        "birth_date",
        "province",
        "district",
        "status",
    }


def test_people_added_during_a_walk_never_come_twice_nor_push_others_out(service):
    before = set(register(service, 20))
    admin = service.caller("admin")
    stop = threading.Event()
    added: list[str] = []

    def keep_adding() -> None:
        i = 1000
        while not stop.is_set() and i < 1030:
            added.extend(register(service, 1, start=i))
            i += 1

    writer = threading.Thread(target=keep_adding)
    writer.start()
    try:
        walked = walk(admin, "/v1/localities/01/people", limit=3, **now(service))
    finally:
        stop.set()
        writer.join()
    seen = [p["person_id"] for p in walked]
    assert len(seen) == len(set(seen))
    assert before <= set(seen)
    assert set(seen) <= before | set(added)


def test_a_locality_lists_cursor_holds_a_person_id_and_no_part_of_an_address(service):
    for k in range(2):
        service.ledger.register_person(lan(national_id=f"00118500990{k}", district="Phường Kim Mã 7"))
    admin = service.caller("admin")
    page = admin.get("/v1/localities/01/people", params={"limit": 1, **now(service)}).json()
    body = page["next_cursor"].split(".", 1)[1]
    decoded = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert decoded == ["locality-people", page["items"][0]["person_id"]]
    following = admin.get("/v1/localities/01/people", params={"limit": 1, "cursor": page["next_cursor"]})
    assert following.json()["items"][0]["person_id"] != page["items"][0]["person_id"]


def test_status_and_district_narrow_the_list(service):
    register(service, 9)
    admin = service.caller("admin")
    position = now(service)
    complete = walk(admin, "/v1/localities/01/people", status="partial", **position)
    none = walk(admin, "/v1/localities/01/people", status="none", **position)
    assert len(complete) == 3 and {p["status"] for p in complete} == {"partial"}
    assert len(none) == 6 and {p["status"] for p in none} == {"none"}
    in_ba_dinh = walk(admin, "/v1/localities/01/people", district="Ba Đình", **position)
    assert len(in_ba_dinh) == 3 and {p["district"] for p in in_ba_dinh} == {"Ba Đình"}


def test_exports_read_back_as_the_json_walk(service):
    register(service, 12)
    admin = service.caller("admin")
    walked = walk(admin, "/v1/localities/01/people", limit=5, **now(service))
    as_cells = [
        [p["person_id"], p["full_name"], p["birth_date"], p["province"], p["district"] or "", p["status"]]
        for p in walked
    ]
    header = ["Person id", "Full name", "Birth date", "Province", "District", "Status"]

    by_query = admin.get("/v1/localities/01/people", params={"format": "csv", "limit": 2})
    assert by_query.headers["content-type"] == "text/csv; charset=utf-8"
    name = by_query.headers["content-disposition"]
    assert name.startswith('attachment; filename="people-01-') and name.endswith('.csv"')
    assert csv_rows(by_query.content) == [header, *as_cells]

    by_accept = admin.get("/v1/localities/01/people", headers={"Accept": XLSX_TYPE})
    assert by_accept.headers["content-type"] == XLSX_TYPE
    assert xlsx_rows(by_accept.content) == [header, *as_cells]


def test_every_person_answered_is_logged_in_pages_and_in_exports(service):
    ids = register(service, 7)
    for role, scope in (("province", {"provinces": ["01"]}), ("auditor", {})):
        token, principal = issue_token(
            service.ledger, role=role, actor={"principal_id": "t", "role": "admin"}, **scope
        )
        caller = Caller(service.client, token)
        page = caller.get("/v1/localities/01/people", params={"limit": 3, **now(service)}).json()["items"]
        assert logged(service, principal) == {p["person_id"] for p in page}
        caller.get("/v1/localities/01/people", params={"format": "xlsx"})
        assert logged(service, principal) == set(ids)


def test_an_export_longer_than_the_logs_backlog_is_logged_whole(service, monkeypatch):
    ids = register(service, 12)
    monkeypatch.setattr(service.ledger.access_log, "max_pending", 5)
    monkeypatch.setattr("api.listing.EXPORT_PAGE", 4)  # three pages of 4: each more than can wait
    token, principal = issue_token(
        service.ledger, role="auditor", actor={"principal_id": "t", "role": "admin"}
    )
    response = Caller(service.client, token).get(
        "/v1/localities/01/people", params={"format": "csv", **now(service)}
    )
    assert response.status_code == 200
    assert len(csv_rows(response.content)) == 13
    assert logged(service, principal) == set(ids)


def logged(service: Any, principal: Any) -> set[str]:
    rows, _ = service.ledger.access_log.find(principal_id=str(principal.id), limit=1000)
    assert {r.what for r in rows} <= {"localities.people"}
    return {r.person_id for r in rows}


def test_a_province_token_reads_its_own_provinces_only(service):
    register(service, 2, province="79")
    register(service, 2)
    own = service.caller("province", provinces=["79"])
    assert len(walk(own, "/v1/localities/79/people", **now(service))) == 2
    for params in ({}, {"format": "csv"}):
        refused = own.get("/v1/localities/01/people", params=params)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["loc"] == ["path", "code"]
    site = service.caller("site", sites=["01-TYT-001"])
    assert site.get("/v1/localities/01/people").status_code == 403


def test_bad_code_cursor_limit_and_format_are_named(service):
    admin = service.caller("admin")
    for url, params, loc in (
        ("/v1/localities/99/people", {}, ["path", "code"]),
        ("/v1/localities/01/people", {"cursor": "v1.bm9wZQ"}, ["query", "cursor"]),
        ("/v1/localities/01/people", {"limit": 0}, ["query", "limit"]),
        ("/v1/localities/01/people", {"format": "pdf"}, ["query", "format"]),
        ("/v1/localities/01/people", {"status": "half"}, ["query", "status"]),
        ("/v1/localities/01/people", {"district": "Ba\x00Đình"}, ["query", "district"]),
    ):
        response = admin.get(url, params=params)
        assert response.status_code == 422, (url, params)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["loc"] == loc
    # A cursor of another list is refused here.
    sites_cursor = admin.get("/v1/sites", params={"limit": 1})
    service.ledger.register_site("01-TYT-002", name="Trạm 2", kind="official", province="01", actor=SYSTEM)
    service.ledger.register_site("01-TYT-003", name="Trạm 3", kind="official", province="01", actor=SYSTEM)
    cursor = admin.get("/v1/sites", params={"limit": 1, **now(service)}).json()["next_cursor"]
    assert sites_cursor.status_code == 200 and cursor
    response = admin.get("/v1/localities/01/people", params={"cursor": cursor})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["query", "cursor"]


def test_sites_answer_whole_as_before_and_page_when_asked(service):
    for i in range(7):
        province = "01" if i % 2 else "79"
        service.ledger.register_site(
            f"{province}-TYT-{i:03d}", name=f"Trạm {i}", kind="official", province=province, actor=SYSTEM
        )
    admin = service.caller("admin")
    whole = admin.get("/v1/sites", params=now(service)).json()
    assert "next_cursor" not in whole and len(whole["sites"]) == 7
    assert [s["site_id"] for s in whole["sites"]] == sorted(s["site_id"] for s in whole["sites"])
    assert walk(admin, "/v1/sites", limit=2) == whole["sites"]
    province = service.caller("province", provinces=["01"])
    assert {s["province"] for s in walk(province, "/v1/sites", limit=2)} == {"01"}
    rows = csv_rows(admin.get("/v1/sites", params={"format": "csv"}).content)
    assert rows[0] == ["Site id", "Name", "Province", "District", "Kind", "Review"]
    assert rows[1:] == [
        [s["site_id"], s["name"], s["province"], s["district"] or "", s["status"], s["review_status"]]
        for s in whole["sites"]
    ]


def test_tokens_answer_whole_as_before_and_page_when_asked(service):
    for i in range(5):
        service.token("site", sites=[f"01-TYT-{i:03d}"], name=f"Trạm {i}")
    admin = service.caller("admin")
    whole = admin.get("/v1/tokens").json()
    assert "next_cursor" not in whole and len(whole["tokens"]) == 6
    assert walk(admin, "/v1/tokens", limit=2) == whole["tokens"]
    sheet = xlsx_rows(admin.get("/v1/tokens", params={"format": "xlsx"}).content)
    assert [row[0] for row in sheet[1:]] == [t["principal_id"] for t in whole["tokens"]]
    assert [row[2] for row in sheet[1:]] == [";".join(t["sites"]) for t in whole["tokens"]]
