"""The read side served from a streaming standby (DOSELEDGER_READ_DATABASE_URL).

`standby`: a hot standby of the test server on DOSELEDGER_TEST_STANDBY_PORT (default 5433),
built with deploy/replica if none is up (and removed at the session's end if built here), so a
fresh machine (root, Debian's PostgreSQL) and CI need nothing prepared.

`store_url` is parametrised here over three stores: SQLite and PostgreSQL read from the store
itself (the read URL equal to the write URL), and PostgreSQL read from the standby; `read_url`
is where that store's reads go.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from config.settings import Settings
from projections.running import start_embedded
from tests.api.conftest import Service
from tests.conftest import ADMIN_URL, _new_schema
from tests.readside import FAST
from usecases.application import DoseLedger

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "replica"
STANDBY_PORT = int(os.environ.get("DOSELEDGER_TEST_STANDBY_PORT", "5433"))


def _standby_state(port: int) -> bool | None:
    """True: a standby answers on `port`; False: a server that is not one; None: nothing."""
    try:
        with psycopg.connect(**_admin(port), connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            return bool(row and row[0])
    except psycopg.OperationalError:
        return None


def _admin(port: int) -> dict[str, Any]:
    """psycopg's keywords for the `postgres` database of the server on `port`."""
    parts = urlsplit(ADMIN_URL)
    return {"host": parts.hostname, "port": port, "user": parts.username or "postgres", "dbname": "postgres"}


def resume_replay(port: int) -> None:
    """Replay resumed on the standby on `port` (nothing when it is not paused).

    A replay pause outlives the session that asked for it: on a fresh connection, so that a
    test whose own connection died still leaves the standby replaying."""
    with psycopg.connect(**_admin(port), connect_timeout=3, autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_resume()")


@contextmanager
def replay_paused(read_url: str) -> Iterator[None]:
    """The standby's replay paused meanwhile (the standby is shared: resumed in any case)."""
    port = urlsplit(read_url.split("?")[0]).port or 5432
    with psycopg.connect(**_admin(port), autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:  # never leave the standby paused: every later read would wait
        resume_replay(port)


def _cluster_exists(port: int) -> bool:
    """Whether deploy/replica's cluster for the standby on `port` exists (up or down)."""
    found = subprocess.run([str(DEPLOY), "status", "--port", str(port)], capture_output=True, text=True)
    return found.returncode == 0


@pytest.fixture(scope="session")
def standby() -> Iterator[int]:
    """The standby's port, once it streams from the test server, its replay not paused.

    Built with deploy/replica if there is none, and then removed at the session's end; one
    found is never removed. One left behind by an earlier run is repaired: down or half-made
    (deploy/replica create starts it and waits until it streams), paused (resumed here: a run
    killed inside a test that paused replay left it so)."""
    state = _standby_state(STANDBY_PORT)
    if state is False:
        pytest.fail(
            f"port {STANDBY_PORT} has a PostgreSQL that is not a standby: set DOSELEDGER_TEST_STANDBY_PORT"
        )
    built = state is None and not _cluster_exists(STANDBY_PORT)
    if state is None:
        primary_port = urlsplit(ADMIN_URL).port or 5432
        subprocess.run(
            [str(DEPLOY), "create", "--port", str(STANDBY_PORT), "--primary-port", str(primary_port)],
            check=True,
        )
    resume_replay(STANDBY_PORT)
    yield STANDBY_PORT
    if built:
        subprocess.run([str(DEPLOY), "remove", "--port", str(STANDBY_PORT)], check=True)


def on_standby(url: str, port: int) -> str:
    """The same database and schema, on the standby."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def standby_caught_up(write_url: str, read_url: str, timeout: float = 30) -> None:
    """Wait until the standby has replayed everything the primary had written when asked (the
    tables a test's store has just created, before anything reads them there)."""
    if read_url == write_url:
        return
    base = write_url.split("?")[0]
    with psycopg.connect(base, autocommit=True) as primary:
        head = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
    deadline = time.monotonic() + timeout
    with psycopg.connect(read_url.split("?")[0], autocommit=True) as standby:
        while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (head,)).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the standby did not replay the test's tables"
            time.sleep(0.02)


@pytest.fixture(params=("sqlite", "postgresql", "postgresql-standby"))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return _new_schema(request.getfixturevalue("postgres_database"))


@pytest.fixture
def read_url(request: pytest.FixtureRequest, store_url: str) -> str:
    """Where the store's reads go: the standby, or the store itself (the read URL equal to the
    write URL, which SQLite accepts too)."""
    if request.node.callspec.params["store_url"] == "postgresql-standby":
        return on_standby(store_url, request.getfixturevalue("standby"))
    return store_url


@pytest.fixture
def standby_url(standby: int, postgres_database: str) -> tuple[str, str]:
    """(write URL, read URL) of a new PostgreSQL store whose reads go to the standby."""
    write = _new_schema(postgres_database)
    return write, on_standby(write, standby)


def serve(write_url: str, read_url: str, ledger: DoseLedger, **settings: Any) -> Iterator[Service]:
    """The API with its reads on `read_url` (the views opened from the settings, as in
    production) and an embedded projector on the primary."""
    projector = start_embedded(write_url, **FAST)
    try:
        config = Settings(database_url=write_url, read_database_url=read_url, **settings)
        with TestClient(create_app(config, ledger=ledger), raise_server_exceptions=False) as client:
            standby_caught_up(write_url, read_url)
            yield Service(client.app, client, ledger)  # type: ignore[arg-type]
    finally:
        projector.stop()


@pytest.fixture
def service(ledger: DoseLedger, store_url: str, read_url: str) -> Iterator[Service]:
    yield from serve(store_url, read_url, ledger, read_wait_seconds=5)
