"""The signature algorithms a verifier meets besides our ES256: RSA-PSS and RSA PKCS#1 v1.5
DSCs (some issuers sign so), a key of the wrong kind, an algorithm not supported, and a kid
given in the unprotected header only."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import base45
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from signing import cose, dcc
from signing.trust import TrustList, dsc_kid
from tests.signing.dcc_keys import DSC_FROM, DSC_UNTIL, make_signer
from tests.signing.test_dcc import EXP, IAT, the_hcert

AT = DSC_FROM + timedelta(days=40)


def _rsa_dsc() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "doseledger test RSA DSC")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(DSC_FROM)
        .not_valid_after(DSC_UNTIL)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _text(protected: dict, unprotected: dict, sign: Callable[[bytes], bytes]) -> str:
    header = cose.canonical(protected)
    claims = cose.canonical({1: "VN", 4: EXP, 6: IAT, -260: {1: the_hcert()}})
    message = cose.Sign1(header, unprotected, claims, sign(cose.sig_structure(header, claims)))
    return "HC1:" + base45.b45encode(zlib.compress(cose.encode(message))).decode()


@pytest.mark.parametrize(
    ("alg", "pad"),
    [
        (cose.PS256, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)),
        (cose.RS256, padding.PKCS1v15()),
    ],
)
def test_an_rsa_dsc_verifies(alg: int, pad: padding.AsymmetricPadding) -> None:
    key, certificate = _rsa_dsc()
    kid = dsc_kid(certificate)
    text = _text({1: alg, 4: kid}, {}, lambda data: key.sign(data, pad, hashes.SHA256()))
    assert dcc.verify(text, TrustList.of_dscs([certificate]), at=AT).valid
    other = _text({1: alg, 4: kid}, {}, lambda data: _rsa_dsc()[0].sign(data, pad, hashes.SHA256()))
    assert dcc.verify(other, TrustList.of_dscs([certificate]), at=AT).reasons == ["signature does not verify"]


def test_an_es256_header_over_an_rsa_key_is_refused_in_words() -> None:
    key, certificate = _rsa_dsc()
    pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    text = _text(
        {1: cose.ES256, 4: dsc_kid(certificate)}, {}, lambda data: key.sign(data, pad, hashes.SHA256())
    )
    verdict = dcc.verify(text, TrustList.of_dscs([certificate]), at=AT)
    assert verdict.reasons == ["ES256 needs an EC key, the signing certificate holds another kind"]


@pytest.mark.parametrize(("alg", "reason"), [(-8, "unsupported signature algorithm -8"), ("ES256", None)])
def test_an_algorithm_not_supported_is_named(alg: object, reason: str | None) -> None:
    signer = make_signer()
    text = _text({1: alg, 4: signer.kid}, {}, signer.sign)
    expected = reason or "unsupported signature algorithm: the protected header names none"
    assert dcc.verify(text, signer.trust(), at=AT).reasons == [expected]


def test_a_kid_in_the_unprotected_header_only_finds_its_dsc() -> None:
    signer = make_signer()
    text = _text({1: cose.ES256}, {4: signer.kid}, signer.sign)
    assert dcc.decode(text).kid == signer.kid
    assert dcc.verify(text, signer.trust(), at=AT).valid


def test_the_protected_kid_wins_over_the_unprotected_one() -> None:
    signer = make_signer()
    text = _text({1: cose.ES256, 4: b"\0" * 8}, {4: signer.kid}, signer.sign)
    verdict = dcc.verify(text, signer.trust(), at=AT)
    assert verdict.reasons == ["unknown kid 'AAAAAAAAAAA=': not a trusted signer"]


def test_no_kid_at_all_is_named() -> None:
    signer = make_signer()
    text = _text({1: cose.ES256}, {}, signer.sign)
    assert dcc.verify(text, signer.trust(), at=datetime(2026, 3, 1, tzinfo=UTC)).reasons == [
        "no kid in the COSE headers: the signer cannot be found"
    ]
