"""Statistics broken down by district, age band and sex, over HTTP on both stores: doses where and
at what age they were given, coverage per district and age band today, pages and files of them."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from openpyxl import load_workbook

from ledger.values import Actor
from tests.api.conftest import dose, lan

SYSTEM = Actor("tests", "admin")
RECENT = (date.today() - timedelta(days=30)).isoformat()
CHILD_BORN = (date.today() - timedelta(days=5 * 365)).isoformat()  # 0-11 at the dose and today


def seed(service: Any) -> dict[str, str]:
    """Three people, four doses, at a site with a district, a mobile one without, and an
    unlisted one. Returns the people's ids by letter."""
    ledger = service.ledger
    ledger.register_site(
        "01-TYT-001", name="Trạm Ba Đình", kind="official", province="01", district="Ba Đình", actor=SYSTEM
    )
    ledger.register_site("01-MOB-001", name="Đội lưu động", kind="mobile", province="01", actor=SYSTEM)
    a = lan(national_id="001303000001", birth_date="2003-09-01", district="Hoàn Kiếm", sex="female")
    b = lan(national_id="079150000002", birth_date="1950-01-01", province="79", district="Quận 3", sex="male")
    c = lan(national_id="001215000003", birth_date=CHILD_BORN, district=None, sex=None)
    pa = ledger.record_dose(actor=SYSTEM, person=a, **dose("A1", administered_at="2021-08-01")).person_id
    ledger.record_dose(
        actor=SYSTEM, person_id=pa, **dose("A2", site_id="01-MOB-001", administered_at="2021-09-15")
    )
    pb = ledger.record_dose(actor=SYSTEM, person=b, **dose("B1", administered_at="2021-08-01")).person_id
    pc = ledger.record_dose(
        actor=SYSTEM, person=c, **dose("C1", site_id="01-NEW-9", administered_at=RECENT)
    ).person_id
    return {"a": str(pa), "b": str(pb), "c": str(pc)}


def now(service: Any) -> dict[str, int]:
    return {"min_position": service.ledger.head()}


def test_doses_count_by_the_sites_district_the_age_on_the_day_and_sex(service):
    seed(service)
    reporter = service.caller("reporter")
    body = reporter.get(
        "/v1/stats/doses", params={"group_by": "district,age_band,sex", **now(service)}
    ).json()
    assert body["total"] == 4
    assert body["rows"] == [
        # A district-less site of the person's province: the person's district (none here).
        {"province": "01", "district": None, "age_band": "0-11", "sex": None, "doses": 1},
        # 17 on 2021-08-01, at a site in Ba Đình whatever the person's district.
        {"province": "01", "district": "Ba Đình", "age_band": "12-17", "sex": "female", "doses": 1},
        # From province 79, vaccinated in Hà Nội: counted where the dose was given.
        {"province": "01", "district": "Ba Đình", "age_band": "65+", "sex": "male", "doses": 1},
        # 18 by 2021-09-15, at a mobile site with no district: the person's.
        {"province": "01", "district": "Hoàn Kiếm", "age_band": "18-49", "sex": "female", "doses": 1},
    ]
    by_day = reporter.get("/v1/stats/doses", params={"group_by": "date,vaccine,dose_number"}).json()
    assert [r["date"] for r in by_day["rows"]] == sorted(r["date"] for r in by_day["rows"])
    assert sum(r["doses"] for r in by_day["rows"]) == 4


def test_coverage_by_district_and_age_band_today(service):
    seed(service)
    body = (
        service.caller("province", provinces=["01", "79"])
        .get("/v1/stats/coverage", params={"group_by": "district,age_band", **now(service)})
        .json()
    )
    assert body == {
        "rows": [
            {"province": "01", "district": None, "age_band": "0-11", "status": "partial", "people": 1},
            {
                "province": "01",
                "district": "Hoàn Kiếm",
                "age_band": "18-49",
                "status": "complete",
                "people": 1,
            },
            {"province": "79", "district": "Quận 3", "age_band": "65+", "status": "partial", "people": 1},
        ],
        "total": 3,
    }
    by_district = service.caller("reporter").get("/v1/stats/coverage", params={"group_by": "district"}).json()
    assert [(r["district"], r["people"]) for r in by_district["rows"]] == [
        (None, 1),
        ("Hoàn Kiếm", 1),
        ("Quận 3", 1),
    ]


def test_a_province_token_counts_its_own_provinces(service):
    seed(service)
    own = service.caller("province", provinces=["79"])
    doses = own.get("/v1/stats/doses", params={"group_by": "district", **now(service)}).json()
    assert doses == {"rows": [], "total": 0}  # its person's dose was given in Hà Nội
    coverage = own.get("/v1/stats/coverage", params={"group_by": "age_band"}).json()
    assert coverage["rows"] == [{"province": "79", "age_band": "65+", "status": "partial", "people": 1}]
    refused = own.get(
        "/v1/stats/coverage", params={"group_by": "age_band", "province": "01", "format": "csv"}
    )
    assert refused.status_code == 403


def test_an_erased_persons_doses_move_to_the_unknown_band_and_stay_counted(service):
    people = seed(service)
    service.ledger.erase_person(people["a"], "asked", actor=SYSTEM)
    reporter = service.caller("reporter")
    body = reporter.get("/v1/stats/doses", params={"group_by": "age_band", **now(service)}).json()
    assert body["total"] == 4
    assert {r["age_band"]: r["doses"] for r in body["rows"]} == {"0-11": 1, "65+": 1, "unknown": 2}
    coverage = reporter.get("/v1/stats/coverage", params={"group_by": "district,age_band"}).json()
    assert {
        "province": "01",
        "district": "Hoàn Kiếm",
        "age_band": "unknown",
        "status": "complete",
        "people": 1,
    } in (coverage["rows"])


def test_pages_and_files_of_counts_hold_every_row_once(service):
    seed(service)
    reporter = service.caller("reporter")
    params = {"group_by": "date,district,age_band", **now(service)}
    whole = reporter.get("/v1/stats/doses", params=params).json()
    walked, cursor = [], None
    while True:
        page = reporter.get(
            "/v1/stats/doses", params={**params, "limit": 1, **({"cursor": cursor} if cursor else {})}
        ).json()
        assert page["total"] == whole["total"]
        walked += page["rows"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == whole["rows"] and len(walked) == 4

    header = ["Date", "Province", "District", "Age band", "Doses"]
    cells = [
        [r["date"], r["province"], r["district"] or "", r["age_band"], r["doses"]] for r in whole["rows"]
    ]
    as_csv = reporter.get("/v1/stats/doses", params={**params, "format": "csv"})
    assert as_csv.headers["content-disposition"].startswith('attachment; filename="dose-counts-')
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows == [header, *[[str(c) for c in row] for row in cells]]
    as_xlsx = reporter.get("/v1/stats/doses", params=params, headers={"Accept": "text/csv;q=0.5, " + XLSX})
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    assert [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)] == [
        header,
        *cells,
    ]

    coverage = reporter.get("/v1/stats/coverage", params={"group_by": "district", "format": "csv"})
    assert list(csv.reader(io.StringIO(coverage.content.decode("utf-8-sig"))))[0] == [
        "Province",
        "District",
        "Status",
        "People",
    ]


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_bad_groups_cursors_and_formats_are_named(service):
    reporter = service.caller("reporter")
    for url, params, loc in (
        ("/v1/stats/coverage", {"group_by": "sex"}, ["query", "group_by"]),
        ("/v1/stats/doses", {"group_by": "age"}, ["query", "group_by"]),
        (
            "/v1/stats/doses",
            {"group_by": "dose_number", "cursor": "v1.WyJkb3NlLWNvdW50cyIsIjEiXQ"},
            ["query", "cursor"],
        ),
        ("/v1/stats/doses", {"limit": 100_000}, ["query", "limit"]),
        ("/v1/stats/coverage", {"format": "ods"}, ["query", "format"]),
    ):
        response = reporter.get(url, params=params)
        assert response.status_code == 422, (url, params, response.text)
        assert response.json()["errors"][0]["loc"] == loc
