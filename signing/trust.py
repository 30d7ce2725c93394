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

    @classmethod
    def from_gateway(cls, entries: Iterable[Mapping[str, Any]]) -> TrustList:
        """From a DSC trust list in the EU gateway's shape (`kid`, `certificateType`, `rawData`:
        base64 DER, `thumbprint`: hex SHA-256 of it, ...), as `/v1/trust-list` serves it.

        Entries of another certificate type are left out. An entry whose kid or thumbprint does
        not match its certificate is refused (ValueError naming the entry and the field): a list
        that contradicts itself was damaged or tampered with on its way."""
        trust = cls()
        for index, entry in enumerate(entries):
            if entry.get("certificateType", "DSC") != "DSC":
                continue
            try:
                der = base64.b64decode(entry["rawData"], validate=True)
                cert = x509.load_der_x509_certificate(der)
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    f"trust list entry {index}: rawData is not a base64 DER certificate"
                ) from None
            kid = dsc_kid(cert)
            if "kid" in entry and entry["kid"] != base64.b64encode(kid).decode("ascii"):
                raise ValueError(f"trust list entry {index}: kid does not match its certificate")
            if "thumbprint" in entry and str(entry["thumbprint"]).lower() != hashlib.sha256(der).hexdigest():
                raise ValueError(f"trust list entry {index}: thumbprint does not match its certificate")
            trust.dscs[kid] = cert
        return trust

    def add_jwks(self, issuer: str, jwks: Mapping[str, Any]) -> TrustList:
        """An issuer's `/.well-known/jwks.json` (its EC P-256 keys; others are ignored).

        A set that is not one, or an EC P-256 key without `kid`, `x` and `y` making a point of
        the curve, is refused (ValueError naming the key): it comes from whoever asks to verify."""
        keys = jwks.get("keys", []) if isinstance(jwks, Mapping) else None
        if not isinstance(keys, list):
            raise ValueError("jwks: `keys` is not a list of JWKs")
        for index, jwk in enumerate(keys):
            if not isinstance(jwk, Mapping):
                raise ValueError(f"jwks key {index}: not a JWK object")
            if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
                continue
            try:
                kid = jwk["kid"]
                if not isinstance(kid, str):
                    raise TypeError(kid)
                x = int.from_bytes(_b64url(jwk["x"]), "big")
                y = int.from_bytes(_b64url(jwk["y"]), "big")
                key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    f"jwks key {index}: not an EC P-256 public key with `kid`, `x` and `y`"
                ) from None
            self.shc_keys[(issuer, kid)] = key
        return self

    def dsc(self, kid: bytes) -> x509.Certificate | None:
        return self.dscs.get(kid)

    def shc_key(self, issuer: str, kid: str) -> ec.EllipticCurvePublicKey | None:
        return self.shc_keys.get((issuer, kid))


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
