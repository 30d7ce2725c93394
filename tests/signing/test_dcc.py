"""The EU DCC of one dose: its payload, its signing, its QR text rebuilt from the stored
signature, and the verifier's verdicts on our own certificates."""

from __future__ import annotations

import base64
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import base45
import cbor2
import pytest

from ledger.certification import Certified, CertifiedDose, uvci
from signing import cose, dcc, schema
from signing.trust import TrustList
from tests.signing.dcc_keys import DSC_FROM, make_signer

UVCI_KEY = b"k" * 32
ISSUER = "Ministry of Health of Viet Nam"
IAT = int((DSC_FROM + timedelta(days=10)).timestamp())
EXP = IAT + 365 * 86400
AT = DSC_FROM + timedelta(days=40)

DOSE_1 = CertifiedDose(
    dose_id="d-1",
    vaccine="EU/1/20/1528",
    manufacturer="ORG-100030215",
    prophylaxis="J07BX03",
    cvx="208",
    number=1,
    series=2,
    administered_on="2021-07-01",
    lot="FA1234",
    site_id="s-1",
)
DOSE_2 = replace(DOSE_1, dose_id="d-2", number=2, administered_on="2021-08-01")
CERTIFIED = Certified(
    person_id="p-1",
    rules_version=1,
    full_name="Nguyễn Thị Hương",
    birth_date="1990-03-04",
    status="complete",
    doses=(DOSE_1, DOSE_2),
)


def the_hcert(certified: Certified = CERTIFIED, index: int = 1) -> dict:
    return dcc.hcert(certified, index, uvci("c-1", index, UVCI_KEY), issuer=ISSUER)


def test_the_payload_is_one_dose_of_the_version_in_dcc_1_3_0() -> None:
    payload = the_hcert()
    assert payload == {
        "ver": "1.3.0",
        "nam": {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Thị Hương", "gnt": "THI<HUONG"},
        "dob": "1990-03-04",
        "v": [
            {
                "tg": "840539006",
                "vp": "J07BX03",
                "mp": "EU/1/20/1528",
                "ma": "ORG-100030215",
                "dn": 2,
                "sd": 2,
                "dt": "2021-08-01",
                "co": "VN",
                "is": ISSUER,
                "ci": uvci("c-1", 1, UVCI_KEY),
            }
        ],
    }
    assert schema.validate(payload) == []


def test_a_one_word_name_has_no_given_name() -> None:
    payload = the_hcert(replace(CERTIFIED, full_name="Hương"), 0)
    assert payload["nam"] == {"fn": "Hương", "fnt": "HUONG"}
    assert schema.validate(payload) == []


@pytest.mark.parametrize("full_name", ["李 Hương", "Nguyễn 李", "  "])
def test_a_name_without_an_icao_form_is_refused_naming_the_field(full_name: str) -> None:
    with pytest.raises(ValueError, match="^full_name: ") as caught:
        the_hcert(replace(CERTIFIED, full_name=full_name), 0)
    assert "李" not in str(caught.value) and "Hương" not in str(caught.value)


def test_a_dose_the_version_does_not_hold_is_refused_naming_the_index() -> None:
    with pytest.raises(ValueError, match="index"):
        the_hcert(index=2)


def test_a_dose_without_manufacturer_is_refused_naming_the_field() -> None:
    certified = replace(CERTIFIED, doses=(replace(DOSE_1, manufacturer=None),))
    with pytest.raises(ValueError, match=r"doses\[0\]\.manufacturer"):
        the_hcert(certified, 0)


def test_the_signed_bytes_are_the_cose_sig_structure_of_the_cwt() -> None:
    kid = b"12345678"
    signed = cbor2.loads(dcc.signed_bytes(the_hcert(), kid=kid, iss="VN", iat=IAT, exp=EXP))
    context, protected, external, payload = signed
    assert (context, external) == ("Signature1", b"")
    assert cbor2.loads(protected) == {1: -7, 4: kid}
    assert protected == bytes.fromhex("a20126044831323334353637 38".replace(" ", ""))
    assert cbor2.loads(payload) == {1: "VN", 4: EXP, 6: IAT, -260: {1: the_hcert()}}
    # Canonical: the same claims in another order give the same bytes.
    assert payload == cbor2.dumps({-260: {1: the_hcert()}, 6: IAT, 4: EXP, 1: "VN"}, canonical=True)


def test_signed_verifies_and_assembles_again_byte_for_byte_from_the_stored_signature() -> None:
    signer = make_signer()
    text, signature = dcc.sign(the_hcert(), signer, iss="VN", iat=IAT, exp=EXP)
    assert text.startswith("HC1:") and len(signature) == 64
    again = dcc.assemble(the_hcert(), kid=signer.kid, iss="VN", iat=IAT, exp=EXP, signature=signature)
    assert again == text

    verdict = dcc.verify(text, signer.trust(), at=AT)
    assert verdict.valid, verdict.reasons
    assert verdict.reasons == [] and not verdict.expired and not verdict.revoked
    assert verdict.format == "dcc"
    assert verdict.payload == the_hcert()
    assert verdict.kid == base64.b64encode(signer.kid).decode()


def test_the_qr_text_is_a_tagged_cose_sign1_in_zlib_in_base45() -> None:
    signer = make_signer()
    text, signature = dcc.sign(the_hcert(), signer, iss="VN", iat=IAT, exp=EXP)
    item = cbor2.loads(zlib.decompress(base45.b45decode(text[4:])))
    assert item.tag == 18
    protected, unprotected, payload, sig = item.value
    assert cbor2.loads(protected) == {1: -7, 4: signer.kid}
    assert dict(unprotected) == {} and sig == signature
    decoded = dcc.decode(text)
    assert decoded.kid == signer.kid and decoded.signature == signature
    assert decoded.signed == dcc.signed_bytes(the_hcert(), kid=signer.kid, iss="VN", iat=IAT, exp=EXP)
    assert decoded.claims[1] == "VN" and decoded.claims[4] == EXP and decoded.claims[6] == IAT


def _tampered(text: str, *, signature: bool) -> str:
    """The same certificate with one byte of its signature, or of its payload, changed."""
    message = cose.decode(zlib.decompress(base45.b45decode(text[4:])))
    if signature:
        changed = bytearray(message.signature)
        changed[10] ^= 0x01
        message = replace(message, signature=bytes(changed))
    else:
        payload = bytearray(message.payload)
        at = payload.index(b"1990-03-04")
        payload[at + 3] = ord("1")  # the birth year 1990 becomes 1991
        message = replace(message, payload=bytes(payload))
    return "HC1:" + base45.b45encode(zlib.compress(cose.encode(message))).decode()


@pytest.mark.parametrize("part", ["signature", "payload"])
def test_a_tampered_certificate_does_not_verify(part: str) -> None:
    signer = make_signer()
    text, _ = dcc.sign(the_hcert(), signer, iss="VN", iat=IAT, exp=EXP)
    tampered = _tampered(text, signature=part == "signature")
    verdict = dcc.verify(tampered, signer.trust(), at=AT)
    assert not verdict.valid
    assert verdict.reasons == ["signature does not verify"]


def test_an_unknown_kid_is_named_and_not_trusted() -> None:
    signer, other = make_signer(), make_signer()
    text, _ = dcc.sign(the_hcert(), signer, iss="VN", iat=IAT, exp=EXP)
    verdict = dcc.verify(text, other.trust(), at=AT)
    assert not verdict.valid
    kid = base64.b64encode(signer.kid).decode()
    assert verdict.reasons == [f"unknown kid {kid!r}: not a trusted signer"]
    assert verdict.kid == kid


def test_an_empty_trust_list_trusts_nothing() -> None:
    text, _ = dcc.sign(the_hcert(), make_signer(), iss="VN", iat=IAT, exp=EXP)
    assert not dcc.verify(text, TrustList(), at=AT).valid


def test_after_its_expiry_a_certificate_is_expired() -> None:
    signer = make_signer()
    text, _ = dcc.sign(the_hcert(), signer, iss="VN", iat=IAT, exp=EXP)
    late = datetime.fromtimestamp(EXP, UTC) + timedelta(seconds=1)
    verdict = dcc.verify(text, signer.trust(), at=late)
    assert not verdict.valid and verdict.expired
    assert verdict.reasons == [f"expired at {datetime.fromtimestamp(EXP, UTC).isoformat()}"]
    # One second before, it is not.
    assert dcc.verify(text, signer.trust(), at=late - timedelta(seconds=2)).valid


def test_before_its_issuance_a_certificate_is_not_valid_yet() -> None:
    signer = make_signer()
    text, _ = dcc.sign(the_hcert(), signer, iss="VN", iat=IAT, exp=EXP)
    early = datetime.fromtimestamp(IAT, UTC) - timedelta(hours=1)
    verdict = dcc.verify(text, signer.trust(), at=early)
    assert not verdict.valid and not verdict.expired
    assert verdict.reasons == [
        f"issued at {datetime.fromtimestamp(IAT, UTC).isoformat()}, after the verification time"
    ]


def test_outside_its_dsc_validity_a_certificate_is_not_valid() -> None:
    signer = make_signer()
    text, _ = dcc.sign(
        the_hcert(), signer, iss="VN", iat=IAT, exp=int((AT + timedelta(days=3650)).timestamp())
    )
    after_dsc = signer.certificate.not_valid_after_utc + timedelta(days=1)
    verdict = dcc.verify(text, signer.trust(), at=after_dsc)
    assert not verdict.valid and not verdict.expired
    assert verdict.reasons == [
        f"the signing certificate expired at {signer.certificate.not_valid_after_utc.isoformat()}"
    ]


def test_a_naive_clock_is_read_as_utc() -> None:
    signer = make_signer()
    text, _ = dcc.sign(the_hcert(), signer, iss="VN", iat=IAT, exp=EXP)
    assert dcc.verify(text, signer.trust(), at=AT.replace(tzinfo=None)).valid


@pytest.mark.parametrize(
    ("oids", "valid"),
    [
        (["1.3.6.1.4.1.1847.2021.1.2"], True),
        (["1.3.6.1.4.1.0.1847.2021.1.2"], True),  # the OID as the first specification printed it
        (["1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.1847.2021.1.3"], False),
        (["2.23.136.1.1.14.2"], False),  # an extended key usage naming no DCC type
    ],
)
def test_the_dsc_key_usage_must_allow_a_vaccination(oids: list[str], valid: bool) -> None:
    signer = make_signer(key_usage=oids)
    text, _ = dcc.sign(the_hcert(), signer, iss="VN", iat=IAT, exp=EXP)
    verdict = dcc.verify(text, signer.trust(), at=AT)
    assert verdict.valid is valid
    if not valid:
        assert len(verdict.reasons) == 1 and verdict.reasons[0].endswith("not vaccination")


def test_a_revoked_certificate_says_so_with_the_reason() -> None:
    signer = make_signer()
    text, _ = dcc.sign(the_hcert(), signer, iss="VN", iat=IAT, exp=EXP)
    asked: list[tuple[str, str]] = []

    def revoked(uvci_: str, country: str) -> str | None:
        asked.append((uvci_, country))
        return "superseded by a corrected certificate"

    verdict = dcc.verify(text, signer.trust(), at=AT, revoked=revoked)
    assert asked == [(uvci("c-1", 1, UVCI_KEY), "VN")]
    assert verdict.revoked and not verdict.valid
    assert verdict.reasons == ["revoked: superseded by a corrected certificate"]
    assert dcc.verify(text, signer.trust(), at=AT, revoked=lambda u, c: None).valid


def test_a_payload_outside_the_schema_is_named_by_its_path() -> None:
    signer = make_signer()
    payload = the_hcert()
    payload["v"][0]["dn"] = 0
    text, _ = dcc.sign(payload, signer, iss="VN", iat=IAT, exp=EXP)
    verdict = dcc.verify(text, signer.trust(), at=AT)
    assert verdict.reasons == ["schema: $.v[0].dn: breaks minimum 1"]
    assert dcc.verify(text, signer.trust(), at=AT, check_schema=False).valid


def test_unreadable_text_gets_a_verdict_not_an_exception() -> None:
    verdict = dcc.verify("HC1:not base45 at all!", make_signer().trust(), at=AT)
    assert verdict.format == "dcc" and not verdict.valid
    assert verdict.reasons == ["the text after HC1: is not valid base45"]
    other = dcc.verify("shc:/0123", make_signer().trust(), at=AT)
    assert other.format == "unknown" and other.reasons == ["no HC1: prefix: not an EU DCC"]
