"""One parametrised store fixture: every behaviour runs on SQLite and on PostgreSQL.

SQLite: a temporary file per test. PostgreSQL: a fresh database per test run on the local
server (DOSELEDGER_TEST_POSTGRES, default postgresql://postgres@127.0.0.1:5432/postgres),
a fresh schema per test, the database dropped at the end. PostgreSQL being down is an error,
never a skip.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ledger.chain import use_chain_key
from signing.keys import KeysExist, SigningKeys
from store.secrets import Secrets
from usecases.application import DoseLedger
from usecases.chain_key import CHAIN_KEY

# The read side's fixtures (projector, views) and the browser tests' (tests/browser.py), for any
# test that names them as parameters.
pytest_plugins = ["tests.readside", "tests.issuing", "tests.browser"]

# Shared assertion modules: their failures show the values compared, as a test module's do.
pytest.register_assert_rewrite("tests.readside", "tests.stored_rows", "tests.issuing", "tests.browser")

# The run's secrets (keyed ids, chain, data keys) live in a folder of its own, never the user's:
# subprocesses the tests start inherit it.
os.environ.setdefault("DOSELEDGER_SECRETS_DIR", tempfile.mkdtemp(prefix="doseledger-secrets-"))
# Nor the user's anchor folder; a test that anchors a store gives it a folder of its own.
os.environ.setdefault("DOSELEDGER_ANCHOR_DIR", tempfile.mkdtemp(prefix="doseledger-anchors-"))
# The run's certificate signing keys, made once before any test: every test process that signs
# (subprocesses inherit the folder and the passphrase) finds a current DSC and SHC key. A test
# that rotates keys or needs none gives itself a folder of its own.
os.environ.setdefault(
    "DOSELEDGER_SIGNING_KEYS_DIR", os.path.join(tempfile.mkdtemp(prefix="doseledger-signing-"), "keys")
)
os.environ.setdefault("DOSELEDGER_SIGNING_PASSPHRASE", secrets.token_urlsafe(24))
if not SigningKeys.from_env().exists():
    try:
        SigningKeys.from_env().create()
    except KeysExist:
        pass  # another process of this run made them first: they are the run's keys
# Aggregates made without a ledger (domain tests) chain with the run's secret too.
use_chain_key(Secrets.from_env().key(CHAIN_KEY, create=True))

ADMIN_URL = os.environ.get("DOSELEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
STORES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of its own for this test run; yields its URL without a schema."""
    name = f"doseledger_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:  # pragma: no cover - the environment, not the code
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {e}. Start it; tests never skip it.")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of an empty store of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return _new_schema(request.getfixturevalue("postgres_database"))


@pytest.fixture
def another_store_url(store_url: str, tmp_path) -> str:
    """A second empty store of the same kind as `store_url`."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/another.db"
    return _new_schema(store_url.split("?schema=")[0])


def _new_schema(database: str) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{database}?schema={schema}"


@pytest.fixture
def ledger(store_url: str) -> Iterator[DoseLedger]:
    app = DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url})
    yield app
    app.close()


@pytest.fixture
def rows(store_url: str) -> Iterator[Any]:
    """The store's rows as SQL sees them, to tamper with as an attacker holding the database would."""
    from tests.stored_rows import StoredRows  # after its assertions are registered for rewriting

    stored = StoredRows(store_url)
    yield stored
    stored.close()


@pytest.fixture
def cli(store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """`doseledger ARGS...` on this test's store, in process: (exit code, stdout, stderr)."""
    from cli.main import main

    monkeypatch.setenv("DOSELEDGER_DATABASE_URL", store_url)
    monkeypatch.setenv("COLUMNS", "250")  # rich's tables unwrapped

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
