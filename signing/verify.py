"""One verifier for both formats: whatever a scanner read, a verdict with its reasons.

An `HC1:` text is an EU DCC (signing/dcc.py), `shc:/` text a SMART Health Card, in one chunk or
several (one per line, or as a list; signing/shc.py). Anything else is a verdict too — format
"unknown", with the reason — never an exception: a verifier at a border or a pharmacy scans what
people hand it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from signing import dcc, shc
from signing.trust import TrustList
from signing.verdict import Verdict


class Revocations(Protocol):
    """Where a verifier learns that a certificate was revoked: a reason, or None."""

    def dcc_revoked(self, uvci: str, country: str) -> str | None: ...

    def shc_revoked(self, issuer: str, kid: str, rid: str, nbf: int) -> str | None: ...


def chunks_of(scanned: str | Sequence[str]) -> list[str]:
    """The scanned text as its non-empty lines (a multi-part card: one chunk per line)."""
    parts = [scanned] if isinstance(scanned, str) else list(scanned)
    return [line.strip() for part in parts for line in part.splitlines() if line.strip()]


def verify_qr(
    scanned: str | Sequence[str],
    trust: TrustList,
    *,
    at: datetime,
    revocations: Revocations | None = None,
) -> Verdict:
    chunks = chunks_of(scanned)
    if not chunks:
        return Verdict("unknown", reasons=["nothing to verify: the text is empty"])
    if chunks[0].upper().startswith("HC1:"):
        if len(chunks) > 1:
            return Verdict("dcc", reasons=["an EU DCC is one QR code: more than one text was given"])
        return dcc.verify(chunks[0], trust, at=at, revoked=revocations.dcc_revoked if revocations else None)
    if all(c.lower().startswith("shc:/") for c in chunks):
        # Any genuine card is valid here, a lab result's too: what it certifies is in `payload`.
        return shc.verify(
            chunks,
            trust,
            at=at,
            revoked=revocations.shc_revoked if revocations else None,
            vaccination_card=False,
        )
    return Verdict(
        "unknown",
        reasons=["not an EU DCC (`HC1:`) or a SMART Health Card (`shc:/`): the text starts otherwise"],
    )
