"""The blank templates a unit fills in: CSV (UTF-8 with BOM, so Excel shows Vietnamese) or XLSX
(identity columns stored as text so Excel keeps leading zeros, date columns as dd/mm/yyyy, a
Nam/Nữ/Khác list, and a guide sheet). One for doses; one for sites' daily tallies (a row per
site, day and vaccine: intake.retro.tally_rows)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from intake.retro.columns import COLUMNS
from intake.retro.tally_rows import TALLY_COLUMNS

TEXT_FIELDS = ("site_record_id", "national_id", "phone", "province", "site_id", "lot")
DATE_FIELDS = ("birth_date", "administered_at", "day")


# What a column's cells accept in the XLSX, beyond its number format (Excel checks as one types).
VALIDATIONS = {
    "sex": {"type": "list", "formula1": '"Nam,Nữ,Khác"'},
    "doses": {"type": "whole", "operator": "greaterThanOrEqual", "formula1": "0"},
}


def template_csv() -> bytes:
    return _csv(COLUMNS)


def tally_template_csv() -> bytes:
    return _csv(TALLY_COLUMNS)


def template_xlsx() -> bytes:
    return _xlsx(COLUMNS, "Danh sách mũi tiêm")


def tally_template_xlsx() -> bytes:
    return _xlsx(TALLY_COLUMNS, "Số liều theo ngày")


def _csv(columns: Sequence[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([c.header for c in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _xlsx(columns: Sequence[Any], title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append([c.header for c in columns])
    sheet.freeze_panes = "A2"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for i, column in enumerate(columns, start=1):
        letter = get_column_letter(i)
        cell = sheet.cell(row=1, column=i)
        cell.font, cell.fill = bold, fill
        sheet.column_dimensions[letter].width = max(14, len(column.header) + 4)
        # Formats for the rows a unit will type (the first thousands; Excel extends them).
        number_format = (
            "@" if column.field in TEXT_FIELDS else "dd/mm/yyyy" if column.field in DATE_FIELDS else None
        )
        if number_format:
            for row in range(2, 2002):
                sheet.cell(row=row, column=i).number_format = number_format
        if column.field in VALIDATIONS:
            validation = DataValidation(allow_blank=True, **VALIDATIONS[column.field])
            sheet.add_data_validation(validation)
            validation.add(f"{letter}2:{letter}100000")
    guide = book.create_sheet("Hướng dẫn")
    guide.append(["Cột", "Trường", "Cách ghi"])
    for column in columns:
        guide.append([column.header, column.field, column.hint])
    for cell in guide[1]:
        cell.font = bold
    guide.column_dimensions["A"].width = 18
    guide.column_dimensions["B"].width = 18
    guide.column_dimensions["C"].width = 80
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_template(path: str | Path, *, tallies: bool = False) -> Path:
    """The template (of doses, or of tallies) in the form the file name asks for (.xlsx, else CSV)."""
    path = Path(path)
    xlsx = path.suffix.lower() == ".xlsx"
    if tallies:
        path.write_bytes(tally_template_xlsx() if xlsx else tally_template_csv())
    else:
        path.write_bytes(template_xlsx() if xlsx else template_csv())
    return path
