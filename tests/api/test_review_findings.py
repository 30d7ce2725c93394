"""Findings of the review of the certificates and feeds work, shown through HTTP."""

from __future__ import annotations

import json

import pytest

from config.settings import Settings


@pytest.fixture
def settings(store_url: str) -> Settings:
    return Settings(database_url=store_url, read_wait_seconds=5, verifications_per_minute=10_000)


@pytest.mark.parametrize(
    "jwks",
    [
        {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k"}]},  # no x, y
        {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k", "x": "AA", "y": "AA"}]},  # not on the curve
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]},  # no kid
        {"keys": ["not a key"]},
        {"keys": "none"},
    ],
)
def test_a_jwks_that_is_not_one_is_refused_naming_the_field_not_a_500(service, jwks):
    answer = service.anonymous().post(
        "/v1/verify", json={"qr": "shc:/00", "jwks": jwks, "issuer": "https://example.org"}
    )
    assert answer.status_code == 422, answer.text
    assert ["body", "jwks"] in [e["loc"] for e in answer.json()["errors"]]


def test_a_patient_name_with_a_null_given_name_is_not_a_500(service):
    """intake/fhir/bundle.py:328 joins Patient.name.given as strings; the model validation lets a
    null item through (FHIR JSON writes one where `_given` carries the value's extension), and
    the join raises TypeError: a 500 from POST /v1/fhir."""
    from tests.api.test_fhir import SITE, SITE_ID, SYSTEM, example

    service.ledger.register_site(
        SITE_ID, name="Trạm Y tế Ba Đình", kind="official", province="01", actor=SYSTEM
    )
    bundle = example("00")
    bundle["entry"][0]["resource"]["name"][0]["given"] = [None, "B."]
    answer = service.caller("site", **SITE).post(
        "/v1/fhir", content=json.dumps(bundle), headers={"Content-Type": "application/fhir+json"}
    )
    assert answer.status_code in (200, 400), answer.text


def test_a_cvrs_file_refused_whole_does_not_quote_a_persons_data(service):
    """intake/cvrs/reading.py:104-106 quotes the header's unknown columns in the 422; a file
    sent without its header row has a data row there, so the problem detail carries the
    person's name and date of birth."""
    from tests.cvrs_files import cvrs_file, cvrs_row

    lines = cvrs_file(cvrs_row(recip_first_name="Hương", recip_last_name="Nguyễn")).decode().split("\r\n")
    answer = service.caller("admin").post(
        "/v1/cvrs",
        content="\r\n".join(lines[1:]).encode(),
        headers={"Content-Type": "text/tab-separated-values"},
    )
    assert answer.status_code == 422, answer.text
    for personal in ("hương", "nguyễn", "1990-05-17"):
        assert personal not in answer.text.lower()


def _cursor(value: object) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "url",
    [
        # api/signed/lists.py: a cursor whose UVCI holds a NUL reaches PostgreSQL, which refuses it
        "/v1/revocations?cursor=" + _cursor([1, "a\u0000"]),
        # api/signed/lists.py: a kid with a NUL, the same
        "/.well-known/crl/%00.json",
    ],
)
def test_a_nul_in_a_public_lists_parameter_is_not_a_500(service, url):
    answer = service.anonymous().get(url)
    assert answer.status_code < 500, answer.text


def test_a_site_pull_back_position_beyond_64_bits_is_a_422(service):
    """api/sites/doses.py:86 bounds since_position below only; one beyond 64 bits comes back as
    next_since_position, which orjson cannot write: a 500."""
    from tests.api.test_fhir import SITE_ID, SYSTEM

    service.ledger.register_site(
        SITE_ID, name="Trạm Y tế Ba Đình", kind="official", province="01", actor=SYSTEM
    )
    answer = service.caller("admin").get(f"/v1/sites/{SITE_ID}/doses?since_position={2**64}")
    assert answer.status_code == 422, answer.text


def _forged_dcc(uvci: str) -> str:
    """An unsigned HC1 text whose vaccination entry has this `ci` (no key signed it)."""
    import zlib

    import base45
    import cbor2

    payload = {1: "VN", 4: 2_000_000_000, 6: 1_600_000_000, -260: {1: {"ver": "1.3.0", "v": [{"ci": uvci}]}}}
    protected = cbor2.dumps({1: -7, 4: b"12345678"})
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, cbor2.dumps(payload), b"\0" * 64]))
    return "HC1:" + base45.b45encode(zlib.compress(cose)).decode()


def test_a_forged_dcc_with_a_nul_in_its_uvci_gets_a_verdict_not_a_500(service):
    """signing/dcc.py:288 asks for the revocation of any decoded DCC, signed or not; on
    PostgreSQL a `ci` holding a NUL reaches the store through api/verify/router.py and the
    issuances view, which refuse it: anyone, with no token, gets a 500 from POST /v1/verify."""
    answer = service.anonymous().post("/v1/verify", json={"qr": _forged_dcc("URN:UVCI:01:VN:A\u0000#1")})
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is False
