"""The signing keys: made, listed and rotated in files of their own, encrypted, owner-only; their
signatures verify with the public parts the trust list and the JWKS publish (cryptography only)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.csca import DCC_KEY_USAGES
from signing.keys import (
    KEYS_DIR_KEY,
    PASSPHRASE_KEY,
    KeysExist,
    MissingPassphrase,
    NoKeys,
    SigningKeys,
    SigningKeysError,
    WrongPassphrase,
    default_directory,
)
from signing.trust import TrustList

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    made = SigningKeys(tmp_path / "signing", PASSPHRASE)
    made.create(country="VN", organisation="Bộ Y tế")
    return made


def verifies(public_key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """A raw r || s ES256 signature, checked with cryptography alone."""
    assert len(signature) == 64
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def dsc_of(entry: dict) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(entry["rawData"]))


def jwk_key(jwk: dict) -> ec.EllipticCurvePublicKey:
    def number(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")

    return ec.EllipticCurvePublicNumbers(number(jwk["x"]), number(jwk["y"]), ec.SECP256R1()).public_key()


def test_create_makes_a_csca_a_dsc_it_issued_and_an_shc_key(keys):
    listed = keys.list()
    assert [(k.kind, k.current, k.retired) for k in listed] == [
        ("csca", True, False),
        ("dcc", True, False),
        ("shc", True, False),
    ]
    [entry] = keys.trust_list()
    dsc = dsc_of(entry)
    csca = x509.load_pem_x509_certificate((keys.directory / "csca.crt").read_bytes())
    dsc.verify_directly_issued_by(csca)  # raises unless the CSCA signed it
    assert csca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert csca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    assert csca.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "VN"
    assert csca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Bộ Y tế"
    assert csca.not_valid_after_utc - csca.not_valid_before_utc >= timedelta(days=3650)
    assert isinstance(csca.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(dsc.public_key(), ec.EllipticCurvePublicKey)
    assert dsc.public_key().curve.name == "secp256r1"
    assert dsc.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = dsc.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    extended = list(dsc.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert extended == list(DCC_KEY_USAGES)
    assert [oid.dotted_string for oid in extended] == [f"1.3.6.1.4.1.1847.2021.1.{n}" for n in (1, 2, 3)]
    assert ExtendedKeyUsageOID.SERVER_AUTH not in extended
    validity = dsc.not_valid_after_utc - dsc.not_valid_before_utc
    assert timedelta(days=700) <= validity <= timedelta(days=731)
    dcc = listed[1]
    assert (dcc.not_before, dcc.not_after) == (dsc.not_valid_before_utc, dsc.not_valid_after_utc)
    assert listed[2].kid == keys.jwks()["keys"][0]["kid"]


def test_a_dcc_signature_verifies_with_the_dsc_the_trust_list_publishes(keys):
    signer = keys.dcc_signer()
    assert signer is not None
    [entry] = keys.trust_list()
    der = base64.b64decode(entry["rawData"])
    assert signer.kid == hashlib.sha256(der).digest()[:8] == base64.b64decode(entry["kid"])
    assert entry["thumbprint"] == hashlib.sha256(der).hexdigest()
    assert (entry["country"], entry["certificateType"]) == ("VN", "DSC")
    assert entry["notBefore"].endswith("Z") and entry["notAfter"].endswith("Z") and entry["timestamp"]
    data = b"Sig_structure of a COSE_Sign1"
    signature = signer.sign(data)
    assert verifies(dsc_of(entry).public_key(), signature, data)
    assert not verifies(dsc_of(entry).public_key(), signature, data + b"!")
    # And through the trust list a verifier is handed.
    trusted = TrustList.from_gateway(keys.trust_list()).dsc(signer.kid)
    assert trusted is not None and verifies(trusted.public_key(), signature, data)


def test_an_shc_signature_verifies_with_the_jwks_key_named_by_its_thumbprint(keys):
    signer = keys.shc_signer()
    assert signer is not None
    [jwk] = keys.jwks()["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("EC", "P-256", "sig", "ES256")
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")
    assert signer.kid == thumbprint == jwk["kid"].encode("ascii")
    data = b"header.payload"
    signature = signer.sign(data)
    assert verifies(jwk_key(jwk), signature, data)
    trusted = keys.trust("https://doseledger.example").shc_key("https://doseledger.example", jwk["kid"])
    assert trusted is not None and verifies(trusted, signature, data)


def test_rotation_makes_new_keys_current_and_the_old_ones_keep_verifying(keys):
    old_dcc, old_shc = keys.dcc_signer(), keys.shc_signer()
    assert old_dcc is not None and old_shc is not None
    old_dcc_signature, old_shc_signature = old_dcc.sign(b"before"), old_shc.sign(b"before")

    listed = keys.rotate()

    new_dcc, new_shc = keys.dcc_signer(), keys.shc_signer()
    assert new_dcc is not None and new_shc is not None
    assert new_dcc.kid != old_dcc.kid and new_shc.kid != old_shc.kid
    assert [(k.kind, k.current, k.retired) for k in listed] == [
        ("csca", True, False),
        ("dcc", False, True),
        ("shc", False, True),
        ("dcc", True, False),
        ("shc", True, False),
    ]
    assert [k.kid for k in listed if k.kind == "dcc"] == [
        base64.b64encode(old_dcc.kid).decode(),
        base64.b64encode(new_dcc.kid).decode(),
    ]
    trust = TrustList.from_gateway(keys.trust_list())
    assert len(keys.trust_list()) == 2
    old_dsc, new_dsc = trust.dsc(old_dcc.kid), trust.dsc(new_dcc.kid)
    assert old_dsc is not None and new_dsc is not None
    assert verifies(old_dsc.public_key(), old_dcc_signature, b"before")
    assert verifies(new_dsc.public_key(), new_dcc.sign(b"after"), b"after")
    csca = x509.load_pem_x509_certificate((keys.directory / "csca.crt").read_bytes())
    new_dsc.verify_directly_issued_by(csca)  # the same CSCA
    jwks = {jwk["kid"]: jwk for jwk in keys.jwks()["keys"]}
    assert list(jwks) == [old_shc.kid.decode(), new_shc.kid.decode()]
    assert verifies(jwk_key(jwks[old_shc.kid.decode()]), old_shc_signature, b"before")
    assert verifies(jwk_key(jwks[new_shc.kid.decode()]), new_shc.sign(b"after"), b"after")


def test_rotations_at_once_each_make_a_generation_of_their_own(keys):
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: SigningKeys(keys.directory, PASSPHRASE).rotate(), range(4)))
    listed = keys.list()
    dccs = [k for k in listed if k.kind == "dcc"]
    assert len(dccs) == 5 and len({k.kid for k in dccs}) == 5
    assert [k.current for k in dccs] == [False] * 4 + [True]
    assert sorted(p.name for p in (keys.directory / "generations").iterdir()) == [
        f"000{n}" for n in range(1, 6)
    ]


def test_files_are_the_owners_only_and_private_keys_encrypted(keys):
    assert stat.S_IMODE(keys.directory.stat().st_mode) == 0o700
    keys.rotate()
    files = [p for p in keys.directory.rglob("*") if p.is_file()]
    folders = [p for p in keys.directory.rglob("*") if p.is_dir()]
    assert len(files) == 2 + 2 * 5 and len(folders) == 3
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o600)}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {oct(0o700)}
    private = [p for p in files if p.suffix == ".key"]
    assert sorted(p.name for p in private) == ["csca.key", "dsc.key", "dsc.key", "shc.key", "shc.key"]
    for path in private:
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(TypeError):  # no key comes out without the passphrase
            serialization.load_pem_private_key(path.read_bytes(), password=None)
    for path in files:
        assert b"PRIVATE KEY-----" not in path.read_bytes() or path.suffix == ".key"
    assert not list(keys.directory.parent.glob(".*.tmp"))  # no scratch folder left behind


def test_no_private_key_in_any_listing_log_or_repr(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    keys = SigningKeys(tmp_path / "signing", PASSPHRASE)
    keys.create()
    keys.rotate()
    signer = keys.dcc_signer()
    shc = keys.shc_signer()
    assert signer is not None and shc is not None
    scalars = [
        signer.private_key.private_numbers().private_value,
        shc.private_key.private_numbers().private_value,
    ]
    secret_forms = [
        form
        for value in scalars
        for form in (
            str(value),
            value.to_bytes(32, "big").hex(),
            base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode(),
            base64.b64encode(value.to_bytes(32, "big")).decode(),
        )
    ] + [PASSPHRASE]
    shown = json.dumps(
        {
            "list": [k.as_dict() for k in keys.list()],
            "trust_list": keys.trust_list(),
            "jwks": keys.jwks(),
            "repr": [repr(keys), repr(signer), repr(shc), repr(keys.list())],
        }
    )
    signer.sign(b"data")
    shown += caplog.text
    for form in secret_forms:
        assert form not in shown
    assert "PRIVATE" not in shown
    assert all("d" not in jwk for jwk in keys.jwks()["keys"])


def test_no_passphrase_is_a_clear_error_and_writes_nothing(tmp_path):
    folder = tmp_path / "signing"
    for passphrase in (None, ""):
        with pytest.raises(MissingPassphrase, match=PASSPHRASE_KEY):
            SigningKeys(folder, passphrase).create()
    assert not folder.exists() and list(tmp_path.iterdir()) == []


def test_signing_or_rotating_needs_the_passphrase_listing_does_not(keys):
    public = SigningKeys(keys.directory)
    assert [k.kind for k in public.list()] == ["csca", "dcc", "shc"]
    assert public.trust_list() == keys.trust_list() and public.jwks() == keys.jwks()
    for action in (public.dcc_signer, public.shc_signer, public.rotate):
        with pytest.raises(MissingPassphrase):
            action()


def test_a_wrong_passphrase_is_a_clear_error_naming_the_folder_not_the_passphrase(keys):
    wrong = SigningKeys(keys.directory, "not the passphrase")
    for action in (wrong.dcc_signer, wrong.shc_signer, wrong.rotate):
        with pytest.raises(WrongPassphrase) as raised:
            action()
        message = str(raised.value)
        assert str(keys.directory) in message and PASSPHRASE_KEY in message
        assert "not the passphrase" not in message and PASSPHRASE not in message
    assert len(keys.list()) == 3  # the failed rotation made nothing


def test_existing_keys_are_never_overwritten(keys):
    before = {p: p.read_bytes() for p in keys.directory.rglob("*") if p.is_file()}
    with pytest.raises(KeysExist, match=str(keys.directory)):
        SigningKeys(keys.directory, PASSPHRASE).create()
    assert {p: p.read_bytes() for p in keys.directory.rglob("*") if p.is_file()} == before


def test_a_folder_holding_other_files_is_refused_an_empty_one_is_used(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(KeysExist, match="full"):
        SigningKeys(tmp_path / "full", PASSPHRASE).create()
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir(mode=0o755)
    made = SigningKeys(tmp_path / "empty", PASSPHRASE)
    made.create()
    assert made.dcc_signer() is not None
    assert stat.S_IMODE((tmp_path / "empty").stat().st_mode) == 0o700


@pytest.mark.parametrize("country", ["vn", "VNM", "", "V1"])
def test_a_bad_country_is_refused_naming_the_field(tmp_path, country):
    with pytest.raises(SigningKeysError, match="country"):
        SigningKeys(tmp_path / "signing", PASSPHRASE).create(country=country)
    assert not (tmp_path / "signing").exists()


def test_without_keys_there_is_nothing_to_sign_with_and_nothing_to_trust(tmp_path):
    none = SigningKeys(tmp_path / "signing", PASSPHRASE)
    assert none.dcc_signer() is None and none.shc_signer() is None
    assert none.list() == [] and none.trust_list() == [] and none.jwks() == {"keys": []}
    trust = none.trust("https://doseledger.example")
    assert trust.dscs == {} and trust.shc_keys == {}
    with pytest.raises(NoKeys, match="keys create"):
        none.rotate()


def test_the_folder_and_passphrase_come_from_the_env_given_else_the_process(tmp_path, monkeypatch):
    monkeypatch.setenv(KEYS_DIR_KEY, str(tmp_path / "process"))
    monkeypatch.setenv(PASSPHRASE_KEY, "from the process")
    given = SigningKeys.from_env({KEYS_DIR_KEY: str(tmp_path / "given"), PASSPHRASE_KEY: "given"})
    assert given.directory == tmp_path / "given"
    given.create()
    with pytest.raises(WrongPassphrase):
        SigningKeys(tmp_path / "given", "from the process").dcc_signer()
    assert SigningKeys.from_env().directory == tmp_path / "process"
    monkeypatch.delenv(KEYS_DIR_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert (
        SigningKeys.from_env().directory
        == default_directory()
        == tmp_path / "config" / "doseledger" / "signing"
    )


def test_the_test_run_has_keys_that_sign():
    """tests/conftest.py made them once for the run: any test that signs finds them."""
    run = SigningKeys.from_env()
    assert run.dcc_signer() is not None and run.shc_signer() is not None


def test_a_folder_the_keys_cannot_be_moved_into_is_a_clear_error_leaving_nothing(tmp_path):
    (tmp_path / "signing").write_text("a file, not a folder")
    with pytest.raises(SigningKeysError, match="could not be moved into .*signing") as raised:
        SigningKeys(tmp_path / "signing", PASSPHRASE).create()
    assert not isinstance(raised.value, KeysExist)
    assert (tmp_path / "signing").read_text() == "a file, not a folder"
    assert [p.name for p in tmp_path.iterdir()] == ["signing"]  # no scratch folder left behind
