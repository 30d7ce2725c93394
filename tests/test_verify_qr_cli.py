"""`doseledger verify-qr`: a verdict as JSON, exit 0 only when valid."""

from __future__ import annotations

import json

from tests.testdata import TESTDATA

SHC = TESTDATA / "smart-health-cards" / "examples"
WELL_KNOWN = SHC / "issuer" / ".well-known"


def _issuer() -> str:
    return json.loads((SHC / "example-00-c-jws-payload-minified.json").read_text())["iss"]


def _card(example: str) -> str:
    return str(SHC / f"example-{example}-f-qr-code-numeric-value-0.txt")


def _crl() -> str:
    return str(next((WELL_KNOWN / "crl").glob("*.json")))


def test_a_card_of_the_examples_verifies_with_its_issuer_keys(cli):
    code, out, _ = cli(
        "verify-qr", _card("00"), "--jwks", str(WELL_KNOWN / "jwks.json"), "--issuer", _issuer()
    )
    verdict = json.loads(out)
    assert (code, verdict["format"], verdict["valid"], verdict["revoked"]) == (0, "shc", True, False)


def test_the_revoked_example_shows_revoked_with_its_issuer_revocation_list(cli):
    code, out, _ = cli(
        "verify-qr",
        _card("03"),
        "--jwks",
        str(WELL_KNOWN / "jwks.json"),
        "--issuer",
        _issuer(),
        "--crl",
        _crl(),
    )
    verdict = json.loads(out)
    assert (code, verdict["valid"], verdict["revoked"]) == (1, False, True)
    assert verdict["reasons"]


def test_a_card_not_on_the_revocation_list_stays_valid_with_it(cli):
    code, out, _ = cli(
        "verify-qr",
        _card("00"),
        "--jwks",
        str(WELL_KNOWN / "jwks.json"),
        "--issuer",
        _issuer(),
        "--crl",
        _crl(),
    )
    assert (code, json.loads(out)["revoked"]) == (0, False)


def test_a_card_from_an_issuer_not_trusted_does_not_verify(cli):
    code, out, _ = cli(
        "verify-qr", _card("00"), "--jwks", str(WELL_KNOWN / "jwks.json"), "--issuer", "https://else.example"
    )
    verdict = json.loads(out)
    assert (code, verdict["valid"]) == (1, False)
    assert verdict["reasons"]


def test_text_that_is_no_certificate_gets_reasons_and_exit_1(cli):
    code, out, _ = cli("verify-qr", "hello", "--offline")
    verdict = json.loads(out)
    assert (code, verdict["format"], verdict["valid"]) == (1, "unknown", False)


def test_a_missing_trust_list_is_a_one_line_error(cli, tmp_path):
    code, out, err = cli("verify-qr", "HC1:x", "--trust-list", str(tmp_path / "absent.json"))
    assert code == 2 and out == ""
    assert "absent.json" in err and "Traceback" not in err


def test_a_jwks_without_its_issuer_is_a_one_line_error(cli):
    code, _, err = cli("verify-qr", _card("00"), "--jwks", str(WELL_KNOWN / "jwks.json"))
    assert code == 2 and "--issuer" in err


def test_without_a_trust_list_it_looks_revocations_up_in_this_store(cli):
    code, out, err = cli("verify-qr", "HC1:x")
    verdict = json.loads(out)
    assert (code, verdict["format"], verdict["valid"]) == (1, "dcc", False)
    assert verdict["reasons"] and "Traceback" not in err
