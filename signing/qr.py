"""QR codes of a certificate's text, as PNG (segno: pure Python, no imaging library).

The error correction level is the one each specification asks for:
- EU DCC (`HC1:`): Q, per the eHealth Network's guidelines on the 2D code (about 25% of the
  symbol recoverable: printed and phone-screen codes are scanned in poor light). The text is
  base45, whose alphabet is the QR alphanumeric set, so it is one alphanumeric segment.
- SMART Health Cards (`shc:/`): L, per its specification, with two segments: the prefix (and a
  chunk's "C/N/") in byte mode, the digits in numeric mode; a card too large for one code is
  split into chunks by its issuer, one QR each (`png_chunks`).
The level is never raised above the specification's (segno would, when the version has room):
the same text gives the same image on every rendering.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import segno

DCC_PREFIX = "HC1:"
SHC_PREFIX = "shc:/"
# "shc:/" then, for a chunk of a larger card, "C/N/", then the numeric payload.
_SHC = re.compile(r"(shc:/(?:\d+/\d+/)?)(\d+)")
SCALE = 4  # pixels per module: a phone reads it from paper at A6 and on screens
BORDER = 4  # the quiet zone the QR standard asks for, in modules


def png(text: str) -> bytes:
    """The QR of one EU DCC or one SMART Health Card (or one chunk of one), as PNG bytes."""
    qr = _symbol(text)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=SCALE, border=BORDER)
    return out.getvalue()


def png_chunks(texts: Sequence[str]) -> list[bytes]:
    """The QRs of a SMART Health Card split into chunks ("shc:/1/2/...", "shc:/2/2/..."), in
    order, one PNG each."""
    if not texts:
        raise ValueError("texts: no chunk to render")
    return [png(text) for text in texts]


def _symbol(text: str) -> segno.QRCode:
    if text.startswith(DCC_PREFIX):
        return segno.make(text, error="q", mode="alphanumeric", boost_error=False, micro=False)
    match = _SHC.fullmatch(text)
    if match:
        # segno finds each segment's mode: byte for the lower-case prefix, numeric for the digits.
        segments = [match.group(1), match.group(2)]
        return segno.make(segments, error="l", boost_error=False, micro=False)  # type: ignore[arg-type]
    raise ValueError("text: neither an EU DCC (HC1:) nor a SMART Health Card (shc:/) QR text")
