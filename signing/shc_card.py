"""A SMART Health Card made from a certificate version: the FHIR Bundle, the credential (the JWS
payload), its signing input, the compact JWS, and the issuer key's JWK and thumbprint.

Everything here is a pure function of its inputs, so the JWS can be assembled again at read
time from the certificate's content and the signature stored with its issuance, byte for byte:
the payload's JSON has fixed separators and sorted keys (the same bytes however the credential
dict was built or read back), and it is compressed with fixed zlib parameters.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ledger.certification import Certified
from signing.signer import Signer

CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
FHIR_VERSION = "4.0.1"
HEALTH_CARD = "https://smarthealth.cards#health-card"
CARD_TYPES = (HEALTH_CARD, "https://smarthealth.cards#immunization", "https://smarthealth.cards#covid19")

# The spec: a rid uses the base64url alphabet and is at most 24 characters.
_RID = re.compile(r"[A-Za-z0-9_-]{1,24}")
# zlib's best compression, raw DEFLATE (no zlib header: negative window bits), default memory
# level and strategy: the same bytes for the same input on every run of the same zlib.
_DEFLATE = (9, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)


class NotEncodable(ValueError):
    """The content cannot be written as a SMART Health Card; the message names the field."""


def bundle(certified: Certified) -> dict[str, Any]:
    """The FHIR R4 `collection` Bundle in the spec's minimised form (no `id`, `meta`, `text` or
    `display`; `resource:N` URIs): the Patient, then one Immunization per dose, in dose order."""
    family, given = _name_parts(certified.full_name)
    if not certified.birth_date:
        raise NotEncodable("birth_date: empty")
    name: dict[str, Any] = {"family": family}
    if given:
        name["given"] = given
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": "resource:0",
            "resource": {"resourceType": "Patient", "name": [name], "birthDate": certified.birth_date},
        }
    ]
    for index, dose in enumerate(certified.doses, start=1):
        if not dose.cvx:
            # The dose's vaccine is a catalog code, not personal data: safe to name.
            raise NotEncodable(f"doses[{index - 1}].cvx: vaccine {dose.vaccine!r} has no CVX code")
        immunization: dict[str, Any] = {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"coding": [{"system": CVX_SYSTEM, "code": dose.cvx}]},
            "patient": {"reference": "resource:0"},
            "occurrenceDateTime": dose.administered_on,
            "performer": [{"actor": {"display": dose.site_id}}],
        }
        if dose.lot:
            immunization["lotNumber"] = dose.lot
        entries.append({"fullUrl": f"resource:{index}", "resource": immunization})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _name_parts(full_name: str) -> tuple[str, list[str]]:
    """Family name, then the given names. The ledger stores a Vietnamese name family name first
    ("Nguyễn Văn An"): the first word is the family name, the others given names. A shared
    ICAO split (ledger/icao.py) should replace this once it exists."""
    words = full_name.split()
    if not words:
        raise NotEncodable("full_name: empty")
    return words[0], words[1:]


def credential(certified: Certified, *, iss: str, nbf: int, rid: str | None) -> dict[str, Any]:
    """The JWS payload: issuer, issuance time (seconds since the epoch) and the verifiable
    credential, the revocation id inside `vc` as the spec places it."""
    if not iss or iss.endswith("/"):
        raise NotEncodable("iss: must be the issuer's URL, without a trailing slash")
    if isinstance(nbf, bool) or not isinstance(nbf, int) or nbf < 0:
        raise NotEncodable("nbf: must be a non-negative whole number of seconds")
    if rid is not None and not _RID.fullmatch(rid):
        raise NotEncodable("rid: must be 1 to 24 base64url characters")
    vc: dict[str, Any] = {
        "type": list(CARD_TYPES),
        "credentialSubject": {"fhirVersion": FHIR_VERSION, "fhirBundle": bundle(certified)},
    }
    if rid is not None:
        vc["rid"] = rid
    return {"iss": iss, "nbf": nbf, "vc": vc}


def header(kid: str) -> dict[str, str]:
    return {"zip": "DEF", "alg": "ES256", "kid": kid}


def minified(credential: dict[str, Any]) -> bytes:
    """The payload's JSON before compression: no whitespace, sorted keys, UTF-8."""
    return json.dumps(
        credential, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    ).encode()


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(*_DEFLATE)
    return compressor.compress(data) + compressor.flush()


def signing_input(credential: dict[str, Any], kid: str) -> bytes:
    """`base64url(header) . base64url(DEFLATE(payload))`, the bytes ES256 signs."""
    if not kid:
        raise NotEncodable("kid: empty")
    head = json.dumps(header(kid), separators=(",", ":")).encode()
    return f"{b64url(head)}.{b64url(deflate(minified(credential)))}".encode("ascii")


def assemble(credential: dict[str, Any], kid: str, signature: bytes) -> str:
    """The compact JWS from the credential and a stored signature (raw r||s, 64 bytes)."""
    if len(signature) != 64:
        raise NotEncodable(f"signature: {len(signature)} bytes, an ES256 signature is 64 (r||s)")
    return f"{signing_input(credential, kid).decode('ascii')}.{b64url(signature)}"


def sign(credential: dict[str, Any], signer: Signer) -> tuple[str, bytes]:
    """Sign once: the compact JWS and the raw signature to store with the issuance."""
    kid = signer.kid.decode("ascii")
    signature = signer.sign(signing_input(credential, kid))
    return assemble(credential, kid, signature), signature


def _coordinates(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    if not isinstance(public.curve, ec.SECP256R1):
        raise NotEncodable(f"key: curve {public.curve.name}, SMART Health Cards use P-256")
    numbers = public.public_numbers()
    return b64url(numbers.x.to_bytes(32, "big")), b64url(numbers.y.to_bytes(32, "big"))


def jwk_thumbprint(public_key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace,
    base64url without padding. It is the key's `kid` in the header and in the JWKS."""
    x, y = _coordinates(public_key)
    members = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(members.encode()).digest())


def public_jwk(
    key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey, kid: str | None = None
) -> dict[str, str]:
    """The key's entry in the issuer's `/.well-known/jwks.json` (public members only, whatever
    key is given); `kid` defaults to the thumbprint, which the spec requires it to be."""
    x, y = _coordinates(key)
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": x,
        "y": y,
        "kid": kid if kid is not None else jwk_thumbprint(key),
        "use": "sig",
        "alg": "ES256",
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
