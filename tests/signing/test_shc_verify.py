"""Verifying cards made with a key of the test's own: the round trip from a certificate version
to QR chunks and back, and the verdict on every way a card can be wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.certification import Certified, CertifiedDose
from signing.shc import (
    Unreadable,
    assemble,
    credential,
    crl_revoked,
    decode,
    qr_chunks,
    sign,
    signing_input,
    verify,
)
from signing.shc_card import b64url, deflate
from signing.trust import TrustList
from tests.signing.ephemeral import EphemeralSigner

ISS = "https://vaccination.example.vn/shc"
NBF = 1_700_000_000
AT = datetime.fromtimestamp(NBF, UTC) + timedelta(days=30)
SIGNER = EphemeralSigner()
KID = SIGNER.kid.decode()
TRUST = TrustList(shc_keys={(ISS, KID): SIGNER.key.public_key()})


def certified(doses: int = 2, name: str = "Nguyễn Văn An") -> Certified:
    return Certified(
        person_id="p-1",
        rules_version=3,
        full_name=name,
        birth_date="1988-11-30",
        status="complete" if doses >= 2 else "partial",
        doses=tuple(
            CertifiedDose(
                dose_id=f"d-{i}",
                vaccine="EU/1/20/1528",
                manufacturer="ORG-100030215",
                prophylaxis="J07BX03",
                cvx="208",
                number=i + 1,
                series=2,
                administered_on=f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}",
                lot=f"FK{5127 + i}",
                site_id=f"site-{79000 + i}",
            )
            for i in range(doses)
        ),
    )


def card(content: Certified | None = None, **changes: Any) -> dict[str, Any]:
    made = credential(content or certified(), iss=ISS, nbf=NBF, rid="abcDEF_-123")
    made.update(changes)
    return made


def test_a_card_round_trips_through_its_qr() -> None:
    made = card()
    jws, _ = sign(made, SIGNER)
    chunks = qr_chunks(jws)
    assert len(chunks) == 1
    verdict = verify(chunks, TRUST, at=AT)
    assert verdict.reasons == []
    assert verdict.valid and verdict.format == "shc" and verdict.kid == KID
    assert verdict.payload == made
    assert verify(jws, TRUST, at=AT).valid
    assert verify(chunks[0], TRUST, at=AT).valid


def test_a_long_card_splits_into_several_chunks_and_still_verifies() -> None:
    long_name = "Tôn Nữ Thị Hoàng Phương Thảo Nguyên Khánh Linh Bảo Ngọc Quỳnh Anh Minh Châu"
    made = card(certified(doses=40, name=long_name))
    jws, signature = sign(made, SIGNER)
    chunks = qr_chunks(jws)
    assert len(jws) > 1195 and len(chunks) >= 2
    assert verify(list(reversed(chunks)), TRUST, at=AT).valid
    assert qr_chunks(assemble(made, KID, signature)) == chunks


def test_a_tampered_signature_does_not_verify() -> None:
    jws, signature = sign(card(), SIGNER)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    verdict = verify(assemble(card(), KID, flipped), TRUST, at=AT)
    assert not verdict.valid and verdict.reasons == ["signature does not verify"]


def test_a_tampered_payload_does_not_verify() -> None:
    _, signature = sign(card(), SIGNER)
    other = card(certified(doses=3))
    verdict = verify(assemble(other, KID, signature), TRUST, at=AT)
    assert not verdict.valid and verdict.reasons == ["signature does not verify"]
    assert verdict.payload == other  # shown, so a verifier can see what was claimed


def test_a_short_signature_is_named() -> None:
    jws, _ = sign(card(), SIGNER)
    head, payload, _ = jws.split(".")
    verdict = verify(f"{head}.{payload}.{b64url(b'x' * 63)}", TRUST, at=AT)
    assert verdict.reasons == ["signature: 63 bytes, an ES256 signature is 64 (r||s)"]


def test_an_unknown_kid_or_issuer_is_named() -> None:
    other = EphemeralSigner()
    jws, _ = sign(card(), other)
    verdict = verify(jws, TRUST, at=AT)
    assert not verdict.valid
    assert verdict.reasons == [f"unknown kid {other.kid.decode()!r} for issuer {ISS!r}"]
    assert verdict.kid == other.kid.decode()

    jws, _ = sign(card(iss="https://impostor.example"), SIGNER)
    verdict = verify(jws, TRUST, at=AT)
    assert verdict.reasons == ["unknown issuer 'https://impostor.example'"]


def test_a_card_before_its_nbf_is_not_yet_valid() -> None:
    jws, _ = sign(card(), SIGNER)
    verdict = verify(jws, TRUST, at=datetime.fromtimestamp(NBF - 60, UTC))
    assert not verdict.valid and not verdict.expired
    assert verdict.reasons == ["not valid before 2023-11-14T22:13:20+00:00"]
    assert verify(jws, TRUST, at=datetime.fromtimestamp(NBF, UTC)).valid


def test_a_card_after_its_exp_is_expired() -> None:
    jws, _ = sign(card(exp=NBF + 86_400), SIGNER)
    assert verify(jws, TRUST, at=datetime.fromtimestamp(NBF + 86_400, UTC)).valid
    verdict = verify(jws, TRUST, at=datetime.fromtimestamp(NBF + 86_401, UTC))
    assert verdict.expired and not verdict.valid
    assert verdict.reasons == ["expired at 2023-11-15T22:13:20+00:00"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nbf": "yesterday"}, "payload: nbf is not a time (seconds since 1970)"),
        ({"exp": None}, "payload: exp is not a time (seconds since 1970)"),
        ({"vc": []}, "payload: no vc object"),
    ],
)
def test_bad_claims_are_named(changes: dict[str, Any], reason: str) -> None:
    jws, _ = sign(card(**changes), SIGNER)
    verdict = verify(jws, TRUST, at=AT)
    assert reason in verdict.reasons and not verdict.valid


def test_a_bundle_without_immunizations_is_not_a_vaccination_card() -> None:
    jws, _ = sign(card(certified(doses=0)), SIGNER)
    verdict = verify(jws, TRUST, at=AT)
    assert verdict.reasons == ["fhirBundle: no Immunization (not a vaccination card)"]


def test_a_malformed_immunization_is_named_by_its_entry() -> None:
    made = card()
    immunization = made["vc"]["credentialSubject"]["fhirBundle"]["entry"][2]["resource"]
    del immunization["occurrenceDateTime"]
    immunization["patient"] = {"reference": "resource:9"}
    immunization["vaccineCode"] = {"coding": [{"code": "208"}]}
    jws, _ = sign(made, SIGNER)
    assert verify(jws, TRUST, at=AT).reasons == [
        "fhirBundle.entry[2] (Immunization): vaccineCode has no coding with a system and a code",
        "fhirBundle.entry[2] (Immunization): patient does not reference the bundle's Patient",
        "fhirBundle.entry[2] (Immunization): no occurrenceDateTime",
    ]


def test_another_alg_is_named() -> None:
    head = b64url(json.dumps({"zip": "DEF", "alg": "HS256", "kid": KID}).encode())
    payload = b64url(deflate(json.dumps(card()).encode()))
    signature = SIGNER.sign(f"{head}.{payload}".encode())
    verdict = verify(f"{head}.{payload}.{b64url(signature)}", TRUST, at=AT)
    assert verdict.reasons == ["header: alg is not ES256"]


def test_a_clock_without_a_zone_is_a_programming_error() -> None:
    jws, _ = sign(card(), SIGNER)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(jws, TRUST, at=datetime(2024, 1, 1))


def crl(*rids: str, kid: str = KID) -> dict[str, Any]:
    return {"kid": kid, "method": "rid", "ctr": 1, "rids": list(rids)}


@pytest.mark.parametrize(
    ("rids", "revoked"),
    [
        (["abcDEF_-123"], True),
        ([f"abcDEF_-123.{NBF + 1}"], True),  # issued before the cut-off
        ([f"abcDEF_-123.{NBF}"], False),  # issued at it: not before
        ([f"abcDEF_-123.{NBF - 1}"], False),
        ([f"abcDEF_-123.{NBF - 1}", "abcDEF_-123"], True),  # a bare rid revokes them all
        (["someoneelse", f"other.{NBF + 1}"], False),
        ([], False),
    ],
)
def test_revocation_by_the_issuers_crl(rids: list[str], revoked: bool) -> None:
    jws, _ = sign(card(), SIGNER)
    verdict = verify(jws, TRUST, at=AT, revoked=crl_revoked(crl(*rids)))
    assert verdict.revoked is revoked
    assert verdict.valid is not revoked
    if revoked:
        assert verdict.reasons[0].startswith("revoked by its issuer")


def test_a_crl_is_about_its_own_key_and_issuer() -> None:
    jws, _ = sign(card(), SIGNER)
    assert not verify(jws, TRUST, at=AT, revoked=crl_revoked(crl("abcDEF_-123", kid="other"))).revoked
    assert verify(jws, TRUST, at=AT, revoked=crl_revoked(crl("abcDEF_-123"), iss=ISS)).revoked
    assert not verify(jws, TRUST, at=AT, revoked=crl_revoked(crl("abcDEF_-123"), iss="https://x")).revoked


def test_a_card_without_rid_is_not_asked_about() -> None:
    asked: list[tuple[str, str, str, int]] = []

    def revoked(iss: str, kid: str, rid: str, nbf: int) -> str | None:
        asked.append((iss, kid, rid, nbf))
        return "listed"

    jws, _ = sign(credential(certified(), iss=ISS, nbf=NBF, rid=None), SIGNER)
    assert verify(jws, TRUST, at=AT, revoked=revoked).valid and asked == []
    jws, _ = sign(card(), SIGNER)
    verdict = verify(jws, TRUST, at=AT, revoked=revoked)
    assert asked == [(ISS, KID, "abcDEF_-123", NBF)]
    assert verdict.revoked and verdict.reasons == ["listed"]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"method": "rid", "rids": []}, "crl.kid"),
        ({"kid": "k", "method": "x", "rids": []}, "crl.method"),
        ({"kid": "k", "method": "rid", "rids": "a"}, "crl.rids"),
        ({"kid": "k", "method": "rid", "rids": [""]}, r"crl.rids\[0\]"),
        ({"kid": "k", "method": "rid", "rids": ["a", "b.soon"]}, r"crl.rids\[1\]"),
        ({"kid": "k", "method": "rid", "rids": ["b.inf"]}, r"crl.rids\[0\]"),
    ],
)
def test_a_malformed_crl_is_refused_naming_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        crl_revoked(document)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "3 separated by '.'"),
        ("a.b", "2 part(s)"),
        ("a.b.c.d", "4 part(s)"),
        ("e30.e30.e30", "zip is not 'DEF'"),  # {} as header
        ("W10.e30.e30", "header: not a JSON object"),  # [] as header
        ("a=.b.c", "header: not base64url"),
        ("eyJ6aXAiOiJERUYifQ.____.e30", "payload: not raw DEFLATE data"),  # block type 3,
        ("eyJ6aXAiOiJERUYifQ.c0k.e30", "truncated"),
    ],
)
def test_unreadable_texts_are_named(text: str, reason: str) -> None:
    with pytest.raises(Unreadable, match=reason.replace("(", r"\(").replace(")", r"\)")):
        decode(text)
    assert verify(text, TRUST, at=AT).reasons == [f"unreadable: {decode_reason(text)}"]


def decode_reason(text: str) -> str:
    try:
        decode(text)
    except Unreadable as e:
        return e.reason
    raise AssertionError("decoded")


def test_a_payload_that_inflates_beyond_the_limit_is_refused() -> None:
    head = b64url(b'{"zip":"DEF","alg":"ES256","kid":"k"}')
    bomb = b64url(deflate(b'{"a":"' + b"A" * (2 * 1024 * 1024) + b'"}'))
    with pytest.raises(Unreadable, match="inflates beyond"):
        decode(f"{head}.{bomb}.{b64url(bytes(64))}")


def test_decode_gives_the_signing_input() -> None:
    made = card()
    jws, signature = sign(made, SIGNER)
    decoded = decode(jws)
    assert decoded.signing_input == signing_input(made, KID)
    assert decoded.signature == signature
    assert decoded.credential == made


GOOD_JWS, _ = sign(card(), SIGNER)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(),
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=400),
        st.lists(st.text(max_size=200), max_size=4),
        st.lists(st.from_regex(r"shc:/([0-9]{1,2}/[0-9]{1,2}/)?[0-9]{0,40}", fullmatch=True), max_size=4),
        st.builds(lambda b: b64url(b) + ".." + b64url(b), st.binary(max_size=100)),
        st.builds(lambda b: "eyJ6aXAiOiJERUYifQ." + b64url(b) + ".e30", st.binary(max_size=100)),
    )
)
def test_decode_raises_only_unreadable(value: str | list[str]) -> None:
    try:
        decode(value)
    except Unreadable as e:
        assert e.reason
    verdict = verify(value, TRUST, at=AT)
    assert not verdict.valid


@settings(max_examples=300)
@given(st.data())
def test_a_changed_character_never_verifies_unless_it_changes_nothing(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(GOOD_JWS) - 1))
    char = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00é")
    )
    mutated = GOOD_JWS[:index] + char + GOOD_JWS[index + 1 :]
    verdict = verify(mutated, TRUST, at=AT)
    if not verdict.valid:
        return
    # The last character of the signature's base64url carries 2 unused bits: changing only those
    # changes neither the signed bytes nor the signature, and such a card is the same card.
    original, same = decode(GOOD_JWS), decode(mutated)
    assert (same.signing_input, same.signature) == (original.signing_input, original.signature)
    assert mutated == GOOD_JWS or index == len(GOOD_JWS) - 1
