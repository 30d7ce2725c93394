"""The blank template a unit fills in: CSV (UTF-8 with BOM, so Excel shows Vietnamese) or XLSX
(identity columns stored as text so Excel keeps leading zeros, date columns as dd/mm/yyyy, a
Nam/Nữ/Khác list, and a guide sheet)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from intake.retro.columns import COLUMNS

TEXT_FIELDS = ("site_record_id", "national_id", "phone", "province", "site_id", "lot")
DATE_FIELDS = ("birth_date", "administered_at")


def template_csv() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([c.header for c in COLUMNS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = "Danh sách mũi tiêm"
    sheet.append([c.header for c in COLUMNS])
    sheet.freeze_panes = "A2"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for i, column in enumerate(COLUMNS, start=1):
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
        if column.field == "sex":
            choice = DataValidation(type="list", formula1='"Nam,Nữ,Khác"', allow_blank=True)
            sheet.add_data_validation(choice)
            choice.add(f"{letter}2:{letter}100000")
    guide = book.create_sheet("Hướng dẫn")
    guide.append(["Cột", "Trường", "Cách ghi"])
    for column in COLUMNS:
        guide.append([column.header, column.field, column.hint])
    for cell in guide[1]:
        cell.font = bold
    guide.column_dimensions["A"].width = 18
    guide.column_dimensions["B"].width = 18
    guide.column_dimensions["C"].width = 80
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_template(path: str | Path) -> Path:
    """The template in the form the file name asks for (.xlsx, else CSV)."""
    path = Path(path)
    path.write_bytes(template_xlsx() if path.suffix.lower() == ".xlsx" else template_csv())
    return path
