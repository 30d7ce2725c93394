"""The public keys a verifier trusts: the DCC's signing certificates (DSCs) by kid, and SMART
Health Card issuers' keys by (issuer, kid)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding


def dsc_kid(certificate: x509.Certificate) -> bytes:
    """The EU DCC key id: the first 8 bytes of the SHA-256 of the certificate's DER."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()[:8]


@dataclass
class TrustList:
    dscs: dict[bytes, x509.Certificate] = field(default_factory=dict)
    shc_keys: dict[tuple[str, str], ec.EllipticCurvePublicKey] = field(default_factory=dict)

    @classmethod
    def of_dscs(cls, certificates: Iterable[x509.Certificate | bytes]) -> TrustList:
        """From certificates, or their DER bytes."""
        trust = cls()
        for c in certificates:
            cert = x509.load_der_x509_certificate(c) if isinstance(c, bytes) else c
            trust.dscs[dsc_kid(cert)] = cert
        return trust

    def add_jwks(self, issuer: str, jwks: Mapping[str, Any]) -> TrustList:
        """An issuer's `/.well-known/jwks.json` (its EC P-256 keys; others are ignored)."""
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
                continue
            x = int.from_bytes(_b64url(jwk["x"]), "big")
            y = int.from_bytes(_b64url(jwk["y"]), "big")
            self.shc_keys[(issuer, jwk["kid"])] = ec.EllipticCurvePublicNumbers(
                x, y, ec.SECP256R1()
            ).public_key()
        return self

    def dsc(self, kid: bytes) -> x509.Certificate | None:
        return self.dscs.get(kid)

    def shc_key(self, issuer: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        return self.shc_keys.get((issuer, kid))


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
