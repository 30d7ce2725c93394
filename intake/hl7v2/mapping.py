"""A VXU^V04 message → feed records, one per RXA, each field remembering its HL7 location.

Mapping (HL7 v2.5.1, the CDC immunization implementation guide):
- PID-3 → identifiers (a CX typed NI or NNVNM is the national id, when it is one: 9 or 12
  digits); PID-5 → full name, family (5.1) middle (5.3) given (5.2), the Vietnamese order;
  PID-7 → birth date; PID-8 → sex (F, M; O, A other; U, N unknown); PID-11 → address (street,
  other designation, city), province (11.4) and district (11.9); PID-13 → phone (Vietnamese
  numbers only: a number with another country code is not stored).
- The site: RXA-11.4, the administering facility (HD). CDC's CVRS puts its VTrckS PIN in the
  universal id (11.4.2: "Luna&999999"); a facility id given with an ISO authority (11.4.3 ISO:
  "123456&2.16.840…&ISO") is the namespace id (11.4.1). Without RXA-11.4: ORC-17.1, the
  entering organisation; without it MSH-4, the sender.
- ORC-3.1 (filler order number) → the site record id; without an ORC, RXA's own ORC-less
  group takes MSH-10 and the RXA's number, so the record still has an id.
- RXA-3 → date given (the day: a time is dropped, as CVRS sends the day only); RXA-5 → the
  vaccine (code and system, CVX); RXA-9.1 → new (00) or historical (01-08); RXA-15 → lot;
  RXA-18 → refusal reason; RXA-20 → completion (empty: CP); RXA-21 → action (A record, U
  amend, D void; empty: A); RXA-10 → performer (the id only).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any

import hl7
import hl7.containers
import hl7.util

from intake.feeds import Action, FeedIssue, FeedRecord
from intake.hl7v2.profile import CDC_COVID, profile_issues
from ledger import rules
from ledger.errors import LedgerError

# python-hl7 logs a value it cannot unescape and a segment it cannot place, whole: personal
# data must never reach a log, so its loggers (named by their files) are silenced.
for _module in (hl7.util, hl7.containers):
    logging.getLogger(_module.__file__).disabled = True

SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{0,6}(\.\d+)?)([+-]\d{4})?$")
SEXES = {"F": "female", "M": "male", "O": "other", "A": "other", "U": None, "N": None}
ACTIONS: dict[str, Action] = {"A": "record", "U": "amend", "D": "void"}
NATIONAL_ID_TYPES = ("NI", "NNVNM")
HISTORICAL = {f"0{n}" for n in range(1, 9)}  # NIP001: 01-08 a historical record's source
VERSIONS = ("2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8")


@dataclass(frozen=True)
class MappedMessage:
    """A message's header facts and its records, or why it is rejected as a whole."""

    control_id: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    records: tuple[FeedRecord, ...]
    rejected: tuple[FeedIssue, ...] = ()  # the message as a whole: AR


class Fields:
    """Values of one segment by HL7 position, '' when absent (python-hl7 keeps the escapes)."""

    def __init__(self, message: hl7.Message, segment: hl7.Segment, name: str, seq: int):
        self.message = message
        self.segment = segment
        self.name = name
        self.seq = seq

    def at(self, field: int) -> str:
        """Where field n of this segment is, as an issue names it ("RXA-5", "RXA[2]-5")."""
        return f"{self.name}-{field}" if self.seq == 1 else f"{self.name}[{self.seq}]-{field}"

    def get(self, field: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
        if field >= len(self.segment):
            return ""
        value = self.segment[field]
        try:
            for index in (rep, component, sub):
                if isinstance(value, str):
                    return self.message.unescape(value) if index == 1 else ""
                if index > len(value):
                    return ""
                value = value[index - 1]
        except (IndexError, TypeError):
            return ""
        while not isinstance(value, str):  # deeper than asked: its first leaf
            value = value[0] if len(value) else ""
        return str(self.message.unescape(value)).strip()

    def repetitions(self, field: int) -> int:
        if field >= len(self.segment):
            return 0
        value = self.segment[field]
        if isinstance(value, str):
            return 1 if value else 0
        return len(value) if value and isinstance(value[0], (list, hl7.Repetition)) else 1


def map_message(text: str, number: int, profile: str | None = None) -> MappedMessage:
    """Map a decoded message; structural faults reject it, field faults stay with its records."""
    separator, encoding = text[3:4], text[4:].split(text[3:4] or "|", 1)[0]
    if len(encoding) not in (4, 5) or len(set(encoding + separator)) != len(encoding) + 1:
        reason = "the encoding characters must be 4 characters, each different from the others and from MSH-1"
        return _rejected("", FeedIssue("MSH-2", reason, kind="malformed"))
    try:
        message = hl7.parse(text)
        msh = Fields(message, message.segment("MSH"), "MSH", 1)
    except (hl7.ParseException, KeyError, IndexError, ValueError, AssertionError):
        # python-hl7 checks its own invariants with assert: a message it cannot split is malformed
        return _rejected("", FeedIssue("MSH", "the MSH segment cannot be parsed", kind="malformed"))
    control_id = msh.get(10)
    header: dict[str, Any] = dict(
        control_id=control_id,
        sending_application=msh.get(3),
        sending_facility=msh.get(4),
        receiving_application=msh.get(5),
        receiving_facility=msh.get(6),
    )
    rejected: list[FeedIssue] = []
    kind = (msh.get(9, 1), msh.get(9, 2))
    if kind != ("VXU", "V04"):
        rejected.append(
            FeedIssue("MSH-9", f"message type {'^'.join(kind)} is not VXU^V04", kind="unsupported")
        )
    if msh.get(12) not in VERSIONS:
        rejected.append(
            FeedIssue("MSH-12", f"HL7 version {msh.get(12)!r} is not 2.3.1 to 2.8", kind="unsupported")
        )
    if not control_id:
        rejected.append(FeedIssue("MSH-10", "the message control id is missing", kind="missing"))
    found: list[FeedIssue] = []
    segments: list[Fields] = []
    seen: dict[str, int] = {}
    for position, segment in enumerate(message, start=1):
        name = str(segment[0]) if len(segment) else ""
        if not SEGMENT_ID.match(name):
            # Named by its position only: a line cut out of a field may hold a name.
            found.append(
                FeedIssue(f"segment {position}", "is not a segment (no three-letter id)", kind="malformed")
            )
            continue
        seen[name] = seen.get(name, 0) + 1
        segments.append(Fields(message, segment, name, seen[name]))
    pids = [s for s in segments if s.name == "PID"]
    if not pids:
        rejected.append(FeedIssue("PID", "the message has no PID segment", kind="missing"))
    if not any(s.name == "RXA" for s in segments):
        rejected.append(FeedIssue("RXA", "the message has no RXA segment", kind="missing"))
    if rejected:
        return MappedMessage(**header, records=(), rejected=tuple(rejected))
    person, person_where, person_found = _person(pids[0])
    records = []
    for orc, rxa, rxr, observations in _groups(segments):
        record = _record(msh, orc, rxa, number, person, person_where, tuple(found + person_found))
        if profile == CDC_COVID:
            extra = profile_issues(msh, pids[0], rxa, observations, rxr, record.completion)
            record = replace(record, found=record.found + tuple(extra))
        records.append(record)
    return MappedMessage(**header, records=tuple(records))


def _groups(segments: list[Fields]) -> list[tuple[Fields | None, Fields, Fields | None, list[Fields]]]:
    """Each RXA with its order (the ORC before it), its RXR and the OBX after it."""
    groups: list[tuple[Fields | None, Fields, Fields | None, list[Fields]]] = []
    orc: Fields | None = None
    for fields in segments:
        if fields.name == "ORC":
            orc = fields
        elif fields.name == "RXA":
            groups.append((orc, fields, None, []))
        elif groups and fields.name == "RXR" and groups[-1][2] is None:
            groups[-1] = (*groups[-1][:2], fields, groups[-1][3])
        elif groups and fields.name == "OBX":
            groups[-1][3].append(fields)
    return groups


def _rejected(control_id: str, issue: FeedIssue) -> MappedMessage:
    return MappedMessage(control_id, "", "", "", "", (), (issue,))


def hl7_date(value: str, where: str, found: list[FeedIssue]) -> str | None:
    """YYYYMMDD[HHMM[SS[.S]]][±ZZZZ] → the ISO day; an issue (and None) if not a full date."""
    if not value:
        return None
    match = DATE.match(value)
    if match is None:
        kind = "a partial date" if value.isdigit() and len(value) < 8 else "not a date"
        found.append(FeedIssue(where, f"must be a date YYYYMMDD, got {kind}", kind="invalid"))
        return None
    day = f"{match.group(1)}-{match.group(2)}-{match.group(3)}"
    try:
        rules.calendar_date(day, where)
    except LedgerError:
        found.append(FeedIssue(where, "is not a calendar date", kind="invalid"))
        return None
    return day


def _person(pid: Fields) -> tuple[dict[str, Any], dict[str, str], list[FeedIssue]]:
    found: list[FeedIssue] = []
    identifiers = []
    national_id = None
    for rep in range(1, pid.repetitions(3) + 1):
        value = pid.get(3, 1, rep=rep)
        if not value:
            continue
        identifiers.append((pid.get(3, 4, rep=rep), value))
        if pid.get(3, 5, rep=rep).upper() in NATIONAL_ID_TYPES:
            try:
                national_id = rules.national_id(value, pid.at(3))
            except LedgerError as error:
                found.append(FeedIssue(pid.at(3), f"the national id {error.message}; not used", "warning"))
    family, given, middle = pid.get(5, 1), pid.get(5, 2), pid.get(5, 3)
    sex_code = pid.get(8).upper()
    sex = SEXES.get(sex_code)
    if sex_code and sex_code not in SEXES:
        found.append(
            FeedIssue(pid.at(8), f"{sex_code!r} is not an HL7 sex code (table 0001); left unknown", "warning")
        )
    address = ", ".join(p for p in (pid.get(11, 1), pid.get(11, 2), pid.get(11, 3)) if p)
    person: dict[str, Any] = {
        "full_name": " ".join(p for p in (family, middle, given) if p) or None,
        "birth_date": hl7_date(pid.get(7), pid.at(7), found),
        "sex": sex,
        "identifiers": tuple(identifiers),
        "national_id": national_id,
        "phone": _phone(pid),
        "address": address or None,
        "province": pid.get(11, 4) or None,
        "district": pid.get(11, 9) or None,
    }
    where = {
        "full_name": pid.at(5),
        "birth_date": pid.at(7),
        "sex": pid.at(8),
        "identifiers": pid.at(3),
        "national_id": pid.at(3),
        "phone": pid.at(13),
        "address": pid.at(11),
        "province": pid.at(11),
        "district": pid.at(11),
    }
    return person, where, found


def _phone(pid: Fields) -> str | None:
    """A Vietnamese number (the ledger's phone rule); any other country's is not kept."""
    country, area, local = pid.get(13, 5), pid.get(13, 6), pid.get(13, 7)
    number = f"{area}{local}" if local else pid.get(13, 1)
    if not number or country not in ("", "84", "+84"):
        return None
    try:
        return rules.phone(("+84" if country else "") + number)
    except LedgerError:
        return None


def _site(msh: Fields, orc: Fields | None, rxa: Fields) -> tuple[str | None, str | None, str]:
    """(site id, site name, where): the administering facility, else the order's entering
    organisation, else the sender."""
    namespace, universal, kind = rxa.get(11, 4, 1), rxa.get(11, 4, 2), rxa.get(11, 4, 3)
    if namespace or universal:
        if universal and kind.upper() != "ISO":
            return universal, namespace or None, rxa.at(11)
        return namespace or universal, None, rxa.at(11)
    if orc is not None and orc.get(17):
        return orc.get(17), orc.get(17, 2) or None, orc.at(17)
    sender = msh.get(4, 2) if msh.get(4, 2) and msh.get(4, 3).upper() != "ISO" else msh.get(4, 1)
    return sender or None, None, msh.at(4)


def _record(
    msh: Fields,
    orc: Fields | None,
    rxa: Fields,
    number: int,
    person: dict[str, Any],
    person_where: dict[str, str],
    found: tuple[FeedIssue, ...],
) -> FeedRecord:
    issues = list(found)
    site_id, site_name, site_where = _site(msh, orc, rxa)
    record_id: str | None
    if orc is not None and orc.get(3):
        record_id, record_where = orc.get(3), orc.at(3)
    else:
        record_id, record_where = (f"{msh.get(10)}/{rxa.seq}" if msh.get(10) else None), "ORC-3"
    action_code = rxa.get(21).upper() or "A"
    action = ACTIONS.get(action_code)
    if action is None:
        issues.append(FeedIssue(rxa.at(21), f"action code {action_code!r} is not A, U or D", kind="invalid"))
    notes = rxa.get(9)
    code_system = rxa.get(5, 3).upper() or "CVX"
    where = {
        **person_where,
        "site_id": site_where,
        "site_name": site_where,
        "site_record_id": record_where,
        "vaccine_code": rxa.at(5),
        "code_system": rxa.at(5),
        "administered_on": rxa.at(3),
        "lot": rxa.at(15),
        "historical": rxa.at(9),
        "completion": rxa.at(20),
        "refusal_reason": rxa.at(18),
        "performer": rxa.at(10),
        "action": rxa.at(21),
    }
    return FeedRecord(
        message_id=msh.get(10),
        standard="hl7v2",
        sender=msh.get(4, 1) or None,
        **person,
        action=action or "record",
        site_id=site_id,
        site_name=site_name,
        site_record_id=record_id,
        vaccine_code=rxa.get(5, 1) or None,
        code_system=code_system,
        administered_on=hl7_date(rxa.get(3), rxa.at(3), issues),
        lot=rxa.get(15) or None,
        historical=notes in HISTORICAL,
        completion=rxa.get(20).upper() or "CP",
        refusal_reason=rxa.get(18) or None,
        performer=rxa.get(10, 1) or None,
        where=where,
        found=tuple(issues),
    )
