"""What signs: a private key behind a key id (the keys themselves live in `keys.py`)."""

from __future__ import annotations

from typing import Protocol


class Signer(Protocol):
    """An ES256 signer.

    `kid`: for the EU DCC the first 8 bytes of the SHA-256 of the signing certificate (DSC);
    for SMART Health Cards the JWK thumbprint (RFC 7638) as ASCII. `sign` returns the ECDSA P-256
    SHA-256 signature in its raw form, r || s (64 bytes), as COSE and JWS both carry it."""

    @property
    def kid(self) -> bytes: ...  # read-only: a frozen dataclass's field is one

    def sign(self, data: bytes) -> bytes: ...
