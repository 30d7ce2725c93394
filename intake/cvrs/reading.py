"""A CVRS file's text and rows: the whole file is refused, naming why, when it is not a CVRS."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

# The columns of CVRS version 2, in the specification's order.
COLUMNS = (
    "vax_event_id",
    "ext_type",
    "pprl_id",
    "recip_id",
    "recip_first_name",
    "recip_middle_name",
    "recip_last_name",
    "recip_dob",
    "recip_sex",
    "recip_address_street",
    "recip_address_street_2",
    "recip_address_city",
    "recip_address_county",
    "recip_address_state",
    "recip_address_zip",
    "recip_race_1",
    "recip_race_2",
    "recip_race_3",
    "recip_race_4",
    "recip_race_5",
    "recip_race_6",
    "recip_ethnicity",
    "admin_date",
    "cvx",
    "ndc",
    "mvx",
    "lot_number",
    "vax_expiration",
    "vax_admin_site",
    "vax_route",
    "dose_num",
    "vax_series_complete",
    "responsible_org",
    "admin_name",
    "vtrcks_prov_pin",
    "admin_type",
    "admin_address_street",
    "admin_address_street_2",
    "admin_address_city",
    "admin_address_county",
    "admin_address_state",
    "admin_address_zip",
    "vax_refusal",
    "cmorbid_status",
    "serology",
)
# Version 1 files carry these two besides; a missed appointment is no dose.
VERSION_1 = ("vax_prov_suffix", "recip_missed_appt")
# Windows-1258 is the Vietnamese code page: the fallback when a file is not UTF-8.
FALLBACK_ENCODING = "cp1258"


class CvrsRefused(ValueError):
    """The file as a whole is not a CVRS file the ledger can read; nothing of it is booked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CvrsRow:
    """One data row: its line (1 for the first row after the header, as CDC's reports count)
    and its values by column name (every CVRS column present, empty when not given)."""

    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


def decode(data: bytes) -> str:
    """UTF-8 (a byte order mark allowed); else Windows-1258, whose every byte decodes. Composed
    (NFC): Windows-1258 writes a tone as a combining mark after its letter, and a name must
    read (and match) the same whichever way it came."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode(FALLBACK_ENCODING)
    return unicodedata.normalize("NFC", text)


def read_rows(data: bytes) -> list[CvrsRow]:
    """Every row of a CVRS file; CvrsRefused (the file's fault named) if it is none."""
    lines = decode(data).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or not lines[0].strip():
        raise CvrsRefused("the file is empty: no header row of CVRS columns")
    header = [name.strip().lower() for name in lines[0].split("\t")]
    if len(header) == 1:
        raise CvrsRefused("not a CVRS file: the header row is not tab-delimited")
    unknown = [n for n, name in enumerate(header, start=1) if name not in COLUMNS and name not in VERSION_1]
    if unknown:
        # By position, not by name: a file sent without its header has a person's row there.
        raise CvrsRefused(
            f"not a CVRS file: unknown columns in header cells {unknown[:10]} "
            "(the first row must be the CVRS header)"
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise CvrsRefused(f"the header row repeats columns {repeated}")
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise CvrsRefused(f"the header row misses CVRS columns {missing}")
    return list(_rows(header, lines[1:]))


def _rows(header: list[str], lines: list[str]) -> Iterator[CvrsRow]:
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        values = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)}
        if len(cells) > len(header):
            values["_extra_cells"] = str(len(cells) - len(header))
        yield CvrsRow(n, values)
