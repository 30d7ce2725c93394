"""Sites' tallies over HTTP (JSON and CSV), read back, and the backlog statistics."""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager

import pytest
from openpyxl import load_workbook

from ledger.values import Actor
from tests.api.conftest import dose, lan

SYSTEM = Actor("tests", "admin")
HERE, THERE = "01-TYT-001", "79-TYT-001"
PFIZER = "EU/1/20/1528"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def directory(ledger) -> None:
    ledger.register_site(
        HERE, name="Trạm Y tế Ba Đình", kind="official", province="01", district="Ba Đình", actor=SYSTEM
    )
    ledger.register_site(
        THERE, name="Trạm Y tế Quận 1", kind="official", province="79", district="Quận 1", actor=SYSTEM
    )


def test_a_site_posts_its_tallies_as_json_retries_safely_and_reads_them_back(service):
    directory(service.ledger)
    site = service.caller("site", sites=[HERE])
    sent = [{"day": "2021-08-01", "counts": {PFIZER: 3}}, {"day": "2021-08-02", "counts": {"Comirnaty": 2}}]
    first = site.post(f"/v1/sites/{HERE}/tallies", json=sent)
    assert first.status_code == 201, first.text
    assert [t["recorded"] for t in first.json()["tallies"]] == [True, True]
    retry = site.post(f"/v1/sites/{HERE}/tallies", json=sent)
    assert retry.status_code == 200 and [t["recorded"] for t in retry.json()["tallies"]] == [False, False]
    assert retry.json()["position"] == first.json()["position"]  # nothing written

    service.ledger.record_dose(
        actor=SYSTEM, person=lan(national_id=None), **dose("R1", administered_at="2021-08-01")
    )
    read = site.get(f"/v1/sites/{HERE}/tallies", params={"min_position": service.ledger.head()})
    assert read.status_code == 200, read.text
    days = {t["day"]: t for t in read.json()["tallies"]}
    assert (days["2021-08-01"]["doses"], days["2021-08-01"]["recorded"], days["2021-08-01"]["backlog"]) == (
        3,
        1,
        2,
    )
    assert (days["2021-08-02"]["counts"], days["2021-08-02"]["backlog"]) == ({PFIZER: 2}, 2)

    other = site.post(f"/v1/sites/{THERE}/tallies", json=sent[0])
    assert other.status_code == 403
    assert service.caller("province", provinces=["79"]).get(f"/v1/sites/{HERE}/tallies").status_code == 403


def test_a_bad_tally_in_a_list_is_refused_naming_it_and_nothing_is_stored(service):
    directory(service.ledger)
    site = service.caller("site", sites=[HERE])
    head = service.ledger.head()
    refused = site.post(
        f"/v1/sites/{HERE}/tallies",
        json=[{"day": "2021-08-01", "counts": {PFIZER: 3}}, {"day": "2021-08-02", "counts": {PFIZER: -2}}],
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"][0]["loc"] == ["body", 1, "counts", PFIZER]
    assert service.ledger.head() == head


def test_a_tally_sheet_is_taken_whole_or_refused_naming_the_row_and_column(service):
    directory(service.ledger)
    site = service.caller("site", sites=[HERE])
    sheet = "day,vaccine,doses\n2021-08-01,Comirnaty,3\n2021-08-01,Spikevax,1\n2021-08-02,Comirnaty,2\n"
    taken = site.post(
        f"/v1/sites/{HERE}/tallies", content=sheet.encode(), headers={"Content-Type": "text/csv"}
    )
    assert taken.status_code == 201, taken.text
    assert [t["day"] for t in taken.json()["tallies"]] == ["2021-08-01", "2021-08-02"]
    assert service.ledger.site_tallies(HERE)[0]["counts"] == {PFIZER: 3, "EU/1/20/1507": 1}

    head = service.ledger.head()
    for bad, column in (
        ("day,vaccine,doses\n2021-08-03,Comirnaty,3\n2021-08-04,Sputnik Z,1\n", "vaccine"),
        ("day,vaccine,doses\n2021-08-03,Comirnaty,3\n2021-08-04,Comirnaty,two\n", "doses"),
        ("day,vaccine,doses\n2021-08-03,Comirnaty,3\n04/08/2021,Comirnaty,1\n", "day"),
    ):
        refused = site.post(
            f"/v1/sites/{HERE}/tallies", content=bad.encode(), headers={"Content-Type": "text/csv"}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["loc"] == ["body", "row", 3, column]
    assert service.ledger.head() == head


def test_a_tally_sheet_uploaded_again_after_its_correction_records_nothing(service):
    directory(service.ledger)
    site = service.caller("site", sites=[HERE])
    csv_body = {"Content-Type": "text/csv"}
    sheet = "day,vaccine,doses\n2021-08-01,Comirnaty,100\n"
    corrected = "day,vaccine,doses\n2021-08-01,Comirnaty,120\n"
    assert site.post(f"/v1/sites/{HERE}/tallies", content=sheet.encode(), headers=csv_body).status_code == 201
    fixed = site.post(f"/v1/sites/{HERE}/tallies", content=corrected.encode(), headers=csv_body)
    assert fixed.status_code == 201, fixed.text
    again = site.post(
        f"/v1/sites/{HERE}/tallies", content=sheet.encode(), headers=csv_body
    )  # a late re-upload
    assert again.status_code == 200, again.text
    assert again.json()["tallies"] == [{"day": "2021-08-01", "recorded": False}]
    assert again.json()["position"] == fixed.json()["position"]
    read = site.get(f"/v1/sites/{HERE}/tallies", params={"min_position": service.ledger.head()}).json()
    (day,) = read["tallies"]
    assert (day["doses"], day["tallied"], day["backlog"]) == (120, 120, 120)


@pytest.mark.parametrize(
    "asked", [{"group_by": "province"}, {"group_by": "site", "limit": 5}, {"group_by": "age"}]
)
def test_the_backlog_rows_and_total_of_one_answer_are_one_state_while_the_projector_writes(
    service, monkeypatch, asked
):
    directory(service.ledger)
    ledger = service.ledger
    ledger.report_tallies(HERE, [{"day": "2021-08-01", "counts": {PFIZER: 4}}], actor=SYSTEM)
    ledger.report_tallies(THERE, [{"day": "2021-08-01", "counts": {PFIZER: 2}}], actor=SYSTEM)
    views = service.app.state.views
    assert views.wait(ledger.head(), timeout=30)
    view = views.backlog
    reading = view.reading
    retallied = []

    @contextmanager
    def read_then_retally():
        # The projector commits a re-tally right after the answer's first read of the view:
        # any second read of the same answer would see it.
        with reading() as sql:
            yield sql
        if not retallied:
            retallied.append(
                ledger.report_tallies(HERE, [{"day": "2021-08-01", "counts": {PFIZER: 40}}], actor=SYSTEM)
            )
            assert views.wait(ledger.head(), timeout=30)

    monkeypatch.setattr(view, "reading", read_then_retally)
    body = service.caller("reporter").get("/v1/stats/backlog", params=asked).json()
    assert retallied  # the view did change during the answer
    rows = body["rows"]
    for figure in ("tallied", "backlog", "days"):
        assert sum(r[figure] for r in rows) == body["total"][figure], (figure, body)
    assert body["total"]["tallied"] in (6, 42)


def test_the_backlog_statistics_group_by_site_district_province_and_age_within_a_province_token(service):
    directory(service.ledger)
    ledger = service.ledger
    ledger.report_tallies(HERE, [{"day": "2021-08-01", "counts": {PFIZER: 4}}], actor=SYSTEM)
    ledger.report_tallies(THERE, [{"day": "2021-08-01", "counts": {PFIZER: 2}}], actor=SYSTEM)
    ledger.record_dose(actor=SYSTEM, person=lan(national_id=None), **dose("R1", administered_at="2021-08-01"))
    wait = {"min_position": ledger.head()}
    reporter = service.caller("reporter")
    by_province = reporter.get("/v1/stats/backlog", params={"group_by": "province", **wait}).json()
    assert [(r["province"], r["backlog"]) for r in by_province["rows"]] == [("01", 3), ("79", 2)]
    assert by_province["total"]["backlog"] == 5 and by_province["total"]["tallied"] == 6
    by_district = reporter.get("/v1/stats/backlog", params={"group_by": "district", **wait}).json()
    assert [(r["district"], r["backlog"]) for r in by_district["rows"]] == [("Ba Đình", 3), ("Quận 1", 2)]
    ages = reporter.get("/v1/stats/backlog", params={"group_by": "age", **wait}).json()
    assert [(r["age"], r["backlog"]) for r in ages["rows"]] == [
        ("0-7", 0),
        ("8-30", 0),
        ("31-90", 0),
        (">90", 5),
    ]

    province = service.caller("province", provinces=["01"])
    own = province.get("/v1/stats/backlog", params={"group_by": "site", **wait}).json()
    assert [(r["site_id"], r["recorded"], r["backlog"], r["difference"]) for r in own["rows"]] == [
        (HERE, 1, 3, 3)
    ]
    assert province.get("/v1/stats/backlog", params={"province": "79"}).status_code == 403
    bad = reporter.get("/v1/stats/backlog", params={"group_by": "vaccine"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"][-1] == "group_by"


def test_the_backlog_pages_by_cursor_and_exports_every_group_as_csv_and_xlsx(service):
    ledger = service.ledger
    sites = [f"01-TYT-{n:03d}" for n in range(5)]
    for n, site in enumerate(sites):
        ledger.register_site(
            site, name=f"Trạm {n}", kind="official", province="01", district=f"Quận {n % 2}", actor=SYSTEM
        )
        ledger.report_tallies(site, [{"day": "2021-08-01", "counts": {PFIZER: n + 1}}], actor=SYSTEM)
    reporter = service.caller("reporter")
    wait = {"min_position": ledger.head(), "group_by": "site"}
    whole = reporter.get("/v1/stats/backlog", params=wait).json()
    assert [r["site_id"] for r in whole["rows"]] == sites and whole["total"]["backlog"] == 15

    seen, cursor, pages = [], None, 0
    while True:
        params = {**wait, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = reporter.get("/v1/stats/backlog", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert (body["group_by"], body["total"]) == ("site", whole["total"])  # the total is every group's
        seen += body["rows"]
        pages += 1
        cursor = body["next_cursor"]
        assert ("link" in page.headers) == (cursor is not None)
        if cursor is None:
            break
    assert (seen, pages) == (whole["rows"], 3)

    other = reporter.get("/v1/stats/backlog", params={"group_by": "province", "cursor": cursor or "v1.x"})
    assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["query", "cursor"]
    first = reporter.get("/v1/stats/backlog", params={**wait, "limit": 1}).json()["next_cursor"]
    crossed = reporter.get("/v1/stats/backlog", params={"group_by": "province", "cursor": first})
    assert crossed.status_code == 422  # a site list's cursor is not a province list's

    exported = reporter.get("/v1/stats/backlog", params={**wait, "format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert lines[0][:2] == ["Site", "Name"] and [line[0] for line in lines[1:]] == sites
    assert [int(line[lines[0].index("Backlog")]) for line in lines[1:]] == [1, 2, 3, 4, 5]
    book = reporter.get(
        "/v1/stats/backlog",
        params={"group_by": "district", "min_position": ledger.head()},
        headers={"Accept": XLSX},
    )
    assert book.status_code == 200 and book.headers["content-type"] == XLSX
    sheet = load_workbook(io.BytesIO(book.content)).worksheets[0]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][:2] == ["Province", "District"]
    assert [(r[1], r[cells[0].index("Backlog")]) for r in cells[1:]] == [("Quận 0", 9), ("Quận 1", 6)]
    ages = reporter.get("/v1/stats/backlog", params={"group_by": "age", "limit": 3}).json()
    assert [r["age"] for r in ages["rows"]] == ["0-7", "8-30", "31-90"] and ages["next_cursor"]
    rest = reporter.get("/v1/stats/backlog", params={"group_by": "age", "cursor": ages["next_cursor"]}).json()
    assert ([r["age"] for r in rest["rows"]], rest["next_cursor"]) == ([">90"], None)


def test_a_sites_tallies_page_by_day_and_export_as_csv_and_xlsx(service):
    directory(service.ledger)
    ledger = service.ledger
    days = [f"2021-08-0{d}" for d in range(1, 6)]
    ledger.report_tallies(
        HERE, [{"day": d, "counts": {PFIZER: 2, "Spikevax": 1}} for d in days], actor=SYSTEM
    )
    ledger.record_dose(actor=SYSTEM, person=lan(national_id=None), **dose("R1", administered_at="2021-08-02"))
    site = service.caller("site", sites=[HERE])
    wait = {"min_position": ledger.head()}
    whole = site.get(f"/v1/sites/{HERE}/tallies", params=wait).json()
    assert whole["site_id"] == HERE and [t["day"] for t in whole["tallies"]] == days

    seen, cursor = [], None
    while True:
        body = site.get(
            f"/v1/sites/{HERE}/tallies", params={**wait, "limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        assert body["site_id"] == HERE
        seen += body["tallies"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == whole["tallies"]
    assert [(t["tallied"], t["recorded"], t["backlog"]) for t in seen[:2]] == [(3, 0, 3), (3, 1, 2)]

    exported = site.get(f"/v1/sites/{HERE}/tallies", params={**wait, "format": "csv"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"].startswith(f'attachment; filename="tallies-{HERE}-')
    lines = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert lines[0] == [
        "Day",
        "Doses tallied",
        "Doses by vaccine",
        "Counted from",
        "Tallied (backlog view)",
        "Recorded",
        "Backlog",
        "Reports",
    ]
    assert lines[2] == ["2021-08-02", "3", f"EU/1/20/1507=1; {PFIZER}=2", "tally_sheet", "3", "1", "2", "1"]
    book = site.get(f"/v1/sites/{HERE}/tallies", params={**wait, "format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(book.content)).worksheets[0].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == days
    assert site.get(f"/v1/sites/{HERE}/tallies", params={"cursor": "v1.nope"}).status_code == 422
