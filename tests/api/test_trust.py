"""`GET /v1/trust-list` and `GET /.well-known/jwks.json`: no token, cacheable, every key ever
made, public parts only; empty, not an error, before any key exists."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from config.settings import Settings
from signing.keys import SigningKeys
from signing.trust import TrustList
from tests.api.conftest import another_worker

PASSPHRASE = "the API tests' passphrase"
ISSUER = "https://doseledger.example"


@pytest.fixture
def settings(store_url: str, tmp_path) -> Settings:
    """The service of tests/api/conftest.py, with a keys folder of this test's own (empty)."""
    return Settings(database_url=store_url, read_wait_seconds=5, signing_keys_dir=str(tmp_path / "signing"))


@pytest.fixture
def keys(settings: Settings) -> SigningKeys:
    assert settings.signing_keys_dir
    return SigningKeys(Path(settings.signing_keys_dir), PASSPHRASE)


def es256_verifies(public_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def public_and_cacheable(response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["content-type"] == "application/json"


def test_without_keys_both_are_empty(service):
    trust_list = service.anonymous().get("/v1/trust-list")
    public_and_cacheable(trust_list)
    assert trust_list.json() == []
    jwks = service.anonymous().get("/.well-known/jwks.json")
    public_and_cacheable(jwks)
    assert jwks.json() == {"keys": []}


def test_with_keys_a_signature_verifies_with_what_they_publish(service, keys):
    keys.create()
    dcc, shc = keys.dcc_signer(), keys.shc_signer()
    assert dcc is not None and shc is not None
    trust_list = service.anonymous().get("/v1/trust-list")
    public_and_cacheable(trust_list)
    assert trust_list.json() == keys.trust_list()
    [entry] = trust_list.json()
    assert base64.b64decode(entry["kid"]) == dcc.kid
    assert entry["thumbprint"] == hashlib.sha256(base64.b64decode(entry["rawData"])).hexdigest()
    dsc = TrustList.from_gateway(trust_list.json()).dsc(dcc.kid)
    assert dsc is not None and es256_verifies(dsc.public_key(), dcc.sign(b"cose"), b"cose")

    jwks = service.anonymous().get("/.well-known/jwks.json")
    public_and_cacheable(jwks)
    [jwk] = jwks.json()["keys"]
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "use", "alg"}  # no "d": public only
    assert jwk["kid"].encode() == shc.kid
    key = TrustList().add_jwks(ISSUER, jwks.json()).shc_key(ISSUER, jwk["kid"])
    assert key is not None and es256_verifies(key, shc.sign(b"jws"), b"jws")


def test_after_a_rotation_both_list_the_retired_keys_too(service, keys):
    keys.create()
    old = keys.dcc_signer()
    old_shc = keys.shc_signer()
    assert old is not None and old_shc is not None
    signed_before = old.sign(b"before the rotation")
    keys.rotate()
    new = keys.dcc_signer()
    assert new is not None
    entries = service.anonymous().get("/v1/trust-list").json()
    assert [base64.b64decode(e["kid"]) for e in entries] == [old.kid, new.kid]
    old_dsc = TrustList.from_gateway(entries).dsc(old.kid)
    assert old_dsc is not None and es256_verifies(old_dsc.public_key(), signed_before, b"before the rotation")
    kids = [jwk["kid"] for jwk in service.anonymous().get("/.well-known/jwks.json").json()["keys"]]
    assert kids[0].encode() == old_shc.kid and len(kids) == 2


def test_no_private_part_in_either_response(service, keys):
    keys.create()
    bodies = (
        service.anonymous().get("/v1/trust-list").text
        + service.anonymous().get("/.well-known/jwks.json").text
    )
    for signer in (keys.dcc_signer(), keys.shc_signer()):
        assert signer is not None
        scalar = signer.private_key.private_numbers().private_value.to_bytes(32, "big")
        for form in (
            scalar.hex(),
            base64.b64encode(scalar).decode(),
            base64.urlsafe_b64encode(scalar).decode(),
        ):
            assert form.rstrip("=") not in bodies
    assert "PRIVATE" not in bodies and '"d"' not in bodies and PASSPHRASE not in bodies


def test_a_token_is_neither_needed_nor_looked_at(service, keys):
    keys.create()
    for headers in ({}, {"Authorization": "Bearer dl_not-a-real-token"}):
        assert service.client.get("/v1/trust-list", headers=headers).status_code == 200
        assert service.client.get("/.well-known/jwks.json", headers=headers).status_code == 200


def test_without_a_folder_set_the_service_reads_the_signing_keys_variable(store_url):
    """As deployed: DOSELEDGER_SIGNING_KEYS_DIR (tests/conftest.py made the run's keys there)."""
    with another_worker(Settings(database_url=store_url)) as client:
        entries = client.get("/v1/trust-list").json()
        jwks = client.get("/.well-known/jwks.json").json()
    assert entries and entries == SigningKeys.from_env().trust_list()
    assert jwks["keys"] and jwks == SigningKeys.from_env().jwks()
