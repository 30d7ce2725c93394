"""SMART Health Cards: what others import. The card (`shc_card.py`: FHIR Bundle, credential,
signing input, compact JWS, the issuer key's JWK and thumbprint), its QR text (`shc_qr.py`), and
reading and checking it (`shc_verify.py`)."""

from __future__ import annotations

from signing.shc_card import (
    CARD_TYPES,
    CVX_SYSTEM,
    FHIR_VERSION,
    NotEncodable,
    assemble,
    bundle,
    credential,
    jwk_thumbprint,
    public_jwk,
    sign,
    signing_input,
)
from signing.shc_qr import Unreadable, jws_from_qr, qr_chunks, qr_code
from signing.shc_verify import Decoded, RevocationCheck, crl_revoked, decode, verify

__all__ = [
    "CARD_TYPES",
    "CVX_SYSTEM",
    "FHIR_VERSION",
    "Decoded",
    "NotEncodable",
    "RevocationCheck",
    "Unreadable",
    "assemble",
    "bundle",
    "credential",
    "crl_revoked",
    "decode",
    "jwk_thumbprint",
    "jws_from_qr",
    "public_jwk",
    "qr_chunks",
    "qr_code",
    "sign",
    "signing_input",
    "verify",
]
