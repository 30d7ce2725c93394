"""CVRS flat files made in a test: a header of every column and rows of given values."""

from __future__ import annotations

import itertools

from intake.cvrs.reading import COLUMNS

_ids = itertools.count(1)


def cvrs_row(**values: str) -> dict[str, str]:
    """An identified (I) extract's row of a dose of Comirnaty (CVX 208), changed by `values`."""
    n = next(_ids)
    row = {
        "vax_event_id": f"cvrs-{n}",
        "ext_type": "I",
        "recip_id": f"R{n}",
        "recip_first_name": "Nguyen",
        "recip_middle_name": "Thi",
        "recip_last_name": "Huong",
        "recip_dob": "1990-05-17",
        # Where the CDC's files name a US state, a Vietnamese sender names the province.
        "recip_address_state": "01",
        "recip_sex": "F",
        "recip_race_1": "UNK",
        "recip_ethnicity": "UNK",
        "admin_date": "2021-06-01",
        "cvx": "208",
        "lot_number": "FA1234",
        "dose_num": "1",
        "vax_series_complete": "NO",
        "responsible_org": "Sở Y tế Hà Nội",
        "admin_name": "01-TYT-001",
        "admin_type": "19",
        "vax_refusal": "No",
        "cmorbid_status": "UNK",
        "serology": "UNK",
    }
    row.update(values)
    return row


def cvrs_file(*rows: dict[str, str], site: str | None = None) -> bytes:
    """The file of these rows (one default row for `site` if none given), CRLF as CDC's."""
    if not rows:
        rows = (cvrs_row(admin_name=site or "01-TYT-001"),)
    lines = ["\t".join(COLUMNS)] + ["\t".join(row.get(column, "") for column in COLUMNS) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
