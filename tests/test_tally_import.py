"""Sites' daily tallies through the retro import: a file of `site_id, day, vaccine, doses` rows,
told from a file of doses by its header, each row a vaccine's count of a site's day, traced to
its import and row; sent again it records nothing; a bad row is named by row and column while
the good ones land; a dry run stores nothing. Then the backlog is the tallies less the doses."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.utils import get_topic

from intake.retro import Form, ImportJobs, import_status, intake, run_import
from intake.retro.tally_rows import TALLY_COLUMNS
from intake.retro.template import tally_template_csv, tally_template_xlsx
from ledger.site import Site
from ledger.values import Actor
from projections import open_views
from projections.running import start_embedded
from tests.retro_files import write_csv, write_xlsx

ADMIN = Actor("tests", "admin")
UNIT = Actor("unit-hn", "site")
HEADER = [c.header for c in TALLY_COLUMNS]  # Mã cơ sở tiêm, Ngày, Tên vắc xin, Số liều, Mã tỉnh
FORM = Form(unit="TTYT Quận Ba Đình", attested_by="BS. Lê Văn Tám", document_ref="CV 7/TTYT")
PFIZER, MODERNA, ASTRA = "EU/1/20/1528", "EU/1/20/1507", "EU/1/21/1529"
SITES = {"01-TYT-001": ("01", "Ba Đình"), "01-TYT-002": ("01", "Tây Hồ"), "79-TYT-001": ("79", "Quận 1")}


def directory(ledger: Any) -> None:
    for site, (province, district) in SITES.items():
        ledger.register_site(
            site, name=f"Trạm {site}", kind="official", province=province, district=district, actor=ADMIN
        )


def tally_file(path: Path, rows: list[list[Any]], header: list[str] = HEADER) -> Path:
    return write_csv(path, [header, *rows])


def reported(ledger: Any) -> list[Any]:
    """Every TallyReported event in the store."""
    found = ledger.recorder.select_notifications(
        start=None, limit=100_000, topics=[get_topic(Site.TallyReported)]
    )
    return [ledger.mapper.to_domain_event(n) for n in found]


def imported(ledger: Any, path: Path, form: Form = FORM, actor: Actor = ADMIN, **options: Any) -> Any:
    return run_import(ledger, path, form, actor=actor, **options)


def test_a_tally_file_lands_each_row_with_its_import_and_row_and_again_records_nothing(ledger, tmp_path):
    directory(ledger)
    path = tally_file(
        tmp_path / "so-lieu.csv",
        [
            ["01-TYT-001", "01/08/2021", "Pfizer", "12", ""],
            ["01-TYT-001", "01/08/2021", "Moderna", "3", ""],
            ["01-TYT-001", "2021-08-02", "Comirnaty", "7", ""],
            ["79-TYT-001", "01/08/2021", "AstraZeneca", "0", ""],
        ],
    )
    first = imported(
        ledger, path, chunk_rows=3
    )  # a day's two vaccines fall in one chunk, a third in the next
    assert (first.kind, first.status, first.counts.as_dict(), first.errors) == (
        "tallies",
        "completed",
        {"rows": 4, "created": 4, "duplicate": 0, "conflict": 0, "rejected": 0},
        [],
    )
    days = {t["day"]: t for t in ledger.site_tallies("01-TYT-001")}
    assert days["2021-08-01"]["counts"] == {PFIZER: 12, MODERNA: 3}  # both rows: one vaccine each
    assert days["2021-08-02"]["counts"] == {PFIZER: 7}
    assert ledger.site_tallies("79-TYT-001")[0]["counts"] == {ASTRA: 0}
    events = reported(ledger)
    assert sorted(e.source["row"] for e in events) == [2, 3, 4, 5]
    assert {(e.source["kind"], e.source["import_id"]) for e in events} == {
        ("retro_import", str(first.import_id))
    }

    head = ledger.head()
    again = imported(ledger, path, chunk_rows=3)
    assert (again.counts.created, again.counts.duplicate, again.counts.rejected) == (0, 4, 0)
    # The second sending wrote its own import stream and nothing else.
    assert ledger.head() - head == len(list(ledger.events.get(again.import_id)))
    assert len(reported(ledger)) == 4


def test_an_imported_count_replaces_that_vaccines_count_only_and_is_kept_in_the_history(ledger, tmp_path):
    directory(ledger)
    ledger.report_tallies(
        "01-TYT-001", [{"day": "2021-08-01", "counts": {PFIZER: 5, MODERNA: 2}}], actor=ADMIN
    )
    result = imported(
        ledger, tally_file(tmp_path / "t.csv", [["01-TYT-001", "01/08/2021", "Pfizer", "9", ""]])
    )
    assert result.counts.created == 1
    (day,) = ledger.site_tallies("01-TYT-001")
    assert day["counts"] == {PFIZER: 9, MODERNA: 2}
    assert [r["counts"] for r in day["reports"]] == [{PFIZER: 5, MODERNA: 2}, {PFIZER: 9, MODERNA: 2}]


def test_a_tally_file_imported_again_after_a_correction_of_its_day_records_nothing(ledger, tmp_path):
    directory(ledger)
    path = tally_file(
        tmp_path / "so-lieu.csv",
        [
            ["01-TYT-001", "01/08/2021", "Pfizer", "100", ""],
            ["01-TYT-001", "01/08/2021", "Moderna", "50", ""],
        ],
    )
    assert imported(ledger, path).counts.created == 2
    ledger.report_tallies(
        "01-TYT-001", [{"day": "2021-08-01", "counts": {PFIZER: 120, MODERNA: 60}}], actor=ADMIN
    )
    head = ledger.head()
    again = imported(ledger, path)  # the old file, sent again after the site's correction
    assert (again.counts.created, again.counts.duplicate, again.counts.rejected) == (0, 2, 0)
    assert ledger.head() - head == len(list(ledger.events.get(again.import_id)))
    (day,) = ledger.site_tallies("01-TYT-001")
    assert (day["counts"], day["doses"]) == ({PFIZER: 120, MODERNA: 60}, 180)


def test_bad_rows_are_named_by_row_and_column_while_the_good_rows_land(ledger, tmp_path):
    directory(ledger)
    future = (date.today() + timedelta(days=3)).strftime("%d/%m/%Y")
    path = tally_file(
        tmp_path / "t.csv",
        [
            ["01-TYT-001", "01/08/2021", "Pfizer", "4", ""],  # 2: good
            ["01-TYT-001", "31/02/2021", "Pfizer", "4", ""],  # 3: no such day
            ["01-TYT-001", "02/08/2021", "Snake Oil", "4", ""],  # 4: not in the catalog
            ["01-TYT-001", "03/08/2021", "Pfizer", "-4", ""],  # 5: negative
            ["01-TYT-001", "04/08/2021", "Pfizer", "two", ""],  # 6: not a number
            ["01-TYT-001", future, "Pfizer", "1", ""],  # 7: in the future
            ["01-TYT-001", "01/08/2021", "Comirnaty", "5", ""],  # 8: Pfizer on that day again
            ["48-MOBILE-9", "01/08/2021", "Pfizer", "6", ""],  # 9: not in the directory, no province
            ["48-MOBILE-7", "01/08/2021", "Pfizer", "6", "48"],  # 10: listed provisional in 48
            ["", "01/08/2021", "Pfizer", "6", ""],  # 11: no site (none on the form)
            ["79-TYT-001", "05/08/2021", "Moderna", "2", ""],  # 12: good
        ],
    )
    before = ledger.head()
    result = imported(ledger, path)
    assert (result.counts.rows, result.counts.created, result.counts.rejected) == (11, 3, 8)
    assert [(e["row"], e["column"]) for e in result.errors] == [
        (3, "Ngày"),
        (4, "Tên vắc xin"),
        (5, "Số liều"),
        (6, "Số liều"),
        (7, "Ngày"),
        (8, "Tên vắc xin"),
        (9, "Mã tỉnh"),
        (11, "Mã cơ sở tiêm"),
    ]
    messages = {e["row"]: e["msg"] for e in result.errors}
    assert "row 2" in messages[8] and "future" in messages[7] and "province" in messages[9]
    assert {e["value"] for e in result.errors if e["row"] in (5, 6)} == {"-4", "two"}
    assert sorted(e.source["row"] for e in reported(ledger)) == [2, 10, 12]
    site = ledger.site("48-MOBILE-7")
    assert (site.kind, site.province) == ("provisional", "48")
    assert ledger.site("48-MOBILE-9") is None
    assert ledger.head() > before
    status = import_status(ledger, result.import_id)
    assert (status["created"], status["rejected"], status["error_count"]) == (3, 8, 8)


def test_a_dry_run_checks_every_row_and_stores_nothing(ledger, tmp_path):
    directory(ledger)
    path = tally_file(
        tmp_path / "t.csv",
        [["01-TYT-001", "01/08/2021", "Pfizer", "4", ""], ["02-NEW-1", "01/08/2021", "Pfizer", "1", "02"]],
    )
    before = ledger.head()
    result = imported(ledger, path, dry_run=True)
    assert (result.dry_run, result.kind, result.counts.created, result.counts.rejected) == (
        True,
        "tallies",
        2,
        0,
    )
    assert ledger.head() == before and reported(ledger) == []
    assert ledger.site("02-NEW-1") is None


def test_the_forms_site_fills_rows_naming_none_and_a_site_unit_imports_only_its_own(ledger, tmp_path):
    directory(ledger)
    path = tally_file(
        tmp_path / "t.csv",
        [["", "01/08/2021", "Pfizer", "4"], ["79-TYT-001", "01/08/2021", "Pfizer", "2"]],
        header=["site_id", "day", "vaccine", "doses"],  # the English names are read too
    )
    form = Form(FORM.unit, FORM.attested_by, site_id="01-TYT-001", allowed_sites=frozenset({"01-TYT-001"}))
    result = imported(ledger, path, form, actor=UNIT)
    assert (result.counts.created, result.counts.rejected) == (1, 1)
    assert (result.errors[0]["row"], result.errors[0]["column"]) == (3, "site_id")
    assert ledger.site_tallies("01-TYT-001")[0]["counts"] == {PFIZER: 4}


def test_an_xlsx_tally_file_with_date_cells_goes_in_the_same_way(ledger, tmp_path):
    directory(ledger)
    path = write_xlsx(
        tmp_path / "t.xlsx",
        [
            HEADER,
            ["01-TYT-002", date(2021, 8, 1), "Vero Cell", 8, None],
            ["01-TYT-002", date(2021, 8, 1), "Pfizer", 2.0, None],
        ],
    )
    result = imported(ledger, path)
    assert (result.kind, result.counts.created, result.errors) == ("tallies", 2, [])
    assert sum(ledger.site_tallies("01-TYT-002")[0]["counts"].values()) == 10


def test_the_tally_templates_are_read_back_as_tally_files(ledger, tmp_path):
    header = next(csv.reader(io.StringIO(tally_template_csv().decode("utf-8-sig"))))
    assert header == HEADER
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(tally_template_xlsx()))
    assert [c.value for c in book.worksheets[0][1]] == HEADER
    directory(ledger)
    template = tmp_path / "mau.xlsx"
    template.write_bytes(tally_template_xlsx())
    empty = imported(ledger, template)
    assert (empty.kind, empty.counts.rows) == ("tallies", 0)
    data, media, name = intake.template("csv", tallies=True)
    assert (data, media.split(";")[0], name.endswith(".csv")) == (tally_template_csv(), "text/csv", True)


def test_a_large_tally_file_runs_in_the_background_to_completion(ledger, tmp_path):
    directory(ledger)
    rows = [
        ["01-TYT-001", (date(2021, 8, 1) + timedelta(days=k)).isoformat(), "Pfizer", str(k)]
        for k in range(40)
    ]
    path = tally_file(tmp_path / "big.csv", rows, header=["site_id", "day", "vaccine", "doses"])
    jobs = ImportJobs(ledger, tmp_path / "imports")
    answer = intake.submit(ledger, path, FORM, ADMIN, background_bytes=10, jobs=jobs)
    assert answer["status"] == "running"
    deadline = time.monotonic() + 30
    while (status := intake.status(ledger, answer["import_id"], ADMIN))["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (status["status"], status["created"], status["rejected"]) == ("completed", 40, 0)
    assert len(ledger.site_tallies("01-TYT-001")) == 40


def test_the_cli_writes_the_tally_template_and_imports_a_tally_file(cli, ledger, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("import", "--template", "mau.csv", "--tallies")
    assert code == 0 and "Tally template" in err
    assert (tmp_path / "mau.csv").read_bytes() == tally_template_csv()
    directory(ledger)
    path = tally_file(tmp_path / "t.csv", [["01-TYT-001", "01/08/2021", "Pfizer", "4", ""]])
    code, out, _ = cli("import", str(path), "--unit", "U", "--attested-by", "A")
    assert code == 0, out
    assert "daily tallies" in out
    assert ledger.site_tallies("01-TYT-001")[0]["counts"] == {PFIZER: 4}
    code, out, _ = cli("import", str(path), "--unit", "U", "--attested-by", "A", "--dry-run")
    assert code == 0 and "Dry run of daily tallies" in out


def test_a_campaigns_imported_tallies_less_its_recorded_doses_is_the_backlog(ledger, store_url, tmp_path):
    """A campaign of three sites over six days, two vaccines a day, its tallies imported as one
    file in small chunks; a known part of its doses recorded. The backlog per site, province
    and in all is the tallies less the doses, counted here from the plan."""
    directory(ledger)
    first = date(2021, 8, 1)
    plan: dict[tuple[str, str, str], int] = {}  # (site, day, vaccine) → doses given
    recorded: Counter[tuple[str, str]] = Counter()  # (site, day) → doses entered
    rows = []
    for s, site in enumerate(SITES):
        for k in range(6):
            day = first + timedelta(days=k)
            for v, (name, code) in enumerate((("Pfizer", PFIZER), ("Moderna", MODERNA))):
                given = 2 + (s + k + v) % 3
                plan[(site, day.isoformat(), code)] = given
                rows.append([site, day.strftime("%d/%m/%Y"), name, str(given), ""])
    path = tally_file(tmp_path / "campaign.csv", rows)
    result = imported(ledger, path, chunk_rows=5)
    assert (result.counts.created, result.counts.rejected) == (len(rows), 0)

    n = 0
    entered = []
    for (site, day, code), given in sorted(plan.items()):
        for _ in range((given + 1) // 2):  # about half of each count entered
            n += 1
            entered.append(
                {
                    "site_id": site,
                    "site_record_id": f"R{n}",
                    "vaccine": code,
                    "administered_at": day,
                    "person": {
                        "full_name": f"Người Tiêm {n}",
                        "birth_date": "1980-05-17",
                        "sex": "female",
                        "national_id": f"0011800{n:05d}",
                        "phone": None,
                        "province": SITES[site][0],
                        "district": SITES[site][1],
                        "address": None,
                    },
                }
            )
            recorded[(site, day)] += 1
    outcomes = ledger.record_doses(entered, actor=ADMIN)
    assert {o.status for o in outcomes} == {"created"}

    tallied: Counter[tuple[str, str]] = Counter()
    for (site, day, _), given in plan.items():
        tallied[(site, day)] += given
    expected_site = Counter({site: 0 for site in SITES})
    expected_province: Counter[str] = Counter()
    for key, total in tallied.items():
        gap = max(total - recorded[key], 0)
        expected_site[key[0]] += gap
        expected_province[SITES[key[0]][0]] += gap

    projector = start_embedded(store_url, names=["backlog"])
    views = open_views(store_url, ledger=ledger)
    try:
        deadline = time.monotonic() + 60
        while (views.backlog.position() or 0) < ledger.head():
            assert time.monotonic() < deadline, views.status()
            time.sleep(0.05)
        assert {r["site_id"]: r["backlog"] for r in views.backlog.by_site()} == dict(expected_site)
        assert {r["province"]: r["backlog"] for r in views.backlog.by_province()} == dict(expected_province)
        total = views.backlog.total()
        assert (total["tallied"], total["recorded"], total["backlog"]) == (
            sum(plan.values()),
            len(entered),
            sum(expected_site.values()),
        )
        assert total["backlog"] > 0
    finally:
        projector.stop()
