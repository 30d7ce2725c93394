"""`doseledger keys create | rotate | list`: keys made and listed without a private part shown;
every error one line and exit code 2, never a traceback."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from cryptography import x509

from cli.serve import demo_signing_keys
from config.settings import Settings
from signing.keys import KEYS_DIR_KEY, PASSPHRASE_KEY, SigningKeys
from store.secrets import SECRETS_KEY

PASSPHRASE = "a passphrase for the tests"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A keys folder of this test's own, and the passphrase, in the environment the CLI reads."""
    monkeypatch.setenv(KEYS_DIR_KEY, str(tmp_path / "signing"))
    monkeypatch.setenv(PASSPHRASE_KEY, PASSPHRASE)
    return tmp_path / "signing"


def one_line_error(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2, (out, err)
    assert out == "" and err.count("\n") == 1 and err.startswith("doseledger keys: "), err
    assert "Traceback" not in err and PASSPHRASE not in err
    for word in words:
        assert word in err, err


def test_create_list_rotate(cli, folder):
    code, out, err = cli("keys", "create", "--country", "VN", "--organisation", "Bộ Y tế")
    assert (code, err) == (0, "")
    assert str(folder) in out
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["csca", "dcc", "shc"]
    keys = SigningKeys(folder, PASSPHRASE)
    first_dcc = keys.list()[1].kid
    assert first_dcc in out

    code, out, err = cli("keys", "rotate")
    assert (code, err) == (0, "")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["dcc", "shc"]
    assert first_dcc not in out

    code, out, err = cli("keys", "list")
    assert (code, err) == (0, "")
    table = [line.split() for line in out.splitlines()]
    assert [(row[0], row[-1]) for row in table] == [
        ("csca", "current"),
        ("dcc", "retired"),
        ("shc", "retired"),
        ("dcc", "current"),
        ("shc", "current"),
    ]
    assert table[1][1] == first_dcc and table[1][2:5] == [
        f"{keys.list()[1].not_before:%Y-%m-%d}",
        "to",
        table[1][4],
    ]

    code, out, err = cli("keys", "list", "--json")
    assert (code, err) == (0, "")
    listed = [json.loads(line) for line in out.splitlines()]
    assert listed == [key.as_dict() for key in keys.list()]
    assert [(k["kind"], k["current"], k["retired"]) for k in listed][1:3] == [
        ("dcc", False, True),
        ("shc", False, True),
    ]


def test_no_private_key_or_passphrase_is_ever_printed(cli, folder):
    outputs = [
        cli("keys", "create"),
        cli("keys", "rotate"),
        cli("keys", "list"),
        cli("keys", "list", "--json"),
    ]
    keys = SigningKeys(folder, PASSPHRASE)
    signers = [keys.dcc_signer(), keys.shc_signer()]
    private = [hex(s.private_key.private_numbers().private_value)[2:] for s in signers if s]
    for code, out, err in outputs:
        assert code == 0
        assert "PRIVATE" not in out + err and PASSPHRASE not in out + err
        for value in private:
            assert value not in out + err


def test_create_defaults_to_the_country_vn_and_the_certificate_issuer(cli, folder):
    assert cli("keys", "create")[0] == 0
    [entry] = SigningKeys(folder).trust_list()
    assert entry["country"] == "VN"
    dsc = x509.load_der_x509_certificate(base64.b64decode(entry["rawData"]))
    assert Settings().certificate_issuer in dsc.subject.rfc4514_string()


def test_keys_that_exist_are_refused_in_one_line(cli, folder):
    assert cli("keys", "create")[0] == 0
    before = sorted(p.name for p in folder.rglob("*"))
    one_line_error(*cli("keys", "create"), "already exist", str(folder))
    assert sorted(p.name for p in folder.rglob("*")) == before


def test_no_passphrase_is_refused_in_one_line_and_writes_nothing(cli, folder, monkeypatch):
    monkeypatch.delenv(PASSPHRASE_KEY)
    one_line_error(*cli("keys", "create"), PASSPHRASE_KEY)
    assert not folder.exists()


def test_a_wrong_passphrase_is_refused_in_one_line(cli, folder, monkeypatch):
    assert cli("keys", "create")[0] == 0
    monkeypatch.setenv(PASSPHRASE_KEY, "not it")
    one_line_error(*cli("keys", "rotate"), "does not open", str(folder))
    assert len(SigningKeys(folder).list()) == 3


def test_no_keys_is_refused_in_one_line(cli, folder):
    one_line_error(*cli("keys", "list"), "no signing keys", "keys create")
    one_line_error(*cli("keys", "rotate"), "no signing keys")


def test_a_bad_country_is_refused_in_one_line(cli, folder):
    one_line_error(*cli("keys", "create", "--country", "Viet Nam"), "country")
    assert not folder.exists()


def test_the_demo_makes_keys_once_with_a_passphrase_kept_in_the_secrets_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEYS_DIR_KEY, str(tmp_path / "signing"))
    monkeypatch.setenv(SECRETS_KEY, str(tmp_path / "secrets"))
    monkeypatch.delenv(PASSPHRASE_KEY)
    demo_signing_keys(Settings())
    passphrase_file = tmp_path / "secrets" / "demo-signing-passphrase.key"
    assert stat.S_IMODE(passphrase_file.stat().st_mode) == 0o600
    passphrase = os.environ[PASSPHRASE_KEY]  # handed to the workers that sign
    assert passphrase == passphrase_file.read_text().strip()
    keys = SigningKeys(tmp_path / "signing", passphrase)
    made = keys.list()
    assert keys.dcc_signer() is not None and len(made) == 3
    out = capsys.readouterr().out
    assert passphrase not in out and str(tmp_path / "signing") in out

    monkeypatch.delenv(PASSPHRASE_KEY)
    demo_signing_keys(Settings())  # a second demo start: the same keys
    assert os.environ[PASSPHRASE_KEY] == passphrase
    assert SigningKeys(tmp_path / "signing", passphrase).list() == made


def test_the_demo_uses_a_passphrase_given_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv(KEYS_DIR_KEY, str(tmp_path / "signing"))
    monkeypatch.setenv(SECRETS_KEY, str(tmp_path / "secrets"))
    monkeypatch.setenv(PASSPHRASE_KEY, PASSPHRASE)
    demo_signing_keys(Settings())
    assert SigningKeys(tmp_path / "signing", PASSPHRASE).dcc_signer() is not None
    assert not (tmp_path / "secrets" / "demo-signing-passphrase.key").exists()
