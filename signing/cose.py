"""COSE_Sign1 (RFC 9052) assembled over `cbor2`, its signature made and checked by
`cryptography`: this module writes the structure only, never a primitive.

Why not pycose 1.1.0 (measured with timeit on this box, 2 shared cores, CPython 3.11, one
vaccination DCC, best of 5 x 2,000):
- it cannot read the locked cbor2 (6.x): cbor2 reads a tagged array as a tuple and maps inside
  a tag as frozendicts, which pycose's `CoseMessage.decode` refuses ("Bytes cannot be decoded
  as COSE message") for every COSE_Sign1;
- sign+assemble 0.16-0.18 ms here against 1.0-1.2 ms with pycose; decode+verify 0.16-0.18 ms
  against 2.2 ms (pycose read through a workaround of that incompatibility);
- it pulls certvalidator, oscrypto, asn1crypto, ecdsa and six (about 6 MB) for the few lines
  of structure a Sign1 is.
The eHealth Network's 581 test vectors read and verify with it as they expect, but for the
upstream inconsistencies listed per file in tests/signing/test_dcc_vectors.py.

Deterministic: the protected header and the payload are canonical CBOR (RFC 8949 §4.2.1), so
the same content, key id and signature give the same bytes on every assembly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

COSE_SIGN1_TAG = 18
CWT_TAG = 61
ALG, KID = 1, 4  # the header labels
ES256, ES384, ES512, PS256, RS256 = -7, -35, -36, -37, -257

_EC_ALGORITHMS: dict[int, tuple[hashes.HashAlgorithm, int]] = {
    ES256: (hashes.SHA256(), 32),
    ES384: (hashes.SHA384(), 48),
    ES512: (hashes.SHA512(), 66),
}
ALGORITHM_NAMES = {ES256: "ES256", ES384: "ES384", ES512: "ES512", PS256: "PS256", RS256: "RS256"}


class NotSign1(ValueError):
    """The CBOR read is not a COSE_Sign1 (tag 18 or an untagged array of four)."""


@dataclass(frozen=True)
class Sign1:
    protected: bytes  # the serialised protected header, as signed
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes

    @property
    def protected_header(self) -> dict[Any, Any]:
        """The protected header's map ({} when empty, as RFC 9052 allows a zero-length bstr)."""
        if not self.protected:
            return {}
        header = cbor2.loads(self.protected)
        if not isinstance(header, dict):
            raise NotSign1("the protected header is not a map")
        return header

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected, self.payload)


def canonical(value: Any) -> bytes:
    return cbor2.dumps(value, canonical=True)


def protected_header(alg: int, kid: bytes) -> bytes:
    return canonical({ALG: alg, KID: kid})


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes a Sign1's signature covers (RFC 9052 §4.4), without external data."""
    return canonical(["Signature1", protected, b"", payload])


def encode(message: Sign1) -> bytes:
    """The tagged COSE_Sign1."""
    return canonical(
        cbor2.CBORTag(
            COSE_SIGN1_TAG,
            [message.protected, message.unprotected, message.payload, message.signature],
        )
    )


def decode(data: bytes) -> Sign1:
    """A COSE_Sign1 from its CBOR: tag 18, the CWT tag 61 around it, or an untagged array.

    Raises NotSign1 for any other shape, and whatever `cbor2` raises for bytes that are not CBOR
    (the caller names both)."""
    item = cbor2.loads(data)
    if isinstance(item, cbor2.CBORTag) and item.tag == CWT_TAG:
        item = item.value
    if isinstance(item, cbor2.CBORTag):
        if item.tag != COSE_SIGN1_TAG:
            raise NotSign1(f"CBOR tag {item.tag}, not COSE_Sign1 ({COSE_SIGN1_TAG})")
        item = item.value
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise NotSign1("not an array of four (protected, unprotected, payload, signature)")
    protected, unprotected, payload, signature = item
    if not isinstance(protected, bytes):
        raise NotSign1("the protected header is not a byte string")
    # Inside a tag, cbor2 reads maps as its immutable frozendict.
    if not isinstance(unprotected, Mapping):
        raise NotSign1("the unprotected header is not a map")
    if not isinstance(payload, bytes):
        raise NotSign1("the payload is not a byte string (detached payloads are not certificates)")
    if not isinstance(signature, bytes):
        raise NotSign1("the signature is not a byte string")
    return Sign1(protected, dict(unprotected), payload, signature)


def signature_problem(alg: Any, public_key: Any, signed: bytes, signature: bytes) -> str | None:
    """None when `signature` over `signed` verifies under `public_key` with COSE algorithm
    `alg`; else why not, in words."""
    if not isinstance(alg, int) or isinstance(alg, bool):
        return "unsupported signature algorithm: the protected header names none"
    name = ALGORITHM_NAMES.get(alg, f"algorithm {alg}")
    try:
        if alg in _EC_ALGORITHMS:
            digest, size = _EC_ALGORITHMS[alg]
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                return f"{name} needs an EC key, the signing certificate holds another kind"
            if len(signature) != 2 * size:
                return f"the {name} signature is {len(signature)} bytes, not {2 * size}"
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            public_key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(digest))
        elif alg in (PS256, RS256):
            if not isinstance(public_key, rsa.RSAPublicKey):
                return f"{name} needs an RSA key, the signing certificate holds another kind"
            pad: padding.AsymmetricPadding = (
                # RFC 8230 §2: PSS with MGF1 and a salt as long as the hash.
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
                if alg == PS256
                else padding.PKCS1v15()
            )
            public_key.verify(signature, signed, pad, hashes.SHA256())
        else:
            return f"unsupported signature algorithm {alg}"
    except InvalidSignature:
        return "signature does not verify"
    return None
