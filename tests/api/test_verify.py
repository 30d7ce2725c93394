"""`POST /v1/verify`: any QR payload gets a verdict with reasons, with no token and never a 500."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest

from config.settings import Settings
from tests.testdata import TESTDATA

DGC = TESTDATA / "eu-dcc" / "dgc-testdata"
SHC = TESTDATA / "smart-health-cards" / "examples"


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(database_url=store_url, read_wait_seconds=5, verifications_per_minute=10_000)


def _vector(path: str) -> dict:
    return json.loads((DGC / path).read_text())


def _dcc_body(vector: dict) -> dict:
    context = vector["TESTCTX"]
    return {
        "qr": vector["PREFIX"],
        "at": context["VALIDATIONCLOCK"],
        "trust_list": [_entry(context["CERTIFICATE"])],
    }


def _entry(certificate: str) -> dict:
    """A trust list entry as `GET /v1/trust-list` gives it: the kid is the DSC's own."""
    kid = hashlib.sha256(base64.b64decode(certificate)).digest()[:8]
    return {"kid": base64.b64encode(kid).decode(), "rawData": certificate, "country": "XX"}


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello",
        "HC1:",
        "HC1:!!!!",
        "HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH",
        "shc:/",
        "shc:/12",
        "shc:/2/3/1212",
    ],
)
def test_garbage_gets_a_verdict_with_reasons_not_an_error(service, garbage):
    answer = service.anonymous().post("/v1/verify", json={"qr": garbage})
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert verdict["valid"] is False and verdict["reasons"]


def test_a_clock_without_a_time_zone_is_refused_naming_the_field(service):
    answer = service.anonymous().post("/v1/verify", json={"qr": "HC1:x", "at": "2021-06-01T10:00:00"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert ["body", "at"] in [e["loc"] for e in answer.json()["errors"]]


def test_a_trust_list_that_is_not_one_is_refused_naming_the_field(service):
    answer = service.anonymous().post("/v1/verify", json={"qr": "HC1:x", "trust_list": [{"kid": 1}]})
    assert answer.status_code == 422
    assert ["body", "trust_list"] in [e["loc"] for e in answer.json()["errors"]]


def test_a_jwks_needs_its_issuer(service):
    answer = service.anonymous().post("/v1/verify", json={"qr": "shc:/00", "jwks": {"keys": []}})
    assert answer.status_code == 422
    assert ["body", "issuer"] in [e["loc"] for e in answer.json()["errors"]]


def test_an_eu_test_vector_verifies_against_its_own_signing_certificate(service):
    vector = _vector("common/2DCode/raw/CO1.json") if (DGC / "common/2DCode/raw/CO1.json").exists() else None
    vector = vector or _first_vaccination_vector()
    verdict = service.anonymous().post("/v1/verify", json=_dcc_body(vector)).json()
    assert verdict["format"] == "dcc"
    assert verdict["valid"] is True, verdict["reasons"]
    assert verdict["payload"] == vector["JSON"]


def test_the_same_vector_fails_against_another_signing_certificate(service):
    vector, other = _two_vectors_with_different_signers()
    body = _dcc_body(vector)
    body["trust_list"] = [_entry(other["TESTCTX"]["CERTIFICATE"])]
    verdict = service.anonymous().post("/v1/verify", json=body).json()
    assert verdict["valid"] is False
    assert any("kid" in r or "signature" in r or "trust" in r for r in verdict["reasons"]), verdict["reasons"]


def test_a_tampered_vector_does_not_verify(service):
    vector = _first_vaccination_vector()
    body = _dcc_body(vector)
    text = body["qr"]
    body["qr"] = text[:40] + ("0" if text[40] != "0" else "1") + text[41:]
    verdict = service.anonymous().post("/v1/verify", json=body).json()
    assert verdict["valid"] is False and verdict["reasons"]


@pytest.mark.parametrize("example", ["00", "01", "02", "03"])
def test_the_smart_health_card_examples_verify_with_their_issuer_keys(service, example):
    chunks = [
        p.read_text().strip() for p in sorted(SHC.glob(f"example-{example}-f-qr-code-numeric-value-*.txt"))
    ]
    credential = json.loads((SHC / f"example-{example}-c-jws-payload-minified.json").read_text())
    jwks = json.loads((SHC / "issuer" / ".well-known" / "jwks.json").read_text())
    at = datetime.fromtimestamp(credential["nbf"] + 1, UTC).isoformat()  # 03 has expired since
    body = {
        "qr": chunks if len(chunks) > 1 else chunks[0],
        "jwks": jwks,
        "issuer": credential["iss"],
        "at": at,
    }
    verdict = service.anonymous().post("/v1/verify", json=body).json()
    assert verdict["format"] == "shc"
    # A caller's own issuer: no revocation list is consulted over HTTP, the signature is good.
    assert verdict["valid"] is True, verdict["reasons"]
    assert verdict["payload"] == credential


def test_verifications_are_limited_per_address(ledger, store_url):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.api.conftest import read_side

    limited = Settings(database_url=store_url, verifications_per_minute=3)
    with read_side(ledger, store_url) as views:
        app = create_app(limited, ledger=ledger, views=views)
        with TestClient(app, raise_server_exceptions=False) as client:
            codes = [client.post("/v1/verify", json={"qr": "HC1:x"}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def _vaccination_vectors() -> list[dict]:
    found = []
    for path in sorted(DGC.rglob("*.json")):
        try:
            vector = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        expected = vector.get("EXPECTEDRESULTS", {})
        if (
            isinstance(vector.get("JSON"), dict)
            and "v" in vector["JSON"]
            and vector.get("PREFIX")
            and vector.get("TESTCTX", {}).get("CERTIFICATE")
            and expected.get("EXPECTEDVERIFY") is True
            and expected.get("EXPECTEDSCHEMAVALIDATION", True) is True
            and expected.get("EXPECTEDEXPIRATIONCHECK", True) is True
            and expected.get("EXPECTEDVALIDJSON", True) is True
            and expected.get("EXPECTEDKEYUSAGE", True) is True
        ):
            found.append(vector)
    return found


def _first_vaccination_vector() -> dict:
    return _vaccination_vectors()[0]


def _two_vectors_with_different_signers() -> tuple[dict, dict]:
    vectors = _vaccination_vectors()
    first = vectors[0]
    other = next(v for v in vectors if v["TESTCTX"]["CERTIFICATE"] != first["TESTCTX"]["CERTIFICATE"])
    return first, other
