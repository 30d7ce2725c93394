"""The keys as the SMART Health Cards code uses them: a card signed with `shc_signer()` verifies
against what the keys publish, also once they are rotated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.certification import Certified, CertifiedDose
from signing.keys import SigningKeys
from signing.shc import credential, qr_chunks, sign, verify
from signing.trust import TrustList

ISS = "https://doseledger.example"
NBF = 1_800_000_000
AT = datetime.fromtimestamp(NBF, UTC) + timedelta(days=1)


def certified() -> Certified:
    dose = CertifiedDose(
        dose_id="d-1",
        vaccine="EU/1/20/1528",
        manufacturer="ORG-100030215",
        prophylaxis="J07BX03",
        cvx="208",
        number=1,
        series=2,
        administered_on="2021-08-01",
        lot="FA1234",
        site_id="01-TYT-001",
    )
    return Certified(
        person_id="p-1",
        rules_version=1,
        full_name="Nguyễn Thị Lan",
        birth_date="1985-03-14",
        status="partial",
        doses=(dose,),
    )


def signed_card(keys: SigningKeys) -> list[str]:
    signer = keys.shc_signer()
    assert signer is not None
    jws, _ = sign(credential(certified(), iss=ISS, nbf=NBF, rid=None), signer)
    return qr_chunks(jws)


def test_a_card_signed_before_a_rotation_verifies_after_it_with_the_published_jwks(tmp_path):
    keys = SigningKeys(tmp_path / "signing", "passphrase")
    keys.create()
    before = signed_card(keys)
    verdict = verify(before, keys.trust(ISS), at=AT)
    assert verdict.valid, verdict.reasons

    keys.rotate()
    after = signed_card(keys)
    published = TrustList().add_jwks(ISS, keys.jwks())  # as a verifier fetching the JWKS has it
    for chunks in (before, after):
        verdict = verify(chunks, published, at=AT)
        assert verdict.valid, verdict.reasons
    assert verify(before, published, at=AT).kid != verify(after, published, at=AT).kid
    # Another issuer's URL is not trusted with these keys.
    assert not verify(after, keys.trust("https://elsewhere.example"), at=AT).valid
