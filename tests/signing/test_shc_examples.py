"""The spec's own example cards (smart-on-fhir/health-cards, examples/): each JWS and each numeric
QR decodes, the QR reassembles to the JWS, the payload inflates to the spec's minified JSON,
and the card verifies against the example issuer's keys; example 03 is in its revocation list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from signing.shc import crl_revoked, decode, jwk_thumbprint, jws_from_qr, qr_chunks, verify
from signing.trust import TrustList
from tests.testdata import TESTDATA

EXAMPLES = TESTDATA / "smart-health-cards" / "examples"
NUMBERS = ("00", "01", "02", "03")


def example(number: str, form: str) -> Path:
    (found,) = EXAMPLES.glob(f"example-{number}-{form}-*")
    return found


def jws_of(number: str) -> str:
    return example(number, "d").read_text().strip()


def qr_of(number: str) -> list[str]:
    files = sorted(EXAMPLES.glob(f"example-{number}-f-qr-code-numeric-value-*.txt"))
    assert files, f"no numeric QR files for example {number} in {EXAMPLES}"
    return [f.read_text() for f in files]


def jwks() -> dict[str, Any]:
    return json.loads((EXAMPLES / "issuer" / ".well-known" / "jwks.json").read_text())


def crl() -> dict[str, Any]:
    (found,) = (EXAMPLES / "issuer" / ".well-known" / "crl").glob("*.json")
    return json.loads(found.read_text())


def trust_for(jws: str) -> TrustList:
    return TrustList().add_jwks(decode(jws).credential["iss"], jwks())


def within_validity(jws: str) -> datetime:
    """A clock an hour after the card's nbf: example 03 carries an exp that has long passed."""
    return datetime.fromtimestamp(decode(jws).credential["nbf"], UTC) + timedelta(hours=1)


@pytest.mark.parametrize("number", NUMBERS)
def test_the_numeric_qr_reassembles_to_the_jws(number: str) -> None:
    chunks = qr_of(number)
    assert jws_from_qr(chunks) == jws_of(number)
    assert jws_from_qr(list(reversed(chunks))) == jws_of(number)
    # The spec's own chunking is balanced the same way: the QR texts come out identical.
    assert qr_chunks(jws_of(number)) == [c.strip() for c in chunks]


def test_example_02_is_chunked_in_three() -> None:
    assert len(qr_of("02")) == 3
    assert len(qr_chunks(jws_of("02"))) == 3


@pytest.mark.parametrize("number", NUMBERS)
@pytest.mark.parametrize("form", ["jws", "qr"])
def test_each_form_inflates_to_the_minified_payload(number: str, form: str) -> None:
    card = decode(jws_of(number) if form == "jws" else qr_of(number))
    expected = example(number, "c").read_bytes().strip()
    assert json.loads(expected) == card.credential
    assert json.dumps(card.credential, separators=(",", ":"), ensure_ascii=False).encode() == expected
    assert card.header == {"zip": "DEF", "alg": "ES256", "kid": card.header["kid"]}
    assert card.jws == jws_of(number)
    assert len(card.signature) == 64


@pytest.mark.parametrize("number", ["00", "01"])
@pytest.mark.parametrize("form", ["jws", "qr"])
def test_vaccination_examples_verify_and_are_not_revoked(number: str, form: str) -> None:
    jws = jws_of(number)
    verdict = verify(
        jws if form == "jws" else qr_of(number),
        trust_for(jws),
        at=within_validity(jws),
        revoked=crl_revoked(crl()),
    )
    assert verdict.reasons == []
    assert verdict.valid and not verdict.revoked and not verdict.expired
    assert verdict.payload == decode(jws).credential
    assert verdict.kid == decode(jws).header["kid"]


def test_example_03_verifies_as_revoked() -> None:
    jws = jws_of("03")
    verdict = verify(qr_of("03"), trust_for(jws), at=within_validity(jws), revoked=crl_revoked(crl()))
    assert verdict.revoked and not verdict.valid and not verdict.expired
    assert verdict.reasons == ["revoked by its issuer: issued before 2023-06-22T16:19:25+00:00"]
    # Without the revocation list the same card is valid: the signature is the spec's own.
    assert verify(jws, trust_for(jws), at=within_validity(jws)).valid


def test_example_03_is_expired_today() -> None:
    jws = jws_of("03")
    exp = decode(jws).credential["exp"]
    verdict = verify(jws, trust_for(jws), at=datetime.fromtimestamp(exp, UTC) + timedelta(seconds=1))
    assert verdict.expired and not verdict.valid
    assert verdict.reasons == ["expired at 2024-06-21T16:19:24+00:00"]


def test_example_02_is_genuine_but_not_a_vaccination_card() -> None:
    jws = jws_of("02")
    at = within_validity(jws)
    assert verify(qr_of("02"), trust_for(jws), at=at, vaccination_card=False).valid
    verdict = verify(qr_of("02"), trust_for(jws), at=at)
    assert not verdict.valid
    assert verdict.reasons == [
        "fhirBundle: no Patient",
        "fhirBundle: no Immunization (not a vaccination card)",
    ]


def test_the_example_keys_kids_are_their_thumbprints() -> None:
    trust = TrustList().add_jwks("issuer", jwks())
    assert len(trust.shc_keys) == 2
    for (_, kid), key in trust.shc_keys.items():
        assert jwk_thumbprint(key) == kid


@pytest.mark.parametrize("number", NUMBERS)
def test_another_issuers_name_does_not_verify(number: str) -> None:
    jws = jws_of(number)
    trust = TrustList().add_jwks("https://elsewhere.example", jwks())
    verdict = verify(jws, trust, at=within_validity(jws))
    assert not verdict.valid
    assert verdict.reasons[0] == "unknown issuer 'https://spec.smarthealth.cards/examples/issuer'"
