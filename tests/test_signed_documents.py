"""Signing a certificate version once, and assembling its QR texts again from what the issuance
records: the same texts, byte for byte, that verify against the signers' public keys."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from config.settings import Settings
from ledger.certification import Certified, CertifiedDose, shc_rid, uvci
from signing import dcc, documents, shc
from signing.documents import Signers, assemble_version, sign_version
from signing.trust import TrustList, dsc_kid
from tests.signing.ephemeral import EphemeralSigner

NOW = datetime(2026, 12, 6, 1, 0, 0, tzinfo=UTC)
KEY = b"k" * 32
CERTIFICATE_ID = "0f8e1c2d-3b4a-8c5d-9e6f-7a8b9c0d1e2f"
ISSUER_URL = "https://doseledger.example"
ISSUER = "Ministry of Health of Viet Nam"


class DscSigner:
    """An ES256 key behind a self-signed document signer certificate made for one test."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.COMMON_NAME, "DSC test"),
            ]
        )
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=800))
            .sign(self.key, hashes.SHA256())
        )
        self.kid = dsc_kid(self.certificate)

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def dose(n: int, vaccine: str = "EU/1/20/1528") -> CertifiedDose:
    return CertifiedDose(
        dose_id=f"00000000-0000-4000-8000-00000000000{n}",
        vaccine=vaccine,
        manufacturer="ORG-100030215",
        prophylaxis="J07BN01",
        cvx="208",
        number=n,
        series=2,
        administered_on=f"2021-0{6 + n}-01",
        lot=f"FA{n}",
        site_id="01-TYT-001",
    )


CERTIFIED = Certified(
    person_id="6f1c2d4e-8a8b-4c55-9d2e-1f0a3b4c5d6e",
    rules_version=1,
    full_name="Nguyễn Thị Hương",
    birth_date="1985-03-14",
    status="complete",
    doses=(dose(1), dose(2)),
)


@pytest.fixture
def signers() -> Signers:
    return Signers(
        dcc=DscSigner(), shc=EphemeralSigner(), issuer_url=ISSUER_URL, issuer=ISSUER, validity_days=30
    )


def trust(signers: Signers) -> TrustList:
    assert isinstance(signers.dcc, DscSigner) and isinstance(signers.shc, EphemeralSigner)
    listed = TrustList.of_dscs([signers.dcc.certificate])
    kid = signers.shc.kid.decode()
    return listed.add_jwks(ISSUER_URL, {"keys": [shc.public_jwk(signers.shc.key.public_key(), kid)]})


def test_sign_records_per_dose_what_assembles_the_dcc_and_the_card_again(signers):
    dcc_entries, card = sign_version(CERTIFIED, CERTIFICATE_ID, KEY, signers, NOW)
    assert [e["uvci"] for e in dcc_entries] == [uvci(CERTIFICATE_ID, i, KEY) for i in range(2)]
    moment = int(NOW.timestamp())
    for entry in dcc_entries:
        assert base64.b64decode(entry["kid"]) == signers.dcc.kid
        assert (entry["iss"], entry["co"], entry["is"]) == ("VN", "VN", ISSUER)
        assert (entry["iat"], entry["exp"]) == (moment, moment + 30 * 86400)
        assert len(base64.b64decode(entry["signature"])) == 64
    assert card is not None
    assert (card["rid"], card["kid"], card["iss"], card["nbf"]) == (
        shc_rid(CERTIFICATE_ID, KEY),
        signers.shc.kid.decode(),
        ISSUER_URL,
        moment,
    )
    stored = orjson.dumps([dcc_entries, card]).decode()
    for personal in ("Nguyễn", "Hương", "NGUYEN", "1985-03-14"):
        assert personal not in stored  # the issuance event holds no personal data


def test_sign_then_assemble_gives_the_signed_texts_byte_for_byte(signers, monkeypatch):
    signed: dict[str, list[str]] = {"dcc": [], "shc": []}

    def spy(module: Any, kind: str) -> None:
        original = module.sign

        def recording(*args: Any, **kwargs: Any) -> tuple[str, bytes]:
            text, signature = original(*args, **kwargs)
            signed[kind].append(text)
            return text, signature

        monkeypatch.setattr(module, "sign", recording)

    spy(documents.dcc, "dcc")
    spy(documents.shc, "shc")
    dcc_entries, card = sign_version(CERTIFIED, CERTIFICATE_ID, KEY, signers, NOW)
    forms = assemble_version(CERTIFIED, dcc_entries, card)
    assert [d["qr"] for d in forms.dcc] == signed["dcc"] and len(signed["dcc"]) == 2
    assert forms.shc is not None and [forms.shc["jws"]] == signed["shc"]
    assert shc.jws_from_qr(forms.shc["qr"]) == forms.shc["jws"]
    assert all(chunk.startswith("shc:/") for chunk in forms.shc["qr"])


def test_the_assembled_forms_verify_and_carry_the_persons_doses(signers):
    forms = assemble_version(CERTIFIED, *sign_version(CERTIFIED, CERTIFICATE_ID, KEY, signers, NOW))
    trusted = trust(signers)
    for index, document in enumerate(forms.dcc):
        assert document["qr"].startswith("HC1:")
        verdict = dcc.verify(document["qr"], trusted, at=NOW + timedelta(hours=1))
        assert verdict.valid, verdict.reasons
        payload = verdict.payload
        assert payload is not None
        [vaccination] = payload["v"]
        assert (vaccination["dn"], vaccination["sd"]) == (document["dn"], document["sd"]) == (index + 1, 2)
        assert (
            vaccination["ci"] == document["uvci"]
            and vaccination["dt"] == CERTIFIED.doses[index].administered_on
        )
        assert payload["dob"] == "1985-03-14" and payload["nam"]["fnt"] == "NGUYEN"
    assert dcc.verify(forms.dcc[0]["qr"], trusted, at=NOW + timedelta(days=31)).expired
    assert forms.shc is not None
    verdict = shc.verify(forms.shc["qr"], trusted, at=NOW + timedelta(hours=1))
    assert verdict.valid, verdict.reasons
    entries = verdict.payload["vc"]["credentialSubject"]["fhirBundle"]["entry"]
    immunizations = [e["resource"] for e in entries if e["resource"]["resourceType"] == "Immunization"]
    assert [i["occurrenceDateTime"] for i in immunizations] == ["2021-07-01", "2021-08-01"]
    assert verdict.payload["vc"]["rid"] == shc_rid(CERTIFICATE_ID, KEY)


def test_an_assembled_form_of_other_content_does_not_verify(signers):
    dcc_entries, card = sign_version(CERTIFIED, CERTIFICATE_ID, KEY, signers, NOW)
    other = Certified(**{**CERTIFIED.__dict__, "full_name": "Nguyễn Thị Lan"})
    forms = assemble_version(other, dcc_entries, card)
    assert not dcc.verify(forms.dcc[0]["qr"], trust(signers), at=NOW).valid
    assert forms.shc is not None and not shc.verify(forms.shc["qr"], trust(signers), at=NOW).valid
    with pytest.raises(ValueError, match="2 signed DCCs for 1 doses"):
        assemble_version(Certified(**{**CERTIFIED.__dict__, "doses": CERTIFIED.doses[:1]}), dcc_entries, card)


def test_a_missing_signer_signs_no_form_of_its_kind(signers):
    only_card = Signers(dcc=None, shc=signers.shc, issuer_url=ISSUER_URL, issuer=ISSUER)
    entries, card = sign_version(CERTIFIED, CERTIFICATE_ID, KEY, only_card, NOW)
    assert entries == [] and card is not None
    assert assemble_version(CERTIFIED, entries, card).dcc == []
    only_dcc = Signers(dcc=signers.dcc, shc=None, issuer_url=ISSUER_URL, issuer=ISSUER)
    entries, card = sign_version(CERTIFIED, CERTIFICATE_ID, KEY, only_dcc, NOW)
    assert len(entries) == 2 and card is None
    assert assemble_version(CERTIFIED, entries, card).shc is None
    nobody = Signers(dcc=None, shc=None, issuer_url=ISSUER_URL, issuer=ISSUER)
    assert not nobody.signs and only_dcc.signs
    assert sign_version(CERTIFIED, CERTIFICATE_ID, KEY, nobody, NOW) == ([], None)


def test_signers_come_from_the_settings_and_the_keys(signers):
    class Keys:
        def dcc_signer(self) -> Any:
            return signers.dcc

        def shc_signer(self) -> Any:
            return None

    settings = Settings(
        certificate_issuer_url="https://moh.example",
        certificate_issuer="Bộ Y tế",
        certificate_validity_days=90,
    )
    made = Signers.from_settings(settings, Keys())
    assert (made.dcc, made.shc, made.issuer_url, made.issuer, made.country, made.validity_days) == (
        signers.dcc,
        None,
        "https://moh.example",
        "Bộ Y tế",
        "VN",
        90,
    )


@pytest.mark.parametrize("name", ["李小龍", "Александр Пушкин"])
def test_a_name_a_dcc_cannot_carry_gets_the_card_only(signers, name):
    """A name with no ICAO 9303 form: no DCC (its schema requires that form), the SMART Health
    Card carries the name as written and verifies; the reason names no part of the name."""
    foreign = Certified(**{**CERTIFIED.__dict__, "full_name": name})
    entries, card = sign_version(foreign, CERTIFICATE_ID, KEY, signers, NOW)
    assert entries == [] and card is not None
    forms = assemble_version(foreign, entries, card)
    assert forms.dcc == [] and forms.shc is not None
    verdict = shc.verify(forms.shc["qr"], trust(signers), at=NOW + timedelta(hours=1))
    assert verdict.valid, verdict.reasons
    refusal = dcc.name_refusal(name)
    assert refusal is not None and not any(part in refusal for part in name.split())
    assert dcc.name_refusal(CERTIFIED.full_name) is None


def test_a_dose_of_a_product_with_no_cvx_code_gets_the_dccs_only(signers):
    """A card names each dose by its CVX code; Hayat-Vax has none (the rules say so): its
    version is signed as DCCs, which verify, and gets no card, rather than stalling the issuer."""
    no_cvx = Certified(
        **{**CERTIFIED.__dict__, "doses": tuple(replace(d, cvx=None) for d in CERTIFIED.doses)}
    )
    entries, card = sign_version(no_cvx, CERTIFICATE_ID, KEY, signers, NOW)
    assert card is None and len(entries) == len(no_cvx.doses)
    forms = assemble_version(no_cvx, entries, card)
    assert forms.shc is None
    for form in forms.dcc:
        verdict = dcc.verify(form["qr"], trust(signers), at=NOW + timedelta(hours=1))
        assert verdict.valid, verdict.reasons
