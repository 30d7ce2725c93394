"""A CVRS row → a FeedRecord, field for field as the HL7 v2 twin of the row maps (the CDC's
specification pairs each column with its HL7 field), so both give the same events.

The columns named in `where` are the sender's terms: an issue names "admin_date", not RXA-3.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from intake.cvrs.checks import issues_of, refused
from intake.cvrs.reading import CvrsRow
from intake.feeds import FeedIssue, FeedRecord

STANDARD = "cvrs"
SEXES = {"M": "male", "F": "female"}  # U (unknown): no sex given
WHERE = {
    "message_id": "vax_event_id",
    "sender": "responsible_org",
    "full_name": "recip_first_name",
    "birth_date": "recip_dob",
    "sex": "recip_sex",
    "identifiers": "recip_id",
    "address": "recip_address_street",
    "province": "recip_address_state",
    "district": "recip_address_county",
    "site_id": "admin_name",
    "site_name": "admin_name",
    "site_record_id": "vax_event_id",
    "vaccine_code": "cvx",
    "code_system": "cvx",
    "administered_on": "admin_date",
    "lot": "lot_number",
    "completion": "vax_refusal",
}


def records_of(rows: Iterable[CvrsRow], today: datetime.date | None = None) -> list[FeedRecord]:
    """One FeedRecord per row, in order, each with what the CVRS rules found wrong in it."""
    today = today or datetime.date.today()
    first_line_of: dict[str, int] = {}
    records = []
    for row in rows:
        found = tuple(issues_of(row, first_line_of, today))
        first_line_of.setdefault(row["vax_event_id"], row.line)
        records.append(record_of(row, found))
    return records


def record_of(row: CvrsRow, found: tuple[FeedIssue, ...] = ()) -> FeedRecord:
    not_given = refused(row)
    completion = "CP"
    if row["vax_refusal"].upper() == "YES":
        completion = "RE"
    elif row["recip_missed_appt"].upper() == "YES":
        completion = "NA"
    identifiers = tuple(("", value) for value in (row["recip_id"], row["pprl_id"]) if value)
    name = " ".join(
        part for part in (row["recip_first_name"], row["recip_middle_name"], row["recip_last_name"]) if part
    )
    # As HL7's PID-11: street, other designation and city; the state is the province as sent
    # (no Vietnamese province: the site's or the default is taken), the county the district.
    address = ", ".join(
        part
        for part in (row["recip_address_street"], row["recip_address_street_2"], row["recip_address_city"])
        if part
    )
    # As HL7's RXA-11.4.2, then .4.1, then MSH-4: the facility's id, else its name, else the sender.
    site_column = next(
        (c for c in ("vtrcks_prov_pin", "admin_name", "responsible_org") if row[c]), "vtrcks_prov_pin"
    )
    site_id = row[site_column]
    return FeedRecord(
        message_id=row["vax_event_id"] or f"line {row.line}",
        standard=STANDARD,
        sender=row["responsible_org"] or None,
        full_name=name or None,
        birth_date=row["recip_dob"] or None,
        sex=SEXES.get(row["recip_sex"].upper()),
        identifiers=identifiers,
        address=address or None,
        province=row["recip_address_state"] or None,
        district=row["recip_address_county"] or None,
        action="record",
        site_id=site_id or None,
        site_name=row["admin_name"] or None,
        site_record_id=row["vax_event_id"] or None,
        vaccine_code=row["cvx"] or None,
        code_system="CVX",
        administered_on=row["admin_date"] or None,
        lot=(row["lot_number"] or None) if not not_given else None,
        completion=completion,
        where=dict(
            WHERE,
            site_id=site_column,
            completion="recip_missed_appt" if completion == "NA" else "vax_refusal",
        ),
        found=found,
    )
