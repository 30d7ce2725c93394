"""HL7 v2 bytes → one text per message: batch envelopes, segment separators and charsets.

A sender's file or request body may be one message, a batch (FHS/BHS … BTS/FTS) or bare
messages one after another, with segments ended by CR (the standard), CRLF or LF. Messages
are cut apart on the bytes, before any decoding, so that each is decoded by its own MSH-18
and one bad message spoils no other: CR and LF never occur inside a UTF-8 or Windows-1258
character.

Charsets: MSH-18 as HL7 table 0211 names it ("UNICODE UTF-8", "8859/1", "ASCII"), or any
name Python knows ("CP1258", "WINDOWS-1258"). Without MSH-18: UTF-8 if the bytes decode as
UTF-8, else the fallback (Windows-1258 by default, the Vietnamese code page older site
systems write). Windows-1258 writes most Vietnamese tone marks as combining characters:
every text is normalised to NFC, the form the ledger stores.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

FALLBACK = "cp1258"
ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")
# HL7 table 0211's names → Python's; any other name is tried as Python's own.
CHARSETS = {
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
    **{f"8859/{n}": f"iso8859-{n}" for n in range(1, 10)},
    "8859/15": "iso8859-15",
}
_SEPARATORS = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class RawMessage:
    """One message as received: its text once decoded, or why it could not be."""

    number: int  # 1-based, in the order received
    text: str | None
    charset: str | None
    problem: str | None = None  # what made it unreadable (no personal data)
    control_id: str = ""  # MSH-10, read from the bytes even when the rest is unreadable
    problem_at: str = "MSH"  # where: the segment or field at fault


def split_messages(data: bytes) -> list[bytes]:
    """The messages of a file or body, each as its segments joined by CR; envelopes dropped."""
    messages: list[list[bytes]] = []
    for line in _SEPARATORS.split(data.lstrip(b"\xef\xbb\xbf")):  # a UTF-8 byte order mark
        line = line.strip(b"\x00\x0b\x1c ")  # stray MLLP framing or padding
        if not line or line[:3] in ENVELOPE:
            continue
        if line.startswith(b"MSH") or not messages:
            messages.append([])
        messages[-1].append(line)
    return [b"\r".join(segments) for segments in messages]


def read_messages(data: bytes, fallback: str = FALLBACK) -> list[RawMessage]:
    return [decode(raw, n, fallback) for n, raw in enumerate(split_messages(data), start=1)]


def decode(raw: bytes, number: int, fallback: str = FALLBACK) -> RawMessage:
    header = raw.split(b"\r", 1)[0]
    control_id = _msh_field(header, 10)
    if not header.startswith(b"MSH") or len(header) < 8:
        return RawMessage(number, None, None, "the message does not start with an MSH segment", control_id)
    declared = _msh_field(header, 18).split("^")[0].strip()
    if declared:
        charset = CHARSETS.get(declared.upper()) or _python_codec(declared)
        if charset is None:
            return RawMessage(number, None, None, f"charset {declared!r} is not known", control_id, "MSH-18")
        candidates = [charset]
    else:
        candidates = ["utf-8", fallback]
    for charset in candidates:
        try:
            text = raw.decode(charset)
        except (UnicodeError, LookupError):
            # LookupError: a codec Python knows that is no text encoding (base64, rot13);
            # UnicodeError: one that fails otherwise than by a decode error (undefined).
            continue
        return RawMessage(number, unicodedata.normalize("NFC", text), charset, None, control_id)
    problem = f"the bytes are not valid {' or '.join(candidates)}"
    return RawMessage(number, None, None, problem, control_id, "MSH-18" if declared else "MSH")


def _msh_field(header: bytes, n: int) -> str:
    """MSH-n read from the raw header (MSH-1 is the separator itself, so MSH-n is split n-1)."""
    if len(header) < 4:
        return ""
    fields = header.split(header[3:4])
    if n - 1 >= len(fields):
        return ""
    return fields[n - 1].decode("ascii", "replace")


def _python_codec(name: str) -> str | None:
    if not name.isprintable():
        return None
    try:
        return codecs.lookup(name.replace(" ", "-")).name
    except (LookupError, ValueError):
        return None
