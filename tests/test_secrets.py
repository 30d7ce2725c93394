"""The deployment's secrets: made once, kept apart, never silently replaced."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from store.secrets import KEY_BYTES, MissingSecret, Secrets, secrets_directory


def test_a_key_is_made_on_first_use_readable_by_its_owner_only(tmp_path):
    secrets = Secrets(tmp_path / "secrets")
    key = secrets.key("ids", create=True)
    assert len(key) == KEY_BYTES
    mode = stat.S_IMODE(secrets.path("ids").stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert Secrets(tmp_path / "secrets").key("ids") == key  # another process reads the same


def test_a_missing_key_is_an_error_naming_the_file_not_a_new_key(tmp_path):
    with pytest.raises(MissingSecret, match="'ids.key' is missing from") as raised:
        Secrets(tmp_path).key("ids")
    assert not raised.value.path.exists()


def test_processes_making_the_same_key_at_once_agree(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: Secrets(tmp_path).key("chain", create=True), range(32)))
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["chain.key"]


def test_the_folder_comes_from_the_environment(tmp_path):
    assert secrets_directory({"DOSELEDGER_SECRETS_DIR": str(tmp_path)}) == tmp_path
