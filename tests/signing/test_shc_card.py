"""A card made from a certificate version: the minimised FHIR Bundle, the credential, a
reproducible signing input and JWS, and the issuer key's JWK and thumbprint."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.certification import Certified, CertifiedDose
from signing.shc import (
    CARD_TYPES,
    NotEncodable,
    assemble,
    bundle,
    credential,
    decode,
    jwk_thumbprint,
    public_jwk,
    sign,
    signing_input,
    verify,
)
from signing.trust import TrustList
from tests.signing.ephemeral import EphemeralSigner
from tests.testdata import TESTDATA

EXAMPLES = TESTDATA / "smart-health-cards" / "examples"
ISS = "https://vaccination.example.vn/shc"


def dose(cvx: str | None, on: str, lot: str | None, site: str = "ABC General Hospital") -> CertifiedDose:
    return CertifiedDose(
        dose_id=f"dose-{on}",
        vaccine="EU/1/20/1528",
        manufacturer="ORG-100030215",
        prophylaxis="J07BX03",
        cvx=cvx,
        number=1,
        series=2,
        administered_on=on,
        lot=lot,
        site_id=site,
    )


def example_00() -> Certified:
    """What the spec's example 00 certifies, as the ledger holds it (family name first)."""
    return Certified(
        person_id="p-1",
        rules_version=1,
        full_name="Anyperson John B.",
        birth_date="1951-01-20",
        status="booster",
        doses=(
            dose("207", "2021-01-01", "0000001"),
            dose("207", "2021-01-29", "0000007"),
            dose("229", "2022-09-05", "0000001"),
        ),
    )


def test_the_bundle_is_the_spec_examples() -> None:
    expected = json.loads((EXAMPLES / "example-00-a-fhirBundle.json").read_text())
    made = bundle(example_00())
    assert made == expected
    # The same member order as the spec's, so a reader comparing the two sees the same card.
    assert json.dumps(made) == json.dumps(expected)


def test_the_bundle_is_minimised() -> None:
    made = bundle(example_00())
    for index, entry in enumerate(made["entry"]):
        assert entry["fullUrl"] == f"resource:{index}"
        resource = entry["resource"]
        assert not {"id", "meta", "text"} & set(resource)
        for coding in resource.get("vaccineCode", {}).get("coding", []):
            assert set(coding) == {"system", "code"}  # no Coding.display
        if resource["resourceType"] == "Immunization":
            assert resource["patient"] == {"reference": "resource:0"}
            assert "text" not in resource["vaccineCode"]  # no CodeableConcept.text


def test_a_dose_without_a_lot_has_no_lot_number() -> None:
    certified = Certified(
        "p", 1, "Trần Thị Bích Ngọc", "1990-02-03", "partial", (dose("208", "2021-07-01", None),)
    )
    made = bundle(certified)
    patient, immunization = (e["resource"] for e in made["entry"])
    assert patient["name"] == [{"family": "Trần", "given": ["Thị", "Bích", "Ngọc"]}]
    assert "lotNumber" not in immunization
    assert immunization["performer"] == [{"actor": {"display": "ABC General Hospital"}}]


def test_what_cannot_be_a_card_is_refused_naming_the_field() -> None:
    no_cvx = Certified(
        "p",
        1,
        "Lê An",
        "1990-02-03",
        "partial",
        (dose("208", "2021-07-01", "L"), dose(None, "2021-08-01", "L")),
    )
    with pytest.raises(NotEncodable, match=r"doses\[1\]\.cvx"):
        bundle(no_cvx)
    with pytest.raises(NotEncodable, match="full_name"):
        bundle(Certified("p", 1, "  ", "1990-02-03", "none", ()))
    with pytest.raises(NotEncodable, match="rid"):
        credential(example_00(), iss=ISS, nbf=1, rid="not/base64url")
    with pytest.raises(NotEncodable, match="rid"):
        credential(example_00(), iss=ISS, nbf=1, rid="A" * 25)
    with pytest.raises(NotEncodable, match="iss"):
        credential(example_00(), iss=ISS + "/", nbf=1, rid=None)
    with pytest.raises(NotEncodable, match="nbf"):
        credential(example_00(), iss=ISS, nbf=-1, rid=None)


def test_the_credential_carries_the_rid_inside_vc() -> None:
    made = credential(example_00(), iss=ISS, nbf=1_700_000_000, rid="MKyCxh7p6uQ")
    assert made == {
        "iss": ISS,
        "nbf": 1_700_000_000,
        "vc": {
            "type": list(CARD_TYPES),
            "credentialSubject": {"fhirVersion": "4.0.1", "fhirBundle": bundle(example_00())},
            "rid": "MKyCxh7p6uQ",
        },
    }
    assert "rid" not in credential(example_00(), iss=ISS, nbf=1, rid=None)["vc"]
    spec = json.loads((EXAMPLES / "example-00-c-jws-payload-minified.json").read_text())
    assert made["vc"]["credentialSubject"] == spec["vc"]["credentialSubject"]


def test_the_signing_input_is_the_header_and_the_raw_deflated_payload() -> None:
    made = credential(example_00(), iss=ISS, nbf=1_700_000_000, rid="MKyCxh7p6uQ")
    head, payload = signing_input(made, "kid-1").split(b".")
    assert json.loads(_unb64(head)) == {"zip": "DEF", "alg": "ES256", "kid": "kid-1"}
    assert _unb64(head) == b'{"zip":"DEF","alg":"ES256","kid":"kid-1"}'
    raw = zlib.decompress(_unb64(payload), wbits=-15)
    assert raw == json.dumps(made, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def test_the_signing_input_does_not_depend_on_how_the_credential_was_built() -> None:
    made = credential(example_00(), iss=ISS, nbf=1_700_000_000, rid="MKyCxh7p6uQ")
    read_back = json.loads(json.dumps(made, sort_keys=True))  # as a JSONB column gives it back
    reordered = {"vc": made["vc"], "nbf": made["nbf"], "iss": made["iss"]}
    assert signing_input(read_back, "k") == signing_input(made, "k") == signing_input(reordered, "k")


def test_the_signing_input_is_the_same_bytes_on_every_machine() -> None:
    # A JWS is assembled again at read time from a signature stored years before: if the JSON or
    # the DEFLATE bytes of the same credential ever changed (another zlib build, a serialiser
    # change), every stored signature would stop verifying. This pins today's bytes.
    made = credential(example_00(), iss=ISS, nbf=1_700_000_000, rid="MKyCxh7p6uQ")
    digest = hashlib.sha256(signing_input(made, "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s")).hexdigest()
    assert digest == PINNED_SIGNING_INPUT


# Measured with zlib 1.2.13 (Debian 12, CPython 3.11).
PINNED_SIGNING_INPUT = "ec5956eb67d495c862947dda10273ea11bc1d3601d31602997fe2f6516494412"


def test_assemble_from_the_stored_signature_is_the_signed_jws() -> None:
    signer = EphemeralSigner()
    kid = signer.kid.decode()
    jws, signature = sign(credential(example_00(), iss=ISS, nbf=1_700_000_000, rid="abc"), signer)
    assert len(signature) == 64
    # Read time: the content from the certificate view, the signature from the issuance event.
    again = credential(example_00(), iss=ISS, nbf=1_700_000_000, rid="abc")
    assert assemble(again, kid, signature) == jws
    assert decode(jws).signature == signature
    assert decode(jws).header["kid"] == kid
    # Other content with the same signature is another JWS, which does not verify.
    other = credential(example_00(), iss=ISS, nbf=1_700_000_001, rid="abc")
    assert assemble(other, kid, signature) != jws
    with pytest.raises(NotEncodable, match="signature"):
        assemble(again, kid, signature[:63])


def test_signing_twice_gives_two_signatures_that_both_verify() -> None:
    # ECDSA signatures are randomised: why the signature is stored once, never made again.
    signer = EphemeralSigner()
    made = credential(example_00(), iss=ISS, nbf=1_700_000_000, rid="abc")
    (first, s1), (second, s2) = sign(made, signer), sign(made, signer)
    assert s1 != s2
    trust = TrustList(shc_keys={(ISS, signer.kid.decode()): signer.key.public_key()})
    at = datetime(2024, 1, 1, tzinfo=UTC)
    assert verify(first, trust, at=at).valid and verify(second, trust, at=at).valid


def test_the_public_jwk_round_trips_through_a_jwks() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(key)
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "use", "alg"}
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("EC", "P-256", "sig", "ES256")
    assert jwk["kid"] == jwk_thumbprint(key) == jwk_thumbprint(key.public_key())
    assert public_jwk(key.public_key(), "given") == {**jwk, "kid": "given"}
    trust = TrustList().add_jwks(ISS, {"keys": [jwk]})
    assert trust.shc_key(ISS, jwk["kid"]) == key.public_key()
    assert len(jwk["x"]) == len(jwk["y"]) == 43  # 32 bytes, unpadded: leading zeros kept


def test_the_thumbprint_is_rfc_7638s() -> None:
    # RFC 7638 §3.1 works its example on an RSA key; for EC the members are crv, kty, x, y.
    # Checked here against the canonical JSON computed by hand from the key's coordinates.
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = public_jwk(key)
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'.encode()
    assert jwk_thumbprint(key) == _b64(hashlib.sha256(canonical).digest())


def test_only_p256_keys_make_a_jwk() -> None:
    with pytest.raises(NotEncodable, match="P-256"):
        jwk_thumbprint(ec.generate_private_key(ec.SECP384R1()).public_key())


def _unb64(text: bytes) -> bytes:
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
