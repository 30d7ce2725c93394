"""The certificates of the EU DCC's trust chain: a country signing CA and the DSCs it issues.

A CSCA is self-signed and signs nothing but DSCs (key cert sign, CRL sign; path length 0). A DSC
(document signer certificate) carries the key that signs certificates: digital signature only,
and the EU DCC's extended key usages, which a verifier reads as "may sign tests, vaccinations,
recoveries". Both EC P-256, signed with SHA-256. The keys themselves live in `keys.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CSCA_DAYS = 3653  # ten years
# A DSC signs for about two years; the CSCA outlives several rotations of them.
DSC_DAYS = 730
# The EU DCC's extended key usages: test, vaccination, recovery (in that order of the OIDs).
DCC_KEY_USAGES = (
    x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.1"),
    x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.2"),
    x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.3"),
)


def self_signed_csca(
    key: ec.EllipticCurvePrivateKey, *, country: str, organisation: str, now: datetime
) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} CSCA"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=CSCA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def issued_dsc(
    csca: x509.Certificate,
    csca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePublicKey,
    *,
    number: int,
    now: datetime,
) -> x509.Certificate:
    """The DSC of `key`, the `number`th the CSCA issues; never valid beyond the CSCA."""
    subject = x509.Name(
        [
            *csca.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME),
            *csca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation(csca)} DSC {number}"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(csca.subject)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(min(now + timedelta(days=DSC_DAYS), csca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(DCC_KEY_USAGES)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(csca_key.public_key()), critical=False
        )
        .sign(csca_key, hashes.SHA256())
    )


def organisation(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value)


def country(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value)


def _usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )
