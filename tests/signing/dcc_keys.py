"""Signing keys made in a test: an ES256 key and its self-signed DSC (never stored anywhere)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from signing.trust import TrustList, dsc_kid

DSC_FROM = datetime(2026, 1, 1, tzinfo=UTC)
DSC_UNTIL = DSC_FROM + timedelta(days=730)


@dataclass
class KeyPairSigner:
    """A Signer (signing/signer.py) over a key made here."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def kid(self) -> bytes:
        return dsc_kid(self.certificate)

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def trust(self) -> TrustList:
        return TrustList.of_dscs([self.certificate])


def make_signer(*, key_usage: list[str] | None = None, name: str = "doseledger test DSC") -> KeyPairSigner:
    """A P-256 key and a self-signed DSC valid over 2026-2027; `key_usage`: the extended key
    usage OIDs to list (None: no extension, which allows every certificate type)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(DSC_FROM)
        .not_valid_after(DSC_UNTIL)
    )
    if key_usage is not None:
        usage = x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in key_usage])
        builder = builder.add_extension(usage, critical=False)
    return KeyPairSigner(key, builder.sign(key, hashes.SHA256()))
