"""The CDC COVID-19 reporting profile (CVRS, HL7 v2.5.1 mapping): what a message of that
profile must carry, checked as warnings.

None of these stops a dose: the ledger books what it needs (person, date, vaccine, site,
record id; refused in `intake.feeds` when missing). A record that breaks the profile is
booked *flagged*: its ACK carries a W ERR for each fault, so that the sender's data can be
fixed. Faults the ledger itself cannot book past (no vaccine code, no date, a date of birth
after the dose, a date in the future) are errors, found elsewhere.

It applies to a message sent under it (`receive(..., profile=CDC_COVID)`), never by default:
a Vietnamese site's VXU owes no US race or county.

The profile's fields, by their CVRS names: ext_type MSH-8 (D de-identified, P PPRL, I
identified); responsible_org MSH-22; pprl_id PID-3[2]; recip_race PID-10; recip_ethnicity
PID-22; admin_name RXA-11.4.1; admin_type RXA-11.6 (table DCHTYPE2); dose_num and
vax_series_complete, cmorbid_status and serology as OBX observations (LOINC 30973-2,
59783-1; VXC8, 75505-8); county FIPS codes matching the state (PID-11.9/11.4,
RXA-11.16/11.12); ZIP codes 5 or 9 digits; no product details on a refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Protocol

from intake.feeds import FeedIssue

CDC_COVID = "cdc-covid"
PROFILES = (CDC_COVID,)
EXTRACT_TYPES = ("D", "P", "I")
REDACTED = "Redacted"
ADMIN_TYPES = {str(n) for n in range(1, 29)} | {"UNK"}  # CDC table DCHTYPE2
ZIP = re.compile(r"^\d{5}(-\d{4})?$")
MVX = re.compile(r"^[A-Z]{2,3}$")
DOSE_NUMBER, SERIES_COMPLETE = "30973-2", "59783-1"
RISK_GROUP, SEROLOGY = "VXC8", "75505-8"


class Segment(Protocol):
    name: str

    def at(self, field: int) -> str: ...
    def get(self, field: int, component: int = 1, sub: int = 1, rep: int = 1) -> str: ...
    def repetitions(self, field: int) -> int: ...


@cache
def state_fips() -> dict[str, str]:
    """US state code → its FIPS state code (the first two digits of its counties')."""
    text = resources.files("intake").joinpath("data/us-states.json").read_text(encoding="utf-8")
    table: dict[str, str] = json.loads(text)["fips"]
    return table


def warn(where: str, reason: str) -> FeedIssue:
    return FeedIssue(where, reason, "warning", kind="invalid")


def missing(where: str, what: str) -> FeedIssue:
    return FeedIssue(where, f"{what} is required by the CDC COVID-19 profile", "warning", kind="missing")


def profile_issues(
    msh: Segment,
    pid: Segment,
    rxa: Segment,
    observations: Sequence[Segment],
    rxr: Segment | None,
    completion: str,
) -> list[FeedIssue]:
    """The profile's faults in one RXA's record (its message's header and patient included)."""
    issues: list[FeedIssue] = []
    extract = msh.get(8).upper()
    if extract not in EXTRACT_TYPES:
        issues.append(warn(msh.at(8), "the extract type is not D, P or I"))
    if not msh.get(22):
        issues.append(missing(msh.at(22), "the responsible organisation"))
    if extract == "D":
        name = [pid.get(5, c) for c in (1, 2, 3)]
        address = [pid.get(11, c) for c in (1, 2, 3)]
        if any(part != REDACTED for part in name):
            issues.append(
                warn(
                    pid.at(5),
                    "the extract is de-identified (MSH-8 D): every part of the name must read Redacted",
                )
            )
        if any(part != REDACTED for part in address):
            issues.append(
                warn(
                    pid.at(11),
                    "the extract is de-identified (MSH-8 D): street, other and city must read Redacted",
                )
            )
    if extract != "P" and pid.repetitions(3) > 1 and pid.get(3, rep=2):
        issues.append(warn(pid.at(3), "a PPRL id is present though the extract is not PPRL (MSH-8 P)"))
    if not pid.get(8):
        issues.append(missing(pid.at(8), "the sex"))
    if not pid.get(10):
        issues.append(missing(pid.at(10), "the race"))
    if not pid.get(22):
        issues.append(missing(pid.at(22), "the ethnicity"))
    issues += _places(pid, rxa)
    if not rxa.get(11, 4, 1):
        issues.append(missing(rxa.at(11), "the administering facility's name (RXA-11.4.1)"))
    admin_type = rxa.get(11, 6)
    if not admin_type:
        issues.append(missing(rxa.at(11), "the administering facility's type (RXA-11.6)"))
    elif admin_type not in ADMIN_TYPES:
        issues.append(warn(rxa.at(11), "the facility type (RXA-11.6) is not in CDC table DCHTYPE2"))
    mvx = rxa.get(17)
    if mvx and not MVX.match(mvx):
        issues.append(warn(rxa.at(17), "the manufacturer is not an MVX code (2 or 3 capitals)"))
    observed = {o.get(3): o for o in observations}
    for code, what in ((RISK_GROUP, "the risk group (OBX VXC8)"), (SEROLOGY, "the serology (OBX 75505-8)")):
        if not (code in observed and observed[code].get(5)):
            issues.append(missing("OBX-5", what))
    if completion == "RE":
        issues += _refusal_details(rxa, rxr, observed)
    elif completion == "CP":
        for code, what in (
            (DOSE_NUMBER, "the dose number (OBX 30973-2)"),
            (SERIES_COMPLETE, "the series status (OBX 59783-1)"),
        ):
            if not (code in observed and observed[code].get(5)):
                issues.append(missing("OBX-5", what))
    return issues


def _places(pid: Segment, rxa: Segment) -> list[FeedIssue]:
    issues = []
    for segment, state, county, zip_code, whose in (
        (pid, pid.get(11, 4), pid.get(11, 9), pid.get(11, 5), "the person's"),
        (rxa, rxa.get(11, 12), rxa.get(11, 16), rxa.get(11, 13), "the facility's"),
    ):
        fips = state_fips().get(state.upper())
        where = segment.at(11)
        if county and fips and not county.startswith(fips):
            issues.append(warn(where, f"{whose} county does not lie in {whose} state"))
        if zip_code and not ZIP.match(zip_code):
            issues.append(warn(where, f"{whose} ZIP code is not 5 digits or 5-4 digits"))
    return issues


def _refusal_details(rxa: Segment, rxr: Segment | None, observed: dict[str, Segment]) -> list[FeedIssue]:
    """A refusal reports no product: the profile says not to send these."""
    issues = []
    for field, what in ((15, "lot"), (16, "expiration date"), (17, "manufacturer")):
        if rxa.get(field):
            issues.append(warn(rxa.at(field), f"a refusal carries no {what}"))
    if rxa.get(5, 4):
        issues.append(warn(rxa.at(5), "a refusal carries no NDC product code"))
    if rxr is not None and (rxr.get(1) or rxr.get(2)):
        issues.append(warn(rxr.at(1), "a refusal carries no route or body site"))
    for code in (DOSE_NUMBER, SERIES_COMPLETE):
        if code in observed and observed[code].get(5):
            issues.append(warn("OBX-5", f"a refusal carries no observation {code}"))
    return issues
