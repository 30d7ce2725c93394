"""A SMART Health Card's JWS as QR text: the `shc:/` numeric encoding, chunked when too long.

Each JWS character c becomes the two digits of ord(c) - 45 (numeric mode packs them densest).
A JWS of at most 1195 characters fits one version 22 QR at error correction L; a longer one is
split into the fewest chunks of at most 1191 characters, balanced in size, each written
`shc:/<i>/<n>/<digits>` (the spec deprecates chunking but still defines it; a verifier must read
it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, cast

import segno
from segno import consts

PREFIX = "shc:/"
SINGLE_QR_MAX = 1195
CHUNK_MAX = 1191

_JWS_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_CHUNK = re.compile(r"shc:/(?:(\d{1,4})/(\d{1,4})/)?(\d*)", re.IGNORECASE | re.ASCII)


class Unreadable(ValueError):
    """Not a SMART Health Card this reader can decode; `reason` says why (never the content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def qr_chunks(jws: str) -> list[str]:
    """The QR texts of a compact JWS: one when it fits, else balanced numbered chunks."""
    bad = set(jws) - _JWS_CHARS
    if not jws or bad:
        raise ValueError("jws: not a compact JWS (base64url parts joined by '.')")
    if len(jws) <= SINGLE_QR_MAX:
        return [PREFIX + _digits(jws)]
    count = math.ceil(len(jws) / CHUNK_MAX)
    size = math.ceil(len(jws) / count)
    parts = [jws[i : i + size] for i in range(0, len(jws), size)]
    return [f"{PREFIX}{i}/{len(parts)}/{_digits(part)}" for i, part in enumerate(parts, start=1)]


def qr_code(chunk: str) -> segno.QRCode:
    """The QR code of one chunk, as the spec draws it: the prefix (and chunk numbers) in a byte
    segment, the digits in a numeric segment. Encoded as one text, segno would choose byte mode
    throughout and need a far larger symbol. A chunk of `qr_chunks` fits version 22 at error
    correction L; segno raises the correction level where the version leaves room."""
    head, _, digits = chunk.rpartition("/")
    if not head.lower().startswith("shc:") or not digits.isascii() or not digits.isdigit():
        raise ValueError("chunk: not a 'shc:/' QR text")
    segments = [(head + "/", consts.MODE_BYTE), (digits, consts.MODE_NUMERIC)]
    # segno's annotation names only a str, int or bytes; its encoder also takes a list of
    # (text, mode) segments, its one way to mix modes (the tests check the version it gives).
    return segno.make(cast(Any, segments), error="L", micro=False)


def _digits(text: str) -> str:
    return "".join(f"{ord(c) - 45:02d}" for c in text)


def jws_from_qr(chunks: Sequence[str]) -> str:
    """The JWS from the QR texts of one card, in any order. Raises `Unreadable` for a missing,
    duplicate or malformed chunk, or chunks of different cards' counts."""
    if isinstance(chunks, str) or not isinstance(chunks, Sequence):
        raise Unreadable("QR chunks: expected a list of texts")
    if not chunks:
        raise Unreadable("QR chunks: none given")
    numbered: dict[int, str] = {}
    counts: set[int] = set()
    unnumbered = 0
    for position, chunk in enumerate(chunks, start=1):
        if not isinstance(chunk, str):
            raise Unreadable(f"QR chunk {position}: not text")
        match = _CHUNK.fullmatch(chunk.strip())
        if match is None:
            raise Unreadable(f"QR chunk {position}: not 'shc:/' followed by digits")
        index_text, count_text, digits = match.groups()
        jws_part = _characters(digits, position)
        if index_text is None:
            unnumbered += 1
            numbered[0] = jws_part
            continue
        index, count = int(index_text), int(count_text)
        if count < 1 or not 1 <= index <= count:
            raise Unreadable(f"QR chunk {position}: chunk number {index} of {count} is out of range")
        if index in numbered:
            raise Unreadable(f"QR chunk {position}: duplicate chunk {index} of {count}")
        counts.add(count)
        numbered[index] = jws_part
    if unnumbered:
        if len(chunks) > 1:
            raise Unreadable("QR chunks: a single-QR card given with other chunks")
        return numbered[0]
    if len(counts) > 1:
        raise Unreadable(f"QR chunks: they disagree on the number of chunks ({sorted(counts)})")
    (count,) = counts
    missing = [i for i in range(1, count + 1) if i not in numbered]
    if missing:
        raise Unreadable(f"QR chunks: missing chunk(s) {missing} of {count}")
    return "".join(numbered[i] for i in range(1, count + 1))


def _characters(digits: str, position: int) -> str:
    if not digits:
        raise Unreadable(f"QR chunk {position}: no digits after the prefix")
    if len(digits) % 2:
        raise Unreadable(f"QR chunk {position}: an odd number of digits")
    text = "".join(chr(int(digits[i : i + 2]) + 45) for i in range(0, len(digits), 2))
    if set(text) - _JWS_CHARS:
        raise Unreadable(f"QR chunk {position}: digit pairs that are not JWS characters")
    return text
