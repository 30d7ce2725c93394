"""The CDC's CVRS row rules that matter to the ledger, as issues naming the column.

An error refuses the row (nothing stored); a warning books it flagged for the sender to look
at. Which is which: whatever makes the dose, the person or the privacy of the extract wrong is an
error (a date that is no date, an extract that says de-identified but names the person, a row
id sent twice with other content); what only the US reporting needs (race, county codes, zip
formats, the administering site's type) is a warning. No reason quotes a value of the row: the
values are personal data; the column and the rule are what the sender needs to find it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

from intake.cvrs.reading import CvrsRow
from intake.feeds import FeedIssue

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ZIP = re.compile(r"^\d{5}(-\d{4})?$")
SEXES = {"M", "F", "U"}
EXTRACTS = {"D", "P", "I"}
YES_NO = {"YES", "NO"}
YES_NO_UNK = {"YES", "NO", "UNK"}
DOSE_NUMBERS = {"1", "2", "3", "4", "5", "6", "INV", "UNK"}
ADMIN_TYPES = {str(n) for n in range(1, 29)} | {"UNK"}
# De-identified (D) and PPRL (P) extracts carry "Redacted" in these, never the person's.
REDACTED = (
    "recip_first_name",
    "recip_middle_name",
    "recip_last_name",
    "recip_address_street",
    "recip_address_street_2",
    "recip_address_city",
)
# Not sent for a refusal (the CDC's "do not populate").
NOT_FOR_REFUSALS = (
    "ndc",
    "mvx",
    "lot_number",
    "vax_expiration",
    "vax_admin_site",
    "vax_route",
    "dose_num",
    "vax_series_complete",
)
# US Postal Service state → its FIPS code: the first two digits of its counties' FIPS codes.
STATE_FIPS = dict(
    pair.split(":")
    for pair in (
        "AL:01 AK:02 AS:60 AZ:04 AR:05 CA:06 CO:08 CT:09 DE:10 DC:11 FL:12 FM:64 GA:13 GU:66 HI:15 "
        "ID:16 IL:17 IN:18 IA:19 KS:20 KY:21 LA:22 ME:23 MH:68 MD:24 MA:25 MI:26 MN:27 MS:28 MO:29 "
        "MT:30 NE:31 NV:32 NH:33 NJ:34 NM:35 NY:36 NC:37 ND:38 MP:69 OH:39 OK:40 OR:41 PA:42 PR:72 "
        "PW:70 RI:44 SC:45 SD:46 TN:47 TX:48 UT:49 VT:50 VI:78 VA:51 WA:53 WV:54 WI:55 WY:56"
    ).split()
)


def refused(row: CvrsRow) -> bool:
    return row["vax_refusal"].upper() == "YES" or row["recip_missed_appt"].upper() == "YES"


def issues_of(row: CvrsRow, first_line_of: dict[str, int], today: datetime.date) -> list[FeedIssue]:
    """Every issue of one row; `first_line_of` (vax_event_id → line) is the file's rows so far."""
    found: list[FeedIssue] = []

    def error(column: str, reason: str) -> None:
        found.append(FeedIssue(column, reason, "error"))

    def warning(column: str, reason: str) -> None:
        found.append(FeedIssue(column, reason, "warning"))

    if row["_extra_cells"]:
        error("vax_event_id", f"the row has {row['_extra_cells']} more cells than the header has columns")
    event_id = row["vax_event_id"]
    if event_id and event_id in first_line_of:
        error("vax_event_id", f"the same vax_event_id as line {first_line_of[event_id]}")
    extract = row["ext_type"].upper()
    if extract not in EXTRACTS:
        error("ext_type", "must be D (de-identified), P (PPRL) or I (identified)")
    if row["pprl_id"] and extract != "P":
        error("pprl_id", "is only sent in a PPRL (P) extract")
    if extract in ("D", "P"):
        for column in REDACTED:
            if row[column] != "Redacted":
                error(column, f"must read 'Redacted' in a {extract} extract: the person is not to be named")
    _date(row, "recip_dob", today, error, required=True)
    _date(row, "admin_date", today, error, required=True)
    if not row["recip_sex"]:
        error("recip_sex", "is missing (M, F or U)")
    elif row["recip_sex"].upper() not in SEXES:
        error("recip_sex", "must be M, F or U")
    if row["vax_refusal"].upper() not in YES_NO:
        error("vax_refusal", "must be Yes or No: whether a dose was given depends on it")
    if len(row["mvx"]) > 3:
        error("mvx", "is a manufacturer code of at most 3 letters")
    for column in (
        "recip_race_1",
        "recip_ethnicity",
        "responsible_org",
        "admin_name",
        "cmorbid_status",
        "serology",
    ):
        if not row[column]:
            warning(column, "is missing")
    if not row["admin_type"]:
        warning("admin_type", "is missing")
    elif row["admin_type"].upper() not in ADMIN_TYPES:
        warning("admin_type", "is not a CVRS version 2 site type (1 to 28, or UNK)")
    if refused(row):
        for column in NOT_FOR_REFUSALS:
            if row[column]:
                warning(column, "is not sent for a refusal: ignored")
    else:
        if row["dose_num"].upper() not in DOSE_NUMBERS:
            warning("dose_num", "is missing or not 1 to 6, INV or UNK (the ledger numbers doses itself)")
        if row["vax_series_complete"].upper() not in YES_NO_UNK:
            warning("vax_series_complete", "is missing or not Yes, No or UNK")
    for who in ("recip", "admin"):
        zip_code, county, state = (row[f"{who}_address_{part}"] for part in ("zip", "county", "state"))
        if zip_code and not ZIP.match(zip_code):
            warning(f"{who}_address_zip", "is not a 5-digit zip code (or zip+4)")
        if county and state and STATE_FIPS.get(state.upper()) != county[:2]:
            warning(f"{who}_address_county", f"is not a county of {who}_address_state")
    return found


def _date(
    row: CvrsRow,
    column: str,
    today: datetime.date,
    error: Callable[[str, str], None],
    *,
    required: bool,
) -> None:
    value = row[column]
    if not value:
        if required:
            error(column, "is missing")
        return
    if not ISO_DATE.match(value):
        error(column, "must be a full date written YYYY-MM-DD")
        return
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        error(column, "is not a date of the calendar (YYYY-MM-DD)")
        return
    if day > today:
        error(column, "is in the future")
