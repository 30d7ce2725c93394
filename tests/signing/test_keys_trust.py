"""The gateway's trust list form against third-party data: an EU DCC test vector verifies through
`TrustList.from_gateway`, and a list that contradicts its certificates is refused."""

from __future__ import annotations

import base64
import json

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from signing.trust import TrustList, dsc_kid
from tests.testdata import TESTDATA

# An EU DCC test vector signed with ES256 (its TESTCTX: "VALID: EC 256 key").
DE_VECTOR = TESTDATA / "eu-dcc" / "dgc-testdata" / "DE" / "2DCode" / "raw" / "1.json"


def gateway_entry(certificate_b64: str) -> dict:
    cert = x509.load_der_x509_certificate(base64.b64decode(certificate_b64))
    return {
        "kid": base64.b64encode(dsc_kid(cert)).decode(),
        "country": "DE",
        "certificateType": "DSC",
        "rawData": certificate_b64,
    }


def test_a_published_eu_test_vector_verifies_through_a_gateway_trust_list():
    vector = json.loads(DE_VECTOR.read_text(encoding="utf-8"))
    assert vector["EXPECTEDRESULTS"]["EXPECTEDVERIFY"] is True
    sign1 = cbor2.loads(bytes.fromhex(vector["COSE"]))
    protected, unprotected, payload, signature = sign1.value
    header = cbor2.loads(protected)
    assert header[1] == -7  # ES256
    kid = header.get(4) or unprotected[4]
    trust = TrustList.from_gateway([gateway_entry(vector["TESTCTX"]["CERTIFICATE"])])
    dsc = trust.dsc(kid)
    assert dsc is not None, "the vector's kid is the first 8 bytes of its DSC's SHA-256"
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public = dsc.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA256()))


def test_a_gateway_entry_that_contradicts_its_certificate_is_refused_naming_the_field():
    vector = json.loads(DE_VECTOR.read_text(encoding="utf-8"))
    entry = gateway_entry(vector["TESTCTX"]["CERTIFICATE"])
    with pytest.raises(ValueError, match="entry 1: kid"):
        TrustList.from_gateway([entry, {**entry, "kid": base64.b64encode(b"12345678").decode()}])
    with pytest.raises(ValueError, match="entry 0: thumbprint"):
        TrustList.from_gateway([{**entry, "thumbprint": "00" * 32}])
    with pytest.raises(ValueError, match="entry 0: rawData"):
        TrustList.from_gateway([{**entry, "rawData": "not base64!"}])
    # Another kind of certificate (a CSCA, an upload certificate) is not a signer: left out.
    assert TrustList.from_gateway([{**entry, "certificateType": "CSCA"}]).dscs == {}
