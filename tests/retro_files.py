"""Spreadsheet files as units send them, written for the retro-import tests."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from eventsourcing.utils import get_topic

from intake.retro import Form
from intake.retro.columns import COLUMNS
from ledger.person import Person
from ledger.values import Actor
from usecases.application import DoseLedger

HEADERS = [c.header for c in COLUMNS]
UNIT = Actor("unit-hn-ba-dinh", "site")
FORM = Form(
    unit="TTYT Quận Ba Đình", attested_by="BS. Lê Văn Tám", document_ref="CV 123/TTYT", site_id="HN-BD-01"
)


def row(record: str | None = "R1", **overrides: Any) -> dict[str, Any]:
    """One template row (by field name), a valid dose unless overridden."""
    values: dict[str, Any] = {
        "site_record_id": record,
        "full_name": "Nguyễn Thị Lan",
        "birth_date": "14/03/1985",
        "sex": "Nữ",
        "national_id": "001185012345",
        "phone": "0912345678",
        "province": "01",
        "district": "Ba Đình",
        "vaccine": "AstraZeneca",
        "lot": "A1234",
        "administered_at": "01/07/2021",
        "dose_number": "1",
        "site_id": "",
    }
    values.update(overrides)
    return values


def people_rows(n: int, *, start: int = 0, record: bool = True) -> list[dict[str, Any]]:
    """n different people, one dose each."""
    return [
        row(
            f"R{k}" if record else None,
            full_name=f"Trần Văn Khách {k}",
            national_id=f"0011900{k:05d}",
            phone=f"09{k:08d}",
        )
        for k in range(start, start + n)
    ]


def as_cells(rows: list[dict[str, Any]], headers: list[str] | None = None) -> list[list[Any]]:
    fields = [c.field for c in COLUMNS]
    return [headers or HEADERS] + [[r.get(f) if r.get(f) is not None else "" for f in fields] for r in rows]


def csv_bytes(
    rows: list[dict[str, Any]] | list[list[Any]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    headers: list[str] | None = None,
) -> bytes:
    cells = rows if rows and isinstance(rows[0], list) else as_cells(rows, headers)
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(cells)
    return buffer.getvalue().encode(encoding)


def write_csv(path: Path, rows: list[dict[str, Any]] | list[list[Any]], **options: Any) -> Path:
    path.write_bytes(csv_bytes(rows, **options))
    return path


def write_xlsx(
    path: Path, rows: list[dict[str, Any]] | list[list[Any]], *, headers: list[str] | None = None
) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for cells in rows if rows and isinstance(rows[0], list) else as_cells(rows, headers):
        sheet.append(cells)
    book.save(path)
    return path


def stored_doses(ledger: DoseLedger) -> list[Any]:
    """Every DoseRecorded event in the store."""
    topic = get_topic(Person.DoseRecorded)
    notifications = ledger.recorder.select_notifications(start=None, limit=1_000_000, topics=[topic])
    return [ledger.mapper.to_domain_event(n) for n in notifications]
