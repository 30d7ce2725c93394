"""What a verifier answers about a QR payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Verdict:
    """`valid`: readable, signed by a trusted key, within its validity at the clock given, not
    revoked, and its payload passes the schema. Every reason it is not is in `reasons`, in words
    a verifier can act on ("signature does not verify", "unknown kid 'abc='", ...)."""

    format: str  # "dcc" | "shc" | "unknown"
    valid: bool = False
    revoked: bool = False
    expired: bool = False
    reasons: list[str] = field(default_factory=list)
    payload: dict[str, Any] | None = None
    kid: str | None = None  # base64 (DCC) or the thumbprint (SHC)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "valid": self.valid,
            "revoked": self.revoked,
            "expired": self.expired,
            "reasons": list(self.reasons),
            "payload": self.payload,
            "kid": self.kid,
        }
