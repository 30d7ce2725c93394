"""Findings of the review of the certificates and feeds work, shown through HTTP."""

from __future__ import annotations

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
