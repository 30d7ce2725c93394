"""A certificate issued here verifies in a verifier that shares none of the project's signing
code, given only what a verifier elsewhere would download: the trust list (`GET /v1/trust-list`)
and the issuer's JWKS (`GET /.well-known/jwks.json`).

Why this counts as independent: no module of `signing/` (nor `ledger/certification.py`) is
imported here. The EU DCC is decoded with `base45`, `zlib` and `cbor2` directly and its
COSE_Sign1 checked with `cryptography` against the DSC that the trust list's `rawData` holds
(by `kid`, itself recomputed from the DER). No JOSE library is installed, so the SMART Health
Card is checked with `cryptography` too: the numeric QR decoded, the compact JWS split, the
payload inflated (raw DEFLATE) and the ES256 signature checked against the JWK whose RFC 7638
thumbprint is the header's `kid`. A wrong decoding or signing here and a wrong one there would
have to agree byte for byte to pass.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

import base45
import cbor2
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from ledger.values import Actor
from projections import open_views
from projections.running import start_embedded
from tests.api.conftest import Service
from tests.api.signed import run_keys_sign
from tests.readside import FAST, signed_and_caught_up

SITE = Actor("site-token-1", "site")
HCERT, EU_DCC_V1, ES256 = -260, 1, -7


class NotGenuine(Exception):
    """The independent verifier's refusal, with its reason."""


# --- the verifier: only base45, zlib, cbor2, json and cryptography -------------------------------


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _es256(public: ec.EllipticCurvePublicKey, signature: bytes, signed: bytes) -> None:
    if len(signature) != 64:
        raise NotGenuine("an ES256 signature is 64 bytes (r||s)")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise NotGenuine("the signature does not verify") from None


def verify_hc1(text: str, trust_list: list[dict[str, Any]]) -> dict[str, Any]:
    """The CWT claims of a genuine `HC1:` text (else NotGenuine)."""
    if not text.startswith("HC1:"):
        raise NotGenuine("no HC1: prefix")
    cose = cbor2.loads(zlib.decompress(base45.b45decode(text[4:])))
    if not (isinstance(cose, cbor2.CBORTag) and cose.tag == 18):
        raise NotGenuine("not a tagged COSE_Sign1")
    protected_bytes, unprotected, payload, signature = cose.value
    protected = cbor2.loads(protected_bytes) if protected_bytes else {}
    if protected.get(1) != ES256:
        raise NotGenuine("not ES256")
    kid = protected.get(4, unprotected.get(4))
    entries = [e for e in trust_list if base64.b64decode(e["kid"]) == kid]
    if len(entries) != 1:
        raise NotGenuine("no DSC of this kid in the trust list")
    der = base64.b64decode(entries[0]["rawData"])
    if hashlib.sha256(der).digest()[:8] != kid:
        raise NotGenuine("the kid is not the DSC's SHA-256 prefix")
    dsc = x509.load_der_x509_certificate(der)
    public = dsc.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    _es256(public, signature, signed)
    claims: dict[str, Any] = cbor2.loads(payload)
    return claims


def jws_of(chunks: list[str]) -> str:
    """The compact JWS of a `shc:/` QR (one chunk, or `shc:/i/n/…` chunks in any order)."""
    parts: dict[int, str] = {}
    for chunk in chunks:
        found = re.fullmatch(r"shc:/(?:(\d+)/(\d+)/)?(\d+)", chunk)
        if not found or len(found[3]) % 2:
            raise NotGenuine("not a numeric shc:/ chunk")
        if found[1] and int(found[2]) != len(chunks):
            raise NotGenuine("chunk count differs")
        parts[int(found[1] or 1)] = found[3]
    digits = "".join(parts[i] for i in sorted(parts))
    return "".join(chr(int(digits[i : i + 2]) + 45) for i in range(0, len(digits), 2))


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def verify_shc(chunks: list[str], jwks: dict[str, Any], issuer: str) -> dict[str, Any]:
    """The JWS payload of a genuine SMART Health Card of `issuer` (else NotGenuine)."""
    header_b64, payload_b64, signature_b64 = jws_of(chunks).split(".")
    header = json.loads(_b64url(header_b64))
    if (header.get("alg"), header.get("zip")) != ("ES256", "DEF"):
        raise NotGenuine("not ES256 with zip DEF")
    keys = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
    if len(keys) != 1 or jwk_thumbprint(keys[0]) != header["kid"]:
        raise NotGenuine("no key of this kid, or the kid is not its thumbprint")
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64url(keys[0]["x"]), "big"),
        int.from_bytes(_b64url(keys[0]["y"]), "big"),
        ec.SECP256R1(),
    )
    _es256(numbers.public_key(), _b64url(signature_b64), f"{header_b64}.{payload_b64}".encode())
    payload: dict[str, Any] = json.loads(zlib.decompress(_b64url(payload_b64), wbits=-15))
    if payload.get("iss") != issuer:
        raise NotGenuine("another issuer's card")
    return payload


# --- the certificate, issued through the ledger and read as a user gets it ------------------------


@pytest.fixture
def issued(ledger, store_url: str) -> Iterator[tuple[Service, str]]:
    """A person of two doses, their certificate signed by the projector's issuer with the run's keys."""
    receipt = ledger.record_dose(
        site_id="HN-001",
        site_record_id="R1",
        vaccine="EU/1/20/1528",
        lot="FA1234",
        administered_at="2021-07-01",
        person={
            "full_name": "Nguyễn Thị Hương",
            "birth_date": "1990-02-03",
            "sex": "female",
            "national_id": None,
            "phone": None,
            "province": "01",
            "district": "Ba Đình",
            "address": "12 Phố Huế",
        },
        actor=SITE,
    )
    ledger.record_dose(
        site_id="HN-001",
        site_record_id="R2",
        vaccine="EU/1/20/1528",
        lot="FA5678",
        administered_at="2021-08-01",
        person_id=receipt.person_id,
        actor=SITE,
    )
    projector = start_embedded(store_url, sign=run_keys_sign(ledger), **FAST)
    views = open_views(store_url, ledger=ledger)
    try:
        signed_and_caught_up(views, ledger)
        app = create_app(Settings(database_url=store_url, read_wait_seconds=5), ledger=ledger, views=views)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Service(app, client, ledger), str(receipt.person_id)
    finally:
        projector.stop()


def published(service: Service) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The trust list and the JWKS, as anyone downloads them (no token)."""
    anyone = service.anonymous()
    trust_list, jwks = anyone.get("/v1/trust-list"), anyone.get("/.well-known/jwks.json")
    assert trust_list.status_code == jwks.status_code == 200, (trust_list.text, jwks.text)
    return trust_list.json(), jwks.json()


def test_the_dccs_verify_with_only_the_trust_list(issued):
    service, person_id = issued
    trust_list, _ = published(service)
    body = service.caller("admin").get(f"/v1/certificates/{person_id}/dcc").json()
    assert len(body["documents"]) == 2
    for document, day in zip(body["documents"], ("2021-07-01", "2021-08-01"), strict=True):
        claims = verify_hc1(document["qr"], trust_list)
        assert claims[1] == "VN" and claims[4] > claims[6]  # iss; exp after iat
        hcert = claims[HCERT][EU_DCC_V1]
        assert hcert["nam"] == {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Thị Hương", "gnt": "THI<HUONG"}
        [vaccination] = hcert["v"]
        assert (vaccination["dt"], vaccination["ci"], vaccination["mp"]) == (
            day,
            document["uvci"],
            "EU/1/20/1528",
        )
        assert (vaccination["dn"], vaccination["sd"], vaccination["tg"]) == (document["dn"], 2, "840539006")


def test_the_smart_health_card_verifies_with_only_the_jwks(issued):
    service, person_id = issued
    _, jwks = published(service)
    body = service.caller("admin").get(f"/v1/certificates/{person_id}/shc").json()
    issuer = service.app.state.settings.certificate_issuer_url
    payload = verify_shc(body["qr"], jwks, issuer)
    assert jws_of(body["qr"]) == body["jws"]
    resources = [e["resource"] for e in payload["vc"]["credentialSubject"]["fhirBundle"]["entry"]]
    assert [r["birthDate"] for r in resources if r["resourceType"] == "Patient"] == ["1990-02-03"]
    assert [r["occurrenceDateTime"] for r in resources if r["resourceType"] == "Immunization"] == [
        "2021-07-01",
        "2021-08-01",
    ]


def test_the_independent_verifier_refuses_a_tampered_or_unknown_certificate(issued):
    """The checks above can fail: a changed payload, a foreign key, another issuer are refused."""
    service, person_id = issued
    trust_list, jwks = published(service)
    admin = service.caller("admin")
    text = admin.get(f"/v1/certificates/{person_id}/dcc").json()["documents"][0]["qr"]
    cose = cbor2.loads(zlib.decompress(base45.b45decode(text[4:])))
    protected, unprotected, payload, signature = cose.value
    claims = cbor2.loads(payload)
    claims[HCERT][EU_DCC_V1]["dob"] = "1991-02-03"
    tampered = cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(claims), signature])
    forged = "HC1:" + base45.b45encode(zlib.compress(cbor2.dumps(tampered))).decode()
    with pytest.raises(NotGenuine, match="signature"):
        verify_hc1(forged, trust_list)
    with pytest.raises(NotGenuine, match="kid"):
        verify_hc1(text, [{**e, "kid": base64.b64encode(b"\0" * 8).decode()} for e in trust_list])
    chunks = admin.get(f"/v1/certificates/{person_id}/shc").json()["qr"]
    with pytest.raises(NotGenuine, match="issuer"):
        verify_shc(chunks, jwks, "https://elsewhere.example")
    header, _, jws_signature = jws_of(chunks).split(".")
    other = base64.urlsafe_b64encode(zlib.compress(b'{"iss":"x"}')[2:-4]).rstrip(b"=").decode()
    with pytest.raises(NotGenuine, match="signature"):
        verify_shc([as_qr(f"{header}.{other}.{jws_signature}")], jwks, "x")


def as_qr(jws: str) -> str:
    return "shc:/" + "".join(f"{ord(c) - 45:02d}" for c in jws)
