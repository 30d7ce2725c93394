"""The template's columns: each field's Vietnamese header, the English name accepted too."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.names import match_key


@dataclass(frozen=True)
class Column:
    field: str
    header: str  # as the template writes it
    hint: str  # what to type, for the template's guide


# In the template's order. Headers match ignoring case, spacing, punctuation and diacritics,
# so "Ngay sinh" and "NGÀY SINH" are both Ngày sinh.
COLUMNS = (
    Column("site_record_id", "Mã bản ghi", "your own id for the row (recommended: makes re-sending safe)"),
    Column("full_name", "Họ và tên", "Nguyễn Thị Lan"),
    Column("birth_date", "Ngày sinh", "dd/mm/yyyy, e.g. 14/03/1985"),
    Column("sex", "Giới tính", "Nam / Nữ / Khác"),
    Column("national_id", "Số CCCD", "12 digits (CCCD) or 9 (CMND); leave empty if none"),
    Column("phone", "Số điện thoại", "0912345678"),
    Column("province", "Mã tỉnh", "2-digit province code, e.g. 01 (or the province's name)"),
    Column("district", "Quận/Huyện", "Ba Đình"),
    Column("vaccine", "Tên vắc xin", "AstraZeneca, Pfizer, Vero Cell, ... or an EU code"),
    Column("lot", "Số lô", "the lot number on the vial"),
    Column("administered_at", "Ngày tiêm", "dd/mm/yyyy, e.g. 01/08/2021"),
    Column("dose_number", "Mũi số", "1, 2, 3 ..."),
    Column("site_id", "Mã cơ sở tiêm", "the site's code; empty: the form's site"),
)
# Accepted, not in the template: the person's address, and the date of death another system's
# export may carry (a dose given after it is booked as sent, and flagged in the row report).
EXTRA = (
    Column("address", "Địa chỉ", "12 Phố Huế"),
    Column("death_date", "Ngày mất", "dd/mm/yyyy"),
)

BY_FIELD = {c.field: c for c in COLUMNS + EXTRA}
FIELDS = tuple(BY_FIELD)
PERSON_FIELDS = ("full_name", "birth_date", "sex", "national_id", "phone", "province", "district", "address")
# A row cannot make a dose without these (site_id may come from the form instead).
REQUIRED = ("full_name", "birth_date", "province", "vaccine", "administered_at")

_BY_KEY = {match_key(name): c.field for c in COLUMNS + EXTRA for name in (c.header, c.field)}


def field_of(header: object) -> str | None:
    """The field a header names, in Vietnamese or English; None for any other column."""
    if not isinstance(header, str):
        return None
    return _BY_KEY.get(match_key(header))


def header_of(field: str) -> str:
    column = BY_FIELD.get(field)
    return column.header if column else field
