"""A unit's file, however Excel saved it, reads as the same doses; every bad value is named."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

import pytest

from intake.retro import TemplateMismatch, UnreadableFile, run_import, template_csv, template_xlsx
from intake.retro.columns import COLUMNS
from tests.retro_files import FORM, UNIT, as_cells, people_rows, row, stored_doses, write_csv, write_xlsx


def imported(ledger, path, form=FORM, **options):
    return run_import(ledger, path, form, actor=UNIT, **options)


def errors_by_row(result):
    return {(e["row"], e["column"]): e for e in result.errors}


@pytest.mark.parametrize("how", ["utf-8", "utf-8-bom", "utf-16-tab", "semicolon", "xlsx"])
def test_the_same_rows_saved_any_way_excel_saves_them_are_the_same_doses(ledger, tmp_path, how):
    rows = people_rows(3) + [row("R9", full_name="Đặng Thị Ánh Tuyết", national_id="", phone="")]
    path = tmp_path / "f"
    if how == "xlsx":
        write_xlsx(path, rows)
    elif how == "utf-8-bom":
        write_csv(path, rows, encoding="utf-8-sig")
    elif how == "utf-16-tab":  # Excel's "Unicode Text"
        write_csv(path, rows, encoding="utf-16", delimiter="\t")
    else:
        write_csv(path, rows, delimiter=";" if how == "semicolon" else ",")
    result = imported(ledger, path)
    assert (result.counts.rows, result.counts.created, result.counts.rejected) == (4, 4, 0), result.errors
    names = sorted(ledger.person(e.originator_id).details["full_name"] for e in stored_doses(ledger))
    assert names == ["Trần Văn Khách 0", "Trần Văn Khách 1", "Trần Văn Khách 2", "Đặng Thị Ánh Tuyết"]
    # The same rows as CSV after XLSX (or the other way): nothing new.
    again = imported(ledger, write_csv(tmp_path / "again.csv", rows))
    assert (again.counts.created, again.counts.duplicate) == (0, 4)


def test_the_template_round_trips_in_both_forms(ledger, tmp_path):
    assert template_csv().decode("utf-8-sig").strip() == ",".join(c.header for c in COLUMNS)
    blank = tmp_path / "template.xlsx"
    blank.write_bytes(template_xlsx())
    from openpyxl import load_workbook

    book = load_workbook(blank)
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]] == [c.header for c in COLUMNS]
    assert book.sheetnames[1] == "Hướng dẫn"
    # A unit fills the template in Excel: dates become date cells, ids stay text.
    for n, values in enumerate(
        as_cells([row("R1"), row("R2", administered_at="01/08/2021", dose_number="2")])[1:], start=2
    ):
        for i, value in enumerate(values, start=1):
            sheet.cell(row=n, column=i, value=value)
    sheet["C2"] = sheet["C3"] = date(1985, 3, 14)
    sheet["K2"], sheet["K3"] = datetime(2021, 7, 1), datetime(2021, 8, 1, 9, 30)
    book.save(blank)
    result = imported(ledger, blank)
    assert result.counts.created == 2, result.errors
    doses = sorted(e.administered_at for e in stored_doses(ledger))
    assert doses == ["2021-07-01", "2021-08-01T09:30:00+07:00"]


def test_english_column_names_and_columns_in_any_order_are_read(ledger, tmp_path):
    r = row("E1")
    fields = list(reversed([c.field for c in COLUMNS]))
    path = write_csv(tmp_path / "en.csv", [fields, [r[f] for f in fields]])
    result = imported(ledger, path)
    assert result.counts.created == 1, result.errors


def test_a_title_above_the_header_and_blank_rows_are_skipped_and_rows_keep_their_numbers(ledger, tmp_path):
    cells = as_cells([row("T1"), row("T2", vaccine="Snake Oil")])
    sheet = [["DANH SÁCH TIÊM CHỦNG BỔ SUNG"], [], cells[0], cells[1], [""] * 13, cells[2]]
    result = imported(ledger, write_xlsx(tmp_path / "titled.xlsx", sheet))
    assert (result.counts.rows, result.counts.created, result.counts.rejected) == (2, 1, 1)
    assert [(e["row"], e["column"]) for e in result.errors] == [(6, "Tên vắc xin")]


def test_dates_are_read_day_first_and_never_month_first(ledger, tmp_path):
    rows = [
        row("D1", administered_at="5/7/21", birth_date="14/3/85"),
        row("D2", administered_at="2021-08-05", birth_date="1985-03-14"),
        row("D3", administered_at="05.09.2021"),
        row("D4", administered_at="08/14/2021"),  # month first: refused, never guessed
        row("D5", administered_at="31/02/2021"),
        row("D6", administered_at="next week"),
    ]
    result = imported(ledger, write_csv(tmp_path / "dates.csv", rows))
    assert sorted(e.administered_at for e in stored_doses(ledger)) == [
        "2021-07-05",
        "2021-08-05",
        "2021-09-05",
    ]
    assert {ledger.person(e.originator_id).details["birth_date"] for e in stored_doses(ledger)} == {
        "1985-03-14"
    }
    bad = errors_by_row(result)
    assert "day comes first" in bad[(5, "Ngày tiêm")]["msg"]
    assert "not a calendar date" in bad[(6, "Ngày tiêm")]["msg"]
    assert "dd/mm/yyyy" in bad[(7, "Ngày tiêm")]["msg"]


def test_names_are_stored_composed_with_spaces_folded_and_sex_read_in_vietnamese(ledger, tmp_path):
    decomposed = unicodedata.normalize("NFD", "  Phạm   Thị  Hồng ")
    rows = [
        row("N1", full_name=decomposed, national_id="", sex="Nữ"),
        row("N2", full_name="Lê Văn Nam", national_id="", sex="nam"),
        row("N3", full_name="Vi Khác", national_id="", sex="Khác", phone="0911111111"),
    ]
    result = imported(ledger, write_csv(tmp_path / "names.csv", rows))
    assert result.counts.created == 3, result.errors
    people = {
        ledger.person(e.originator_id).details["full_name"]: ledger.person(e.originator_id).details["sex"]
        for e in stored_doses(ledger)
    }
    assert people == {"Phạm Thị Hồng": "female", "Lê Văn Nam": "male", "Vi Khác": "other"}
    assert unicodedata.is_normalized("NFC", next(iter(people)))


def test_every_kind_of_bad_value_is_named_by_row_and_column_and_good_rows_still_go_in(ledger, tmp_path):
    bad = {
        "Họ và tên": ("=cmd|' /C calc'!A0", "formula"),
        "Ngày sinh": ("30/02/1990", "not a calendar date"),
        "Giới tính": ("F", "Nam, Nữ or Khác"),
        "Số CCCD": ("12345", "9 (CMND) or 12 (CCCD) digits"),
        "Số điện thoại": ("12-34", "phone number"),
        "Mã tỉnh": ("99", "province code"),
        "Tên vắc xin": ("Snake Oil", "unknown vaccine"),
        "Ngày tiêm": ("01/01/2019", "before 2020-07-01"),
        "Mũi số": ("two", "whole number"),
        "Số lô": ('=HYPERLINK("http://x")', "formula"),
        "Quận/Huyện": ("x" * 101, "at most 100 characters"),
        "Mã bản ghi": ("@SUM(1+1)", None),  # not a formula to the ledger: kept as the record id
    }
    field_of = {c.header: c.field for c in COLUMNS}
    rows = [row("G1")]
    for n, (header, (value, _)) in enumerate(bad.items()):
        rows.append(row(f"B{n}", **{field_of[header]: value}))
    rows += [
        row("G2", administered_at="01/08/2021"),
        row("F1", administered_at="01/01/2099"),  # in the future
        row("F2", birth_date="01/09/2021", national_id="", full_name="Bé Mới Sinh"),  # dose before birth
        row("F3", full_name="", vaccine=""),
    ]  # required values missing
    result = imported(ledger, write_csv(tmp_path / "bad.csv", rows))
    errors = errors_by_row(result)
    for n, (header, (value, reason)) in enumerate(bad.items()):
        if reason is None:
            continue
        found = errors[(n + 3, header)]
        assert found["value"] == value and reason in found["msg"], (header, found)
    assert "in the future" in errors[(len(bad) + 4, "Ngày tiêm")]["msg"]
    assert "before the person's birth date" in errors[(len(bad) + 5, "Ngày tiêm")]["msg"]
    assert errors[(len(bad) + 6, "Họ và tên")]["msg"] == "is required"
    assert errors[(len(bad) + 6, "Tên vắc xin")]["msg"] == "is required"
    assert result.counts.created == 3  # G1, G2 and the odd but valid record id
    assert result.counts.rejected == len(bad) - 1 + 3
    assert len(stored_doses(ledger)) == 3


def test_a_formula_cell_in_xlsx_is_read_as_its_text_and_never_evaluated(ledger, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for cells in as_cells([row("X1"), row("X2")]):
        sheet.append(cells)
    sheet["B2"] = '=CONCATENATE("Nguyễn"," ","Lan")'
    sheet["K3"] = "=DATE(2021,8,1)"
    path = tmp_path / "formula.xlsx"
    book.save(path)
    result = imported(ledger, path)
    assert result.counts.rejected == 2 and result.counts.created == 0
    assert {(e["row"], e["column"]) for e in result.errors} == {(2, "Họ và tên"), (3, "Ngày tiêm")}
    assert all("formula" in e["msg"] for e in result.errors)


def test_excel_number_cells_keep_their_leading_zeros_and_serial_dates_are_dates(ledger, tmp_path):
    r = row("Z1")
    cells = as_cells([r])
    fields = [c.field for c in COLUMNS]
    values = cells[1]
    values[fields.index("national_id")] = 1185012345  # was 001185012345 before Excel
    values[fields.index("phone")] = 912345678  # was 0912345678
    values[fields.index("province")] = 1
    values[fields.index("dose_number")] = 1.0
    values[fields.index("administered_at")] = 44378  # Excel's serial for 2021-07-01
    result = imported(ledger, write_xlsx(tmp_path / "numbers.xlsx", cells))
    assert result.counts.created == 1, result.errors
    [dose] = stored_doses(ledger)
    details = ledger.person(dose.originator_id).details
    assert (details["national_id"], details["phone"], details["province"]) == (
        "001185012345",
        "0912345678",
        "01",
    )
    assert (dose.administered_at, dose.reported_dose_number) == ("2021-07-01", 1)


def test_bytes_that_are_not_utf8_spoil_only_their_own_row(ledger, tmp_path):
    path = write_csv(tmp_path / "mixed.csv", [row("U1"), row("U2", full_name="Lan")])
    data = path.read_bytes().replace(b",Lan,", b",L\xe2n,")  # a cp1258 byte in row 3
    path.write_bytes(data)
    result = imported(ledger, path)
    assert (result.counts.created, result.counts.rejected) == (1, 1)
    assert result.errors[0]["row"] == 3 and "CSV UTF-8" in result.errors[0]["msg"]


def test_a_file_without_the_needed_columns_is_refused_before_anything_is_stored(ledger, tmp_path):
    headers = [c.header for c in COLUMNS if c.field not in ("vaccine", "site_id")]
    path = write_csv(tmp_path / "short.csv", [headers, ["x"] * len(headers)])
    with pytest.raises(TemplateMismatch, match="Tên vắc xin"):
        imported(ledger, path)
    no_site = FORM.__class__(FORM.unit, FORM.attested_by)
    with pytest.raises(TemplateMismatch, match="site on the form"):
        imported(
            ledger,
            write_csv(
                tmp_path / "nosite.csv",
                [row()],
                headers=[h if h != "Mã cơ sở tiêm" else "Ghi chú" for h in [c.header for c in COLUMNS]],
            ),
            form=no_site,
        )
    with pytest.raises(TemplateMismatch, match="no header row"):
        imported(ledger, write_csv(tmp_path / "junk.csv", [["a", "b"], ["1", "2"]]))
    old_xls = tmp_path / "old.xls"
    old_xls.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    with pytest.raises(UnreadableFile, match="xlsx"):
        imported(ledger, old_xls)
    assert ledger.head() == 0
