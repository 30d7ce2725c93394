"""The ACK for one message: MSA AA / AE / AR and an ERR per issue (HL7 v2.5.1).

AA: the message was taken (its doses booked, already booked, or not doses: a refusal); its
warnings come as ERR with severity W. AE: a record was refused for its content (nothing of
the message is stored). AR: the message itself was rejected (not a VXU^V04, unreadable, a
site outside the sender's scope). Each ERR gives ERR-2 the location (segment^sequence^field),
ERR-3 the HL7 error code (table 0357), ERR-4 the severity and ERR-8 the reason in words;
reasons never carry a personal value.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from intake.feeds import FeedIssue

AA, AE, AR = "AA", "AE", "AR"
# HL7 table 0357, by the kind of fault a FeedIssue names.
ERROR_CODES = {
    "missing": ("101", "Required field missing"),
    "invalid": ("102", "Data type error"),
    "malformed": ("102", "Data type error"),
    "unknown-code": ("103", "Table value not found"),
    "unsupported": ("200", "Unsupported message type"),
    "conflict": ("205", "Duplicate key identifier"),
    "scope": ("207", "Application internal error"),
}
DEFAULT_CODE = ("207", "Application internal error")
_LOCATION = re.compile(r"^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+))?")
_ESCAPES = str.maketrans({"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"})
_CONTROL = re.compile(r"[\x00-\x1f]")


def escape(text: str) -> str:
    """Text as an HL7 field value: the delimiters escaped, line breaks and controls as spaces."""
    return _CONTROL.sub(" ", text).translate(_ESCAPES)


def location(where: str) -> str:
    """ERR-2 (ERL) from an issue's where: "RXA-5" → "RXA^1^5", "RXA[2]-5" → "RXA^2^5"."""
    match = _LOCATION.match(where)
    if match is None:
        return ""
    segment, seq, field = match.groups()
    return "^".join(p for p in (segment, seq or "1", field or "") if p)


def build_ack(
    code: str,
    control_id: str,
    issues: Sequence[FeedIssue],
    *,
    sending_application: str = "",
    sending_facility: str = "",
    receiving_application: str = "",
    receiving_facility: str = "",
    now: datetime | None = None,
) -> str:
    """The ACK message text, segments ended by CR. The ACK's MSH swaps the message's sender
    and receiver; MSA-2 is the message's control id."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S+0000")
    header = [
        "MSH",
        "^~\\&",
        escape(receiving_application) or "DOSELEDGER",
        escape(receiving_facility),
        escape(sending_application),
        escape(sending_facility),
        moment,
        "",
        "ACK^V04^ACK",
        uuid.uuid4().hex[:20],
        "P",
        "2.5.1",
        "",
        "",
        "NE",
        "NE",
        "",
        "UNICODE UTF-8",
    ]
    segments = ["|".join(header), f"MSA|{code}|{escape(control_id)}"]
    for issue in issues:
        number, name = ERROR_CODES.get(issue.kind, DEFAULT_CODE)
        severity = "W" if issue.severity == "warning" else "E"
        text = f"{issue.where}: {issue.reason}"
        segments.append(f"ERR||{location(issue.where)}|{number}^{name}^HL70357|{severity}||||{escape(text)}")
    return "\r".join(segments) + "\r"


def ack_code(rejected: bool, issues: Sequence[FeedIssue]) -> str:
    if rejected:
        return AR
    return AE if any(i.severity == "error" for i in issues) else AA
